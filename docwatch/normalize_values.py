"""Cell-level readers for :mod:`docwatch.normalize`: ports, protocols, hosts, tags, clouds, directions.

Each function reads one literal string as Microsoft Learn writes it and returns the
normalized fact (or ``None``/empty when the text says nothing). They never raise.
"""
from __future__ import annotations

import re

from parsers.model import clean_text

# ---------------------------------------------------------------- ports / protocols

_PROTO_WORDS = {
    "tcp": "tcp", "udp": "udp", "any": "any", "all": "any", "*": "any",
    "tcp/udp": "any", "udp/tcp": "any", "tcp and udp": "any", "tcp & udp": "any", "tcp, udp": "any",
    "http": "tcp", "https": "tcp", "http/https": "tcp", "http, https": "tcp", "https/http": "tcp",
    "amqp": "tcp", "smb": "tcp", "ntp": "udp", "dns": "any", "icmp": "icmp",
}
# "TCP: 80, 443", "UDP: 5831", "HTTPS:443", "ANY: 443", "TCP/UDP: 53"
_PROTO_PREFIX = re.compile(r"^\s*(tcp\s*/\s*udp|udp\s*/\s*tcp|tcp|udp|any|https?|all)\s*[:=]\s*", re.I)
_RANGE = re.compile(r"(\d{1,5})\s*(?:-|–|—|to|through)\s*(\d{1,5})")
_NUM = re.compile(r"(?<![\w.])(\d{1,5})(?![\w.])")
_ANY_PORT = re.compile(r"^\s*(\*|any|all)\s*$", re.I)


def parse_protocol(text: str | None) -> str | None:
    """Protocol column text → ``tcp``/``udp``/``any`` or ``None`` (unknown or empty)."""
    t = clean_text(text or "").lower().rstrip(".")
    if not t or t in ("-", "n/a", "na"):
        return None
    t = re.sub(r"\s*([/,&])\s*", r"\1", t)
    if t in _PROTO_WORDS:
        return _PROTO_WORDS[t]
    found = {p for w, p in (("tcp", "tcp"), ("udp", "udp"), ("http", "tcp"), ("any", "any")) if re.search(rf"\b{w}", t)}
    if "any" in found or {"tcp", "udp"} <= found:
        return "any"
    if len(found) == 1:
        return found.pop()
    return None


def port_sort_key(port: str) -> tuple[int, int, str]:
    """Numeric order; ``*`` first; ranges by their start."""
    if port == "*":
        return (-1, -1, port)
    m = re.match(r"(\d+)(?:-(\d+))?$", port)
    if not m:
        return (10**6, 0, port)
    return (int(m.group(1)), int(m.group(2) or m.group(1)), port)


def sort_ports(ports) -> list[str]:
    return sorted(set(ports), key=port_sort_key)


def ports_in(text: str) -> list[str]:
    """Ports in one fragment: ``443``, ``80,443``, ``6381 - 6383`` → ``6381-6383``, ``[80]``, ``Any``/``*`` → ``*``."""
    t = clean_text(text).replace("[", " ").replace("]", " ").replace("`", " ")
    if not t:
        return []
    if _ANY_PORT.match(t) or re.match(r"^\s*(\*|any)\b", t, re.I) and not re.search(r"\d", t):
        return ["*"]
    out: list[str] = []
    for m in _RANGE.finditer(t):
        a, b = int(m.group(1)), int(m.group(2))
        if 0 < a <= 65535 and 0 < b <= 65535 and a < b:
            out.append(f"{a}-{b}")
    t = _RANGE.sub(" ", t)
    for m in _NUM.finditer(t):
        n = int(m.group(1))
        if 0 < n <= 65535:
            out.append(str(n))
    return out


