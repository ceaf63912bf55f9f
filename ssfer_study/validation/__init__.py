"""The validation sweeps that choose the study's defaults (step sizes, budget) on the validation
split."""
