"""One registry style for everything the library looks up by name (timm's: plain factory functions
registered by a decorator). ``BACKBONES``, ``METHODS`` and ``DATASETS`` are instances."""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from ssfer_core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> definition. A second definition under one name is an error (two files would
    otherwise silently fight over it); ``registry[name]`` names the known ones when it fails."""

    def __init__(self, kind: str, key: str):
        self.kind, self.key, self._items = kind, key, {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def remove(self, name: str) -> None:
        """For tests and lessons that register a definition of their own and then clean up."""
        del self._items[name]

    def __getitem__(self, name: str) -> T:
        if name not in self._items:
            raise ConfigError(f"{self.key}={name!r} is not allowed: expected one of: {', '.join(self)}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self):
        return self._items.items()
