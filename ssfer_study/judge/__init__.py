"""The realism judge: a classifier trained on real faces (FER2013) that reads SynthFACS, its weights
and the report of its verdict."""
