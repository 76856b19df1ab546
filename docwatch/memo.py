"""Bounded memos for the pure string readers extraction calls many times per page.

A page names the same host, tag or heading in its tables, its prose and its coverage pass, so
``endpoint_kind("login.microsoftonline.com")`` is asked a dozen times per page; each memoized
function is pure (a string in, an immutable value out). :func:`clear` empties every memo:
``bench/bench_parsers.py`` calls it before each document, so its figures are those of a page
seen for the first time.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)
_MEMOS: list = []


def memo(fn: F) -> F:
    """``fn`` memoized (bounded LRU); ``fn`` must be pure and return an immutable value."""
    cached = lru_cache(maxsize=8192)(fn)
    _MEMOS.append(cached)
    return cached  # type: ignore[return-value]


def clear() -> None:
    """Forget every memoized result."""
    for cached in _MEMOS:
        cached.cache_clear()
