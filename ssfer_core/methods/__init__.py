"""Methods, registered by name (``METHODS``; see ``registry.py``). Importing the package imports
every module in it, so each method file registers itself: adding a method is one new file."""
from __future__ import annotations

import importlib
import pkgutil

from ssfer_core.methods.base import RunContext, SSLMethod
from ssfer_core.methods.registry import METHODS, MethodDef, register_method

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["METHODS", "MethodDef", "RunContext", "SSLMethod", "register_method"]
