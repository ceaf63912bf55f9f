"""One function per DVC stage: ``build(study)`` writes the stage's files and returns what its
notebook shows. Notebooks are a parameters cell plus these calls and displays."""
