"""docwatch: tells network engineers when Microsoft changes the endpoints an Azure service needs."""
import sys as _sys
import types as _types

__version__ = "0.1.0"


def httpx_without_its_cli() -> None:
    """``import httpx`` also imports its command line (``httpx._main``: rich, pygments, click), a
    tenth of a second of every ``docwatch scrape`` for a ``main`` docwatch never calls. A stand-in
    ``httpx._main`` whose ``main`` imports the real one when called keeps ``httpx.main`` working.
    Every docwatch module that imports httpx calls this just before."""
    if "httpx" in _sys.modules or "httpx._main" in _sys.modules:
        return
    stub = _types.ModuleType("httpx._main", "stand-in: the real module is imported when main() is called")

    def main(*args, **kwargs):
        import importlib

        if _sys.modules.get("httpx._main") is stub:
            del _sys.modules["httpx._main"]
        return importlib.import_module("httpx._main").main(*args, **kwargs)

    stub.main = main
    _sys.modules["httpx._main"] = stub

