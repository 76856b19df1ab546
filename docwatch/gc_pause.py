"""The cyclic garbage collector held off while one document is extracted.

Extraction allocates hundreds of thousands of short-lived containers (tokens, cells, blocks,
rules) and almost no reference cycles, so the collector's passes over them find little: on the
corpus they were a fifth of extraction time. Reference counting still frees everything as
usual; what cycles there are wait for the next collection after the document. Re-entrant and
safe across threads: only the call that turned the collector off turns it back on.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused_gc() -> Iterator[None]:
    was_on = gc.isenabled()
    if was_on:
        gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
