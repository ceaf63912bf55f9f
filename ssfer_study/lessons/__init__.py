"""The lessons (``notebooks/lessons/``): the kit their cells call, the runner that executes them all
and the pages written from their answers."""
