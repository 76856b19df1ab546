"""Known Azure service-tag names, shipped as package data (``docwatch/data/service_tag_names.txt``).

A word in free text is a service tag only when it stands in a tag column or is one of these
names (optionally with a ``.Region`` / ``.<region>`` suffix): "MySQL" or "ControlPlaneUri" in
a sentence are not tags. The list is the set of base names (the part before the first dot)
found in the weekly "Azure IP Ranges and Service Tags" files, plus the virtual tags that the
files do not list because they have no published prefixes (``VirtualNetwork``, ``Internet``,
``AzureLoadBalancer``).

Refresh it from newer weekly files with::

    python -m docwatch.tagnames ServiceTags_Public_*.json[.gz] ServiceTags_AzureGovernment_*.json[.gz] ...
"""
from __future__ import annotations

import gzip
import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

from docwatch.memo import memo

DATA_FILE = "service_tag_names.txt"
VIRTUAL_TAGS = ("VirtualNetwork", "Internet", "AzureLoadBalancer")


@lru_cache(maxsize=1)
def known_tag_names() -> dict[str, str]:
    """Lower-case base name → canonical spelling."""
    text = resources.files("docwatch.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return {n.lower(): n for n in (*names, *VIRTUAL_TAGS)}


@memo
def canonical_tag(token: str) -> str | None:
    """``token`` spelled as the known tag it names (``storage.EastUS`` → ``Storage.EastUS``,
    ``AzureCloud.<region>`` kept), or ``None`` when its base is not a known tag name."""
    base, dot, rest = token.strip().partition(".")
    name = known_tag_names().get(base.lower())
    if name is None:
        return None
    return name + (dot + rest if rest else "")


def is_known_tag(token: str) -> bool:
    return canonical_tag(token) is not None


def names_from_files(paths: list[Path]) -> list[str]:
    """Base tag names in the given weekly Service Tags files (``.json`` or ``.json.gz``)."""
    names: set[str] = set()
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8-sig") as fh:
            data = json.load(fh)
        names.update(v["name"].split(".")[0] for v in data.get("values", []) if v.get("name"))
    return sorted(names - set(VIRTUAL_TAGS), key=str.lower)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    target = Path(__file__).with_name("data") / DATA_FILE
    names = sorted(set(names_from_files([Path(a) for a in argv])) | set(known_tag_names().values()) - set(VIRTUAL_TAGS),
                   key=str.lower)
    target.write_text("# Azure service-tag base names (python -m docwatch.tagnames FILES to refresh)\n"
                      + "\n".join(names) + "\n", encoding="utf-8")
    print(f"{target}: {len(names)} names")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
