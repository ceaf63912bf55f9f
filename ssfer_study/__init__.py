"""The study layer, on top of the library (``ssfer_core`` never imports it), in folders by job:
``study.py`` (a profile as a typed :class:`~ssfer_study.study.Study`), ``cli.py`` (the one command
line), ``pipeline/`` (the train stage, deps, compare), ``stages/`` (one function per DVC stage, with
the tables, statistics, plots and captions of the report), ``lessons/``, ``judge/`` (the real-face
judge of SynthFACS) and ``validation/`` (the sweeps that choose the defaults). Notebooks call it."""
