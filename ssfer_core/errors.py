"""The library's two expected failures; the CLI prints their one-line messages (exit 2 and 3)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that cannot be used: unknown key, wrong type or unknown choice.
    The message is one line naming the key, the value and what is allowed."""


class DatasetError(ValueError):
    """Bad dataset input; the message names the file and how to fix it."""
