"""Host, address, tag and port matching shared by ``query --host``, ``drift`` and ``parity``.

A rule's party is written as the page writes it: ``login.example.com``, ``*.blob.core.windows.net``,
``https://host/path``, ``<storage>.blob.core.windows.net``, ``Storage.<region>``, ``10.0.0.0/8``.
Matching works label by label from the right so that a wildcard or a ``<placeholder>`` stands for
the label(s) the reader fills in, never for an arbitrary substring.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import re

from docwatch.normalize_values import _PLACEHOLDER  # the one placeholder notation of the normalizer

# a placeholder naming the region: <region>, <Region>, <region-name>, <your region>, {location} ...
# (not a region *pair*, which is another region than the reader's)
REGION_PLACEHOLDER = re.compile(
    r"<(?![^<>]*pair)[^<>]*(?:region|location)[^<>]*>|\{(?![^{}]*pair)[^{}]*(?:region|location)[^{}]*\}"
    r"|\$\{?(?:region|location)\}?", re.I)
HOST_KINDS = ("fqdn", "wildcard", "url", "template")


def host_of(endpoint: str) -> str:
    """The host of an endpoint as written: scheme, path and port stripped, lower-cased."""
    s = re.sub(r"^[a-z][a-z0-9+.-]*://", "", endpoint.strip(), flags=re.I)
    s = s.split("/", 1)[0]
    s = re.sub(r":(\d{1,5}|\*)$", "", s)
    return s.rstrip(".").lower()


def url_scheme(endpoint: str) -> str | None:
    m = re.match(r"^(https?)://", endpoint.strip(), re.I)
    return m.group(1).lower() if m else None


def has_placeholder(text: str | None) -> bool:
    return bool(text and _PLACEHOLDER.search(text))


def is_placeholder_label(label: str) -> bool:
    return bool(_PLACEHOLDER.fullmatch(label))


def resolve_region(text: str, region: str, *, tag: bool = False) -> str:
    """``<region>`` → ``eastus`` in a host; in a tag the region is kept as given (``Storage.EastUS``)."""
    return REGION_PLACEHOLDER.sub(region if tag else region.lower().replace(" ", ""), text)


def labels(host: str) -> list[str]:
    # protect placeholders that contain dots or spaces before splitting
    marks: list[str] = []

    def keep(m: re.Match) -> str:
        marks.append(m.group(0))
        return f"\0{len(marks) - 1}\0"

    s = _PLACEHOLDER.sub(keep, host)
    return [re.sub(r"\0(\d+)\0", lambda m: marks[int(m.group(1))], part) for part in s.split(".")]


def pattern_covers(pattern: str, wanted: str) -> bool:
    """Does host ``pattern`` (as a firewall or a page writes it) allow everything ``wanted`` names?

    ``*`` alone covers everything. A leftmost ``*`` label covers one or more labels; a label with
    a ``*`` inside (``*pytorch.org``'s ``*pytorch``) matches like a shell glob within the label.
    A ``<placeholder>`` label in ``wanted`` is covered by any concrete label (the reader filled it
    in); one in ``pattern`` covers any single label of ``wanted``. A ``*`` label in ``wanted`` is
    only covered by a ``*`` label in ``pattern``.
    """
    p, w = host_of(pattern), host_of(wanted)
    if p == "*":
        return True
    pl, wl = labels(p), labels(w)
    while pl:
        lab = pl.pop()
        if not pl and lab == "*":  # leftmost "*": one or more labels
            return bool(wl)
        if not wl:
            return False
        got = wl.pop()
        if lab == got or is_placeholder_label(lab) or (is_placeholder_label(got) and "*" not in lab):
            continue
        if "*" in lab and "*" not in got and not is_placeholder_label(got) and fnmatch.fnmatchcase(got, lab):
            continue
        return False
    return not wl


def ip_net(text: str | None):
    """An ``ip_network`` for an IP, CIDR or ``*`` (any address); ``None`` otherwise."""
    if not text:
        return None
    t = text.strip()
    if t in ("*", "any", "Any", "0.0.0.0/0", "Internet"):
        return ipaddress.ip_network("0.0.0.0/0")
    try:
        return ipaddress.ip_network(t, strict=False)
    except ValueError:
        return None


def ip_range_nets(text: str) -> list:
    """``a-b`` → the CIDRs that make up the range (``[]`` when it is not a range)."""
    m = re.fullmatch(r"\s*([0-9a-fA-F.:]+)\s*-\s*([0-9a-fA-F.:]+)\s*", text or "")
    if not m:
        return []
    try:
        lo, hi = ipaddress.ip_address(m.group(1)), ipaddress.ip_address(m.group(2))
        return list(ipaddress.summarize_address_range(lo, hi))
    except (ValueError, TypeError):
        return []


def nets_of(text: str | None) -> list:
    """An IP, CIDR, ``*`` or ``a-b`` range as a list of networks (``[]`` when it is none of them)."""
    n = ip_net(text)
    return [n] if n else ip_range_nets(text or "")


def address_covers(pattern: str, wanted: str) -> bool:
    """CIDR containment: ``10.0.0.0/8`` covers ``10.1.2.3``, ``10.1.0.0/16`` and ``10.0.0.1-10.0.0.9``."""
    outers, inner = nets_of(pattern), nets_of(wanted)
    if not outers or not inner:
        return False
    return all(any(i.version == o.version and i.subnet_of(o) for o in outers) for i in inner)


def tag_base(tag: str) -> str:
    return tag.split(".", 1)[0].lower()


def tag_covers(pattern: str, wanted: str) -> bool:
    """Service tags: ``Storage`` covers ``Storage``, ``Storage.<region>`` and ``Storage.EastUS``;
    ``Storage.EastUS`` covers ``Storage.EastUS`` and the template ``Storage.<region>`` (the
    reader's region)."""
    p, w = pattern.strip().lower(), wanted.strip().lower()
    if p == w:
        return True
    if tag_base(p) != tag_base(w):
        return False
    if "." not in p:
        return True
    return "." in w and has_placeholder(w.split(".", 1)[1])


def tag_matches_query(tag: str | None, wanted: str) -> bool:
    """``--tag Storage`` finds ``Storage``, ``Storage.<region>`` and ``Storage.EastUS``;
    ``--tag Storage.EastUS`` finds that tag and ``Storage.<region>``."""
    return bool(tag) and (tag_covers(wanted, tag) or tag_covers(tag, wanted))


# ---------------------------------------------------------------- ports

def port_span(port: str) -> tuple[int, int] | None:
    p = str(port).strip()
    if p in ("*", "any", "Any"):
        return (0, 65535)
    m = re.fullmatch(r"(\d{1,5})\s*-\s*(\d{1,5})", p)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    return (int(p), int(p)) if p.isdigit() else None


def ports_cover(have: list[str], want: str) -> bool:
    """Is port (or range) ``want`` inside the union of ``have``? ``*`` wants everything."""
    w = port_span(want)
    if w is None:
        return False
    spans = sorted(s for s in (port_span(h) for h in have) if s)
    lo = w[0]
    for a, b in spans:
        if a <= lo <= b:
            lo = b + 1
            if lo > w[1]:
                return True
    return False


def ports_uncovered(have: list[str], want: str) -> list[str]:
    """The parts of port (or range) ``want`` outside ``have``: ``5671-5672`` less ``5671`` → ``5672``."""
    w = port_span(want)
    if w is None:
        return [want]
    out, lo = [], w[0]
    for a, b in sorted(s for s in (port_span(h) for h in have) if s):
        if b < lo or a > w[1]:
            continue
        if a > lo:
            out.append((lo, a - 1))
        lo = max(lo, b + 1)
    if lo <= w[1]:
        out.append((lo, w[1]))
    if out == [w] and want.strip() == "*":
        return ["*"]
    return [str(a) if a == b else f"{a}-{b}" for a, b in out]
