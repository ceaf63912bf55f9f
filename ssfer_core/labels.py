"""Canonical expression label order shared by every reader, model and report.

RAF-DB's seven basic classes, 0-based, in RAF-DB's own order; contempt is appended as 7 for the
datasets that have it (FERPlus, AffectNet-8, SynthFACS with ``num_classes=8``).
"""
from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral", "contempt",
)
NEUTRAL = 6
CONTEMPT = 7

# Words people use for each class in folder names and prompts -> canonical id.
SYNONYMS: dict[str, int] = {
    "surprise": 0, "surprised": 0, "fear": 1, "fearful": 1, "afraid": 1, "scared": 1,
    "disgust": 2, "disgusted": 2, "happiness": 3, "happy": 3, "joy": 3,
    "sadness": 4, "sad": 4, "anger": 5, "angry": 5, "neutral": 6, "calm": 6,
    "contempt": 7, "contemptuous": 7,
}

# The short adjective used in the SIT-FER prompt "A face image of {expression}".
PROMPT_WORDS: tuple[str, ...] = (
    "surprise", "fear", "disgust", "happy", "sad", "angry", "neutral", "contempt",
)


def class_names(num_classes: int) -> list[str]:
    if num_classes not in (7, 8):
        raise ValueError(f"num_classes must be 7 or 8, got {num_classes}")
    return list(CLASS_NAMES[:num_classes])


def class_id(name: str) -> int:
    """Map a class name (any common spelling, any case) to its canonical id."""
    key = name.strip().lower().replace("_", " ")
    if key not in SYNONYMS:
        known = ", ".join(sorted(set(SYNONYMS)))
        raise ValueError(f"unknown expression class name {name!r}; known names: {known}")
    return SYNONYMS[key]
