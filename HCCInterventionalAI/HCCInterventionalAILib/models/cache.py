"""An LRU cache of loaded models, so repeated calls (e.g. segmenting several patients) load a network once.

Keys are ``(card id, version, device, file checksums, cache folder)``; the size is configurable with
``HCCAI_MODEL_CACHE_SIZE`` (default 2) or :func:`set_model_cache_size`. Evicting a model drops the cache's
reference to it; GPU memory is returned once no caller holds the model any more.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["CACHE_SIZE_ENV_VAR", "LRUCache", "clear_model_cache", "model_cache", "set_model_cache_size"]

#: Environment variable setting how many loaded models are kept.
CACHE_SIZE_ENV_VAR = "HCCAI_MODEL_CACHE_SIZE"
V = TypeVar("V")


class LRUCache(Generic[V]):
    """A thread-safe least-recently-used cache whose values are built on demand.

    Args:
        maxsize: number of values kept; 0 disables caching.
    """

    def __init__(self, maxsize: int = 2) -> None:
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.RLock()
        self._maxsize = 0
        self.maxsize = maxsize

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, value: int) -> None:
        if int(value) < 0:
            raise ValueError(f"Cache size must be 0 or more, got {value}")
        with self._lock:
            self._maxsize = int(value)
            self._evict()

    def _evict(self) -> None:
        while len(self._items) > self._maxsize:
            self._items.popitem(last=False)

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value for ``key``, or ``load()``'s result (then cached, evicting the oldest)."""
        with self._lock:  # held while loading, so two threads never load the same model twice
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = load()
            if self._maxsize:
                self._items[key] = value
                self._evict()
            return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _size_from_environment() -> int:
    text = os.environ.get(CACHE_SIZE_ENV_VAR, "2")
    try:
        return max(int(text), 0)
    except ValueError:
        return 2


_MODEL_CACHE: LRUCache = LRUCache(_size_from_environment())


def model_cache() -> LRUCache:
    """The process-wide cache used by :func:`~.loading.load_model`."""
    return _MODEL_CACHE


def set_model_cache_size(size: int) -> None:
    """Keep at most ``size`` loaded models (0: none), evicting the least recently used."""
    _MODEL_CACHE.maxsize = size


def clear_model_cache() -> None:
    """Forget every loaded model (e.g. to free GPU memory)."""
    _MODEL_CACHE.clear()