def parse_ports(items: list[str], *, source_dest: bool = False, default_protocol: str | None = None) -> dict[str | None, list[str]]:
    """A ports cell → ``{protocol: [ports]}``.

    ``source_dest``: the column holds ``source / destination`` ports; keep the destination side.
    Items may carry a protocol prefix (``UDP: 5831``); unprefixed items use ``default_protocol``
    or, when a sibling item names another protocol, ``tcp`` (``443<br>UDP: 5831``).
    """
    groups: dict[str | None, list[str]] = {}
    prefixed: list[tuple[str, str]] = []
    plain: list[str] = []
    for item in items:
        item = clean_text(item)
        if not item:
            continue
        if source_dest and "/" in item:
            item = item.rsplit("/", 1)[1]
        m = _PROTO_PREFIX.match(item)
        if m:
            prefixed.append((parse_protocol(m.group(1)) or "any", item[m.end():]))
        else:
            plain.append(item)
    for proto, rest in prefixed:
        groups.setdefault(proto, []).extend(ports_in(rest))
    plain_ports = [p for item in plain for p in ports_in(item)]
    if plain_ports:
        proto = default_protocol
        if proto is None and prefixed:
            named = {p for p, _ in prefixed}
            proto = "tcp" if named == {"udp"} else None
        groups.setdefault(proto, []).extend(plain_ports)
    return {k: sort_ports(v) for k, v in groups.items() if v}


# ---------------------------------------------------------------- hosts / tags

_PLACEHOLDER = re.compile(r"<[^<>]{1,60}>|\{[^{}]{1,60}\}")
_IPV4 = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}"
_IP_RE = re.compile(rf"^{_IPV4}$")
_CIDR_RE = re.compile(rf"^{_IPV4}/\d{{1,2}}$|^[0-9a-f:]+:[0-9a-f:]*/\d{{1,3}}$", re.I)
_IPV6_RE = re.compile(r"^(?=.*:.*:)[0-9a-f:]+$", re.I)
_LABEL = re.compile(r"^[a-z0-9_*](?:[a-z0-9_*-]*[a-z0-9_*])?$", re.I)
_TAG_RE = re.compile(r"^[A-Z][A-Za-z0-9]*(?:\.(?:[A-Za-z0-9]+|<[^<>]+>|\{[^{}]+\}))?$")
_CAMEL_RE = re.compile(r"^(?:[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Z][A-Za-z0-9]*\.(?:[A-Za-z0-9]+|<[^<>]+>))$")
_HOST_PORT = re.compile(r"^(?P<host>[^/:]+):(?P<port>\d{1,5})$")
_URL_PORT = re.compile(r"^[a-z][a-z0-9+.-]*://[^/:]+:(\d{1,5})(?:/|$)", re.I)
_TRAILING_JUNK = " \t.,;:)\"'"


def _strip_placeholders(s: str) -> str:
    return _PLACEHOLDER.sub("x", s)


def _is_hostname(host: str) -> bool:
    """A DNS-like name (placeholders and ``*`` allowed) with a dot and a plausible last label."""
    h = _strip_placeholders(host).rstrip(".")
    if "." not in h or h.startswith("-"):
        return False
    labels = h.split(".")
    if not all(lbl and _LABEL.match(lbl) for lbl in labels):
        return False
    last = labels[-1]
    return last == "x" or last == "*" or (len(last) >= 2 and re.fullmatch(r"[a-z*][a-z0-9*-]*", last, re.I) is not None)


def endpoint_kind(ep: str) -> str | None:
    """``template`` > ``url`` > ``wildcard`` > ``cidr`` > ``ip`` > ``fqdn``; ``None`` when not an endpoint."""
    s = ep.strip()
    if not s:
        return None
    if _CIDR_RE.match(s):
        return "cidr"
    if _IP_RE.match(s) or _IPV6_RE.match(s):
        return "ip"
    has_scheme = re.match(r"^[a-z][a-z0-9+.-]*://", s, re.I) is not None
    rest = re.sub(r"^[a-z][a-z0-9+.-]*://", "", s, flags=re.I)
    host, _, path = rest.partition("/")
    host = re.sub(r":\d{1,5}$", "", host)
    if not (_is_hostname(host) or _IP_RE.match(host)):
        return None
    if _PLACEHOLDER.search(s):
        return "template"
    if has_scheme or path:
        return "url"
    if "*" in host:
        return "wildcard"
    return "fqdn"


