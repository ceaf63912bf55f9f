"""Datasets: the SynthFACS generator, real-dataset readers, splits and augmented views."""
