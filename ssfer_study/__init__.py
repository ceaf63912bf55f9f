"""The study layer, on top of the library (``ssfer_core`` never imports it): profiles as a typed
:class:`~ssfer_study.study.Study`, one function per DVC stage (``stages/``), tables, plots, feature
analyses, the real-face judge of SynthFACS, the report and the command line. Notebooks call it."""