def is_tag(token: str) -> bool:
    """A service-tag-like identifier: ``AzureMonitor``, ``Storage.WestUS``, ``Storage.<region>``."""
    return bool(_TAG_RE.match(token)) and not _IP_RE.match(token)


def split_endpoint_port(ep: str) -> tuple[str, list[str]]:
    """``host:443`` → (``host``, [``443``]); ``https://host:8084/`` keeps the URL and yields 8084."""
    m = _HOST_PORT.match(ep)
    if m and not _IPV6_RE.match(ep):
        return m.group("host"), [str(int(m.group("port")))]
    m = _URL_PORT.match(ep)
    if m:
        return ep, [str(int(m.group(1)))]
    return ep, []


def _candidates(fragment: str) -> list[str]:
    """Split a piece of cell text into candidate tokens (commas, 'or'/'and', whitespace)."""
    out: list[str] = []
    for piece in re.split(r",|;|\s+(?:or|and)\s+", fragment):
        piece = re.sub(r"\([^)]*\)", " ", piece)  # "(NuGet Downloads)", "(Windows)"
        piece = piece.strip(_TRAILING_JUNK + " ")
        if not piece:
            continue
        # a placeholder may contain spaces: protect them before splitting on whitespace
        protected = _PLACEHOLDER.sub(lambda m: m.group(0).replace(" ", "\x00"), piece)
        for tok in protected.split():
            tok = tok.replace("\x00", " ").strip(_TRAILING_JUNK)
            if tok:
                out.append(tok)
    return out


def parties_in_cell(cell, *, footnotes: list[str] | None = None, want_tags: bool = True, want_hosts: bool = True) -> list[tuple[str, str]]:
    """Remote parties in a cell as ``(kind, value)``; kind is an endpoint kind or ``"tag"``.

    Code spans are authoritative when present (prose around them is ignored); otherwise
    every item is split on commas/``or``/whitespace and each token is classified.
    """
    foot = set(footnotes if footnotes is not None else getattr(cell, "footnotes", []) or [])
    code = [c for c in (getattr(cell, "code", None) or []) if c.strip()]
    raw: list[str] = []
    if code:
        for c in code:
            c = c.strip()
            if _PLACEHOLDER.search(c) or not re.search(r"[\s,]", c):
                raw.append(c)  # `<your ACR name>.azurecr.io` keeps its spaces
            else:
                raw.extend(p for p in re.split(r"[\s,]+", c) if p)
    else:
        items = list(getattr(cell, "items", None) or [])
        for item in items:
            item = _strip_footnotes(item, foot)
            raw.extend(_candidates(item))
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tok in raw:
        tok = _strip_footnotes(tok.strip().strip("`"), foot).strip(_TRAILING_JUNK)
        tok = tok.lstrip("\\")
        if not tok or tok.lower() in seen:
            continue
        kind = None
        if want_tags and is_tag(tok) and (code or _CAMEL_RE.match(tok)):
            kind = "tag"  # "AzureFrontDoor.FirstParty" is a tag, not a host: tags start upper-case
        elif want_hosts:
            kind = endpoint_kind(tok)
        if kind:
            seen.add(tok.lower())
            out.append((kind, tok))
    return out


def _strip_footnotes(text: str, foot: set[str]) -> str:
    for f in foot:
        if f and text.endswith(f) and len(text) > len(f):
            stripped = text[: -len(f)]
            # only a mark glued after a host/port or after a space, never digits of a number
            if not (f.isdigit() and stripped[-1:].isdigit()) or text.endswith(" " + f):
                text = stripped.rstrip()
    return text


