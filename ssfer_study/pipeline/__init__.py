"""The pipeline: a profile's runs trained by the `train` stage (which runs are already trained,
which to copy, which to train), each stage's code dependencies, and a study's metrics compared
against the committed ones."""