def tag_in_text(text: str) -> str | None:
    """A service tag named in free text ("BatchNodeManagement.region service tag", "Internet")."""
    t = clean_text(re.sub(r"\bservice\s+tags?\b", " ", text, flags=re.I)).strip(_TRAILING_JUNK)
    if not t:
        return None
    if is_tag(t):
        return t
    words = t.split()
    if len(words) <= 3 and all(w[:1].isupper() for w in words) and not re.search(r"[.:;]", t):
        return t  # "Azure Event Hubs", "Virtual Network": a tag written with spaces
    for tok in _candidates(t):
        if _CAMEL_RE.match(tok):
            return tok
    return None


def is_virtual_network(tag: str | None) -> bool:
    return bool(tag) and re.sub(r"\s+", "", tag).lower() == "virtualnetwork"


# ---------------------------------------------------------------- clouds / directions

_CLOUD_PATTERNS = (
    ("usgov", re.compile(r"\b(us\s*gov(ernment)?|gov(ernment)?|fairfax|usgov\w*|dod)\b", re.I)),
    ("china", re.compile(r"\b(china|21\s*vianet|mooncake|azure-china|chinacloud)\b", re.I)),
    ("public", re.compile(r"\b(azure\s+(public|global|commercial|cloud)|public\s+cloud|global\s+azure|commercial)\b|^(azure\s+)?(public|global|commercial)$", re.I)),
)
_CLOUD_IDS = {
    "public": "public", "azure-public": "public", "azure-cloud": "public", "azurecloud": "public", "global": "public",
    "commercial": "public", "azure-global": "public", "azure-commercial": "public", "public-cloud": "public",
    "gov": "usgov", "usgov": "usgov", "azure-government": "usgov", "government": "usgov", "azure-gov": "usgov",
    "azure-us-government": "usgov", "us-gov": "usgov", "fairfax": "usgov", "azuregov": "usgov",
    "china": "china", "azure-china": "china", "mooncake": "china", "21vianet": "china", "azure-21vianet": "china",
    "azurechina": "china",
}


def cloud_of_label(label: str | None) -> str | None:
    """Cloud named by a tab label, column value or cell prefix; ``None`` unless exactly one cloud."""
    t = clean_text(label or "")
    if not t:
        return None
    found = {cloud for cloud, rx in _CLOUD_PATTERNS if rx.search(t)}
    return found.pop() if len(found) == 1 else None


def cloud_of_tab(label: str | None, tab_id: str | None) -> str | None:
    tid = (tab_id or "").split("/")[0].strip().lower()
    if tid in _CLOUD_IDS:
        return _CLOUD_IDS[tid]
    return cloud_of_label(label)


def cloud_of_heading(heading: str) -> str | None:
    """Only headings that name one specific cloud ("Azure US Government required rules")."""
    t = clean_text(heading)
    found = set()
    if re.search(r"\b(azure\s+)?(us\s+)?government\b|\busgov\b|\bfairfax\b", t, re.I):
        found.add("usgov")
    if re.search(r"\b(azure\s+)?china\b|21\s*vianet|mooncake", t, re.I):
        found.add("china")
    if re.search(r"\bazure\s+(public|global|commercial)\b|\bpublic\s+cloud\b", t, re.I):
        found.add("public")
    return found.pop() if len(found) == 1 else None


def direction_of(text: str | None) -> str | None:
    """``Inbound`` / ``Outbound`` / ``Inbound & Outbound`` / ``Both`` (and prose using those words)."""
    t = clean_text(text or "").lower()
    if not t:
        return None
    if re.fullmatch(r"both|bidirectional|bi-directional|any|inbound\s*(&|and|/|,)\s*outbound|outbound\s*(&|and|/|,)\s*inbound", t):
        return "both"
    inbound = re.search(r"\b(inbound|incoming|ingress)\b", t) is not None
    outbound = re.search(r"\b(outbound|outgoing|egress)\b", t) is not None
    if inbound and outbound:
        return "both"
    if inbound:
        return "inbound"
    if outbound:
        return "outbound"
    return None
