"""Cell-level readers for :mod:`docwatch.normalize`: ports, protocols, hosts, tags, clouds, directions.

Each function reads one literal string as Microsoft Learn writes it and returns the
normalized fact (or ``None``/empty when the text says nothing). They never raise.

Conventions chosen here (documented because pages are ambiguous):

* ``*`` as an *address* (``*:1194`` in AKS, ``\\*:123`` in App Service, ``Any`` in a
  Source/Destination column) means "any IP address": endpoint ``"*"``, kind ``"cidr"``
  (it is the range ``0.0.0.0/0``, not a DNS wildcard an FQDN rule could match).
* CamelCase address placeholders written in code or with a port (``APIServerPublicIP:443``,
  ``CustomDNSIP:53``, ``RegionCIDRs:1194``) are endpoints of kind ``"template"``, not tags.
* ``Tag:port`` (``AzureCloud.<Region>:1194``, ``ServiceTag - Storage:445``) is a service tag
  with a port; the literal words ``ServiceTag`` / ``Service tag`` are labels, never tags.
* ``https://host`` with no explicit port means port 443 (``http://`` 80), over TCP.
"""
from __future__ import annotations

import ipaddress
import re

from docwatch.memo import memo
from docwatch.tagnames import canonical_tag, is_known_tag
from parsers.model import clean_text


def _lower_pattern(pattern: str) -> str:
    """``pattern`` with its literal letters lower-cased (escapes such as ``\\S`` or ``\\B`` and
    group names ``(?P<Name>`` kept)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if pattern.startswith("(?P", i):
            end = pattern.find(">" if pattern.startswith("(?P<", i) else ")", i)
            out.append(pattern[i:end + 1])
            i = end + 1
            continue
        out.append(pattern[i].lower())
        i += 1
    return "".join(out)


# (text, text.lower()) of the ASCII text Folded.search last read (holding the text keeps ``is`` exact)
_LOWERED: tuple = (None, None)


class Folded:
    """A case-insensitive pattern, run as a case-sensitive one over the lower-cased text when the
    text is ASCII (what the pages are): ``re.I`` makes every character comparison 2-3 times
    dearer, and these patterns are searched in every sentence. Other text uses the ``re.I``
    pattern, so results never differ. Match positions are the text's own; group texts come back
    lower-cased (slice the text by the group's span for it as written), so it is for tests and
    positions, not for ``sub``."""

    __slots__ = ("pattern", "_ci", "_cs", "_needles")

    def __init__(self, pattern: str, flags: int = 0, needles: tuple[str, ...] = ()) -> None:
        """``needles``: lower-case strings at least one of which every match contains; text
        holding none of them is answered without running the pattern."""
        self.pattern = pattern
        self._ci = re.compile(pattern, flags | re.I)
        self._cs = re.compile(_lower_pattern(pattern), flags)
        self._needles = needles

    def _hopeless(self, low: str) -> bool:
        """No needle in the (lower-cased) text: the pattern cannot match it."""
        if not self._needles:
            return False
        for needle in self._needles:  # a plain loop: a generator costs more than the tests
            if needle in low:
                return False
        return True

    def search(self, text: str, *args: int):
        global _LOWERED
        last = _LOWERED  # (one read of one tuple: another thread's call never mixes two texts)
        if text is last[0]:  # the text the last call lower-cased: a sentence meets many patterns in turn
            low = last[1]
        elif not text.isascii():
            return self._ci.search(text, *args)
        else:
            low = text.lower()
            _LOWERED = (text, low)
        if self._needles:  # _hopeless, inlined: this runs for every pattern on every sentence
            for needle in self._needles:
                if needle in low:
                    break
            else:
                return None
        return self._cs.search(low, *args)

    def match(self, text: str, *args: int):
        return self._cs.match(text.lower(), *args) if text.isascii() else self._ci.match(text, *args)

    def fullmatch(self, text: str, *args: int):
        return self._cs.fullmatch(text.lower(), *args) if text.isascii() else self._ci.fullmatch(text, *args)

    def finditer(self, text: str, *args: int):
        if not text.isascii():
            return self._ci.finditer(text, *args)
        low = text.lower()
        return iter(()) if self._hopeless(low) else self._cs.finditer(low, *args)


# Under ``re.I`` these non-ASCII letters match ASCII ones (re module docs): text holding one of
# them may match a folded pattern without holding its needle, so it is never answered by one.
_FOLDS_TO_ASCII = ("\u0130", "\u0131", "\u017f", "\u212a")


class Gate:
    """A compiled pattern behind a substring test: most sentences hold none of the words a pattern
    needs, and ``needle in text`` runs at C speed where the engine tries the pattern at every
    character. Text holding no needle is answered as the pattern would answer it (no match);
    other text goes to the pattern itself, so groups, spans and ``sub`` are the pattern's own.

    ``needles``: strings one of which every match contains; lower-case and looked for in the
    lower-cased text when the pattern has ``re.I``. ``ascii_only``: the needles stand for a class
    that is wider beyond ASCII (``\\d`` and the ASCII digits), so only ASCII text is gated."""

    __slots__ = ("rx", "pattern", "flags", "_needles", "_fold", "_ascii_only")

    def __init__(self, rx: "re.Pattern[str] | str", needles: tuple[str, ...], *, flags: int = 0,
                 ascii_only: bool = False) -> None:
        self.rx = re.compile(rx, flags) if isinstance(rx, str) else rx
        self.pattern, self.flags = self.rx.pattern, self.rx.flags
        self._fold = bool(self.rx.flags & re.I)
        self._needles = tuple(n.lower() for n in needles) if self._fold else tuple(needles)
        self._ascii_only = ascii_only

    def _hopeless(self, text: str) -> bool:
        global _LOWERED
        if self._fold or self._ascii_only:
            if not text.isascii():
                if self._ascii_only:
                    return False
                for c in _FOLDS_TO_ASCII:
                    if c in text:
                        return False
                text = text.lower()  # (never cached: Folded reads a cached text as ASCII)
            elif self._fold:
                last = _LOWERED  # (shared with Folded: a sentence meets many patterns in turn)
                if text is last[0]:
                    text = last[1]
                else:
                    low = text.lower()
                    _LOWERED = (text, low)
                    text = low
        for needle in self._needles:
            if needle in text:
                return False
        return True

    def search(self, text: str, *args: int):
        return None if self._hopeless(text) else self.rx.search(text, *args)

    def match(self, text: str, *args: int):
        return None if self._hopeless(text) else self.rx.match(text, *args)

    def fullmatch(self, text: str, *args: int):
        return None if self._hopeless(text) else self.rx.fullmatch(text, *args)

    def finditer(self, text: str, *args: int):
        return iter(()) if self._hopeless(text) else self.rx.finditer(text, *args)

    def findall(self, text: str, *args: int):
        return [] if self._hopeless(text) else self.rx.findall(text, *args)

    def sub(self, repl, text: str, count: int = 0):
        return text if self._hopeless(text) else self.rx.sub(repl, text, count)

    def split(self, text: str, maxsplit: int = 0):
        return [text] if self._hopeless(text) else self.rx.split(text, maxsplit)


# ``\d``, answered without the engine for ASCII text holding no digit (most sentences)
DIGIT = Gate(r"\d", tuple("0123456789"), ascii_only=True)


# ---------------------------------------------------------------- ports / protocols

# "TCP/UDP", "TCP and UDP": both transports, read as a tcp rule and a udp rule (never as "any", which
# an NSG reads as every protocol, ICMP too); split where the page's rules are merged
TCP_AND_UDP = "tcp+udp"
_PROTO_WORDS = {
    "tcp": "tcp", "udp": "udp", "any": "any", "all": "any", "*": "any",
    "tcp/udp": TCP_AND_UDP, "udp/tcp": TCP_AND_UDP, "tcp and udp": TCP_AND_UDP, "tcp & udp": TCP_AND_UDP,
    "tcp, udp": TCP_AND_UDP, "udp and tcp": TCP_AND_UDP, "udp, tcp": TCP_AND_UDP, "udp & tcp": TCP_AND_UDP,
    "http": "tcp", "https": "tcp", "http/https": "tcp", "http, https": "tcp", "https/http": "tcp",
    "amqp": "tcp", "smb": "tcp", "ntp": "udp", "dns": "any", "icmp": "icmp",
    # application protocols whose transport is fixed: a "Protocol" cell often names them instead
    "amqps": "tcp", "ssh": "tcp", "sftp": "tcp", "ftp": "tcp", "ftps": "tcp", "rdp": "tcp",
    "ldap": "tcp", "ldaps": "tcp", "smtp": "tcp", "smtps": "tcp", "imap": "tcp", "winrm": "tcp",
    "mqtt": "tcp", "mqtts": "tcp", "wss": "tcp", "websocket": "tcp", "websockets": "tcp",
    "tls": "tcp", "tcp-tls": "tcp", "grpc": "tcp", "iscsi": "tcp", "kerberos": "any", "snmp": "udp", "dhcp": "udp",
    "tftp": "udp", "stun": "udp", "ike": "udp", "srtp": "udp", "rtp": "udp", "sips": "tcp", "bgp": "tcp", "bfd": "udp",
}
# "TCP: 80, 443", "UDP: 5831", "HTTPS:443", "ANY: 443", "TCP/UDP: 53"
_PROTO_PREFIX = re.compile(
    r"^\s*(tcp\s*(?:/|&|,|and)\s*udp|udp\s*(?:/|&|,|and)\s*tcp|tcp-tls|tcp|udp|any|https?|tls|all)\s*(?:[:=]\s*|/\s*(?=[\d*])|\s(?=\s*\d))", re.I)
# "443 (TCP)", "443 (HTTPS)", "443/TCP", "123 UDP": a protocol written after the port
_PROTO_SUFFIX = re.compile(r"\(\s*(tcp\s*/\s*udp|udp\s*/\s*tcp|tcp|udp|https?)\s*\)|"
                           r"(?<=\d)\s*[/ ]\s*(tcp\s*(?:/|and|&)\s*udp|udp\s*(?:/|and|&)\s*tcp|tcp|udp)\s*$", re.I)  # ("389/TCP/UDP")
_RANGE = re.compile(r"(\d{1,5})\s*(?:-|–|—|to|through)\s*(\d{1,5})")
_NUM = re.compile(r"(?<![\w.])(\d{1,5})(?![\w.])")
_ANY_PORT = re.compile(r"^\s*(\*|any|all)\s*$", re.I)
# patterns used per cell, compiled once (issue 16)
_SHORT_WORD = re.compile(r"[a-z][a-z0-9-]{0,9}")
_PROTO_JOINERS = re.compile(r"\s*([/,&])\s*")
_PORT_SPAN = re.compile(r"(\d+)(?:-(\d+))?$")
_ANY_WORD_START = re.compile(r"^\s*(\*|any)\b", re.I)
_DIGIT = DIGIT
_NOTE_SEP = Gate(re.compile(r",|;|\s+(?:or|and)\s+(?![^(]*\))"), (",", ";", "or", "and"))
_PAREN_NOTE = re.compile(r"\(([^()]{2,60})\)")
_NOTE_LEAD = re.compile(r"^\s*(for|in|only)\s+", re.I)
_SENTENCE_PUNCT = re.compile(r"[.:;]")
_TAG_LIST_SEP = Gate(re.compile(r",|;|\s+(?:or|and|&)\s+"), (",", ";", "or", "and", "&"))
_SPACED_NAME = re.compile(r"[A-Za-z0-9. ]+")
_HEAD_USGOV = re.compile(r"\b(azure\s+)?(us\s+)?government\b|\busgov\b|\bfairfax\b", re.I)
_HEAD_CHINA = re.compile(r"\b(azure\s+)?china\b|21\s*vianet|mooncake", re.I)
_HEAD_PUBLIC = re.compile(r"\bazure\s+(public|global|commercial)\b|\bpublic\s+cloud\b", re.I)
_BOTH_WAYS = re.compile(r"both|bidirectional|bi-directional|any|inbound\s*(&|and|/|,)\s*outbound|outbound\s*(&|and|/|,)\s*inbound")
# "accepts traffic only from …", "receives connections only from …": what comes in (a lockdown; "receives
# traffic from port mirroring and also needs … to …" says nothing of the rules' direction)
_INBOUND = re.compile(r"\b(inbound|incoming|ingress)\b|\b(?:accept|receive)(?:s|d|ing)?\s+(?:\w+\s+){0,2}?"
                      r"(?:traffic|connections?|requests?|calls?)\s+only\s+from\b")
# "The device sends audio and video to the ranges …": what goes out
_OUTBOUND = re.compile(r"\b(outbound|outgoing|egress)\b|\bsends?\b[^.;]{0,60}?\bto\s+(?:the\s+)?(?:ranges?|address|addresses|ips?)\b")


def _no(words: str) -> re.Pattern:
    """A direction the text rules out: "no inbound ports", "inbound connections aren't required"."""
    return re.compile(rf"\b(?:no|not|without|never)\s+(?:\w+\s+){{0,2}}?(?:{words})\b|"
                      rf"\b(?:{words})\s+(?:\w+\s+){{0,3}}?(?:is|are)\s*(?:n't|\s+not)\s+(?:required|needed|used|allowed)\b|"
                      rf"n't\s+(?:need|require|use)\w*\s+(?:any\s+)?(?:{words})\b")


_NO_INBOUND = _no("inbound|incoming|ingress")
_NO_OUTBOUND = _no("outbound|outgoing|egress")
_PROTO_NAMES = tuple((re.compile(rf"\b{w}"), p) for w, p in (("tcp", "tcp"), ("udp", "udp"), ("http", "tcp"), ("any", "any"),
                                                             ("icmp", "icmp")))


@memo
def parse_protocol(text: str | None) -> str | None:
    """Protocol column text → ``tcp``/``udp``/``any``, :data:`TCP_AND_UDP`, or ``None`` (unknown or empty)."""
    t = clean_text(text or "").lower().rstrip(".")
    if not t or t in ("-", "n/a", "na"):
        return None
    t = _PROTO_JOINERS.sub(r"\1", t)
    if t in _PROTO_WORDS:
        return _PROTO_WORDS[t]
    parts = t.split("/")
    if 1 < len(parts) <= 3 and all(_SHORT_WORD.fullmatch(p) for p in parts):
        # "SIP/TLS", "UDP/SRTP", "HTTPS/WSS": the transports its known parts name, when they agree
        known = {_PROTO_WORDS[p] for p in parts if p in _PROTO_WORDS}
        if len(known) == 1 and known != {"any"}:
            return known.pop()
    found = {p for rx, p in _PROTO_NAMES if rx.search(t)}
    if "any" in found:
        return "any"
    if {"tcp", "udp"} <= found:
        return TCP_AND_UDP
    if len(found) == 1:
        return found.pop()
    return None


@memo
def port_sort_key(port: str) -> tuple[int, int, str]:
    """Numeric order; ``*`` first; ranges by their start."""
    if port == "*":
        return (-1, -1, port)
    m = _PORT_SPAN.match(port)
    if not m:
        return (10**6, 0, port)
    return (int(m.group(1)), int(m.group(2) or m.group(1)), port)


def sort_ports(ports) -> list[str]:
    if type(ports) is list and len(ports) < 2:
        return list(ports)  # nothing to order or deduplicate (most rules)
    return sorted(set(ports), key=port_sort_key)


_PORT_NOTE = re.compile(
    r"\(\s*(?:(?P<p>tcp|udp)\s+)?(?:ports?\s+)?(?P<n>\d{1,5}(?:\s*(?:-|–|&|,|/|\band\b|\bor\b)\s*\d{1,5})*)"
    r"(?:\s*(?P<q>tcp|udp))?(?:\s*(?P<d>outbound|inbound))?\s*\)", re.I)


_PORT_LABEL = re.compile(r"\s[-–—]\s*ports?\s*:?\s*(?P<n>\d{1,5})\b(?!\s*[-–,]\s*\d)", re.I)


def port_note(text: str) -> tuple[dict[str | None, list[str]], str | None]:
    """Ports written after a host in a list item, in parentheses ("`host` (443 & 5671 outbound)",
    "(TCP 8883)") or as a label ("`host` - Port: 5671"), and the direction the note names. A lone
    small number in parentheses ("(2)") is a footnote."""
    label = _PORT_LABEL.search(text or "")
    if label:
        return {None: [label.group("n")]}, None
    for m in _PORT_NOTE.finditer(text or ""):
        ports = ports_in(m.group("n").replace("&", ","))
        proto = (m.group("p") or m.group("q") or "").lower() or None
        if ports and (proto or m.group("d") or len(ports) > 1 or all(int(p.split("-")[0]) >= 20 for p in ports)):
            return {proto: ports}, (m.group("d") or "").lower() or None
    return {}, None


_NOT_A_PORT = re.compile(r"\b\d{1,5}\s+(?:dynamic\s+)?ports\b|\b(?:above|below|over|under|greater than|less than|"
                         r"more than|fewer than)\s+(?:port\s+)?\d{1,5}\b", re.I)


def ports_in(text: str) -> list[str]:
    """Ports in one fragment: ``443``, ``80,443``, ``6381 - 6383`` → ``6381-6383``, ``[80]``, ``Any``/``*`` → ``*``."""
    t = clean_text(text).replace("[", " ").replace("]", " ").replace("`", " ")
    if not t:
        return []
    if _ANY_PORT.match(t) or _ANY_WORD_START.match(t) and not _DIGIT.search(t):
        return ["*"]
    out: list[str] = []
    for m in _RANGE.finditer(t):
        a, b = int(m.group(1)), int(m.group(2))
        if 0 < a <= 65535 and 0 < b <= 65535 and a < b:
            out.append(f"{a}-{b}")
    t = _RANGE.sub(" ", t)
    t = _NOT_A_PORT.sub(" ", t)  # "Minimum of 100 ports above port 5000": a count and a bound
    for m in _NUM.finditer(t):
        n = int(m.group(1))
        if 0 < n <= 65535:
            out.append(str(n))
    return out


def parse_ports(items: list[str], *, source_dest: bool = False, default_protocol: str | None = None) -> dict[str | None, list[str]]:
    """A ports cell → ``{protocol: [ports]}`` (see :func:`_parse_ports`; a page repeats its port cells)."""
    return {k: list(v) for k, v in _parse_ports(tuple(items), source_dest, default_protocol)}


@memo
def _parse_ports(items: tuple[str, ...], source_dest: bool, default_protocol: str | None
                 ) -> tuple[tuple[str | None, tuple[str, ...]], ...]:
    """A ports cell → ``{protocol: [ports]}`` (as pairs, to be memoized).

    ``source_dest``: the column holds ``source / destination`` ports; keep the destination side.
    Items may carry a protocol prefix (``UDP: 5831``); unprefixed items use ``default_protocol``
    or, when a sibling item names another protocol, ``tcp`` (``443<br>UDP: 5831``).
    """
    groups: dict[str | None, list[str]] = {}
    prefixed: list[tuple[str, str]] = []
    plain: list[str] = []
    for whole in items:
        whole = clean_text(whole)
        if source_dest and "/" in whole:
            whole = whole.rsplit("/", 1)[1]
        for item in _PROTO_SEGMENT.split(whole):
            _classify_port_item(item.strip(" ,;"), prefixed, plain)
    for proto, rest in prefixed:
        groups.setdefault(proto, []).extend(ports_in(rest))
    plain_ports = [p for item in plain for p in ports_in(item)]
    if plain_ports:
        proto = default_protocol
        if proto is None and prefixed:
            named = {p for p, _ in prefixed}
            proto = "tcp" if named == {"udp"} else None
        groups.setdefault(proto, []).extend(plain_ports)
    return tuple((k, tuple(sort_ports(v))) for k, v in groups.items() if v)


# "TCP 443, UDP 3478-3481", "443 (TCP), 3478 (UDP)", "443/TCP; 3478/UDP": each protocol owns its own segment
_PROTO_SEGMENT = re.compile(
    r"(?:(?<=\))|(?<=\btcp)|(?<=\budp))\s*(?:[,;]|\band\b)\s*|\s*(?:[,;]|\band\b)\s*(?=(?:tcp|udp)\b)", re.I)


def _classify_port_item(item: str, prefixed: list[tuple[str, str]], plain: list[str]) -> None:
    """One port segment: protocol-qualified (``UDP: 5831``, ``443 (TCP)``) or plain."""
    if item:
        m = _PROTO_PREFIX.match(item)
        s = _PROTO_SUFFIX.search(item)
        if m:
            prefixed.append((parse_protocol(m.group(1)) or "any", item[m.end():]))
        elif s:
            prefixed.append((parse_protocol(s.group(1) or s.group(2)) or "any", item[: s.start()] + " " + item[s.end():]))
        else:
            plain.append(item)


# "plain HTTP on TCP 80 and TLS on TCP 443", "over TCP port 443", "port 8443 (TCP)", "ports 80 and 443"
_SENTENCE_PORTS = Folded(
    r"\b(?:(?P<p1>tcp|udp)\s+(?:ports?\s+)?|ports?\s+(?:(?:in\s+)?(?:the\s+)?range\s+(?:of\s+)?|from\s+|between\s+)?)"
    r"(?P<ports>\d{1,5}(?:\s*(?:-|–|to|through)\s*\d{1,5})?(?:\s*(?:,|,?\s*and|,?\s*or)\s*\d{1,5}(?:\s*(?:-|–)\s*\d{1,5})?)*)"
    r"\b(?:\s*\((?P<p2>tcp|udp)\))?", needles=("tcp", "udp", "port"))


def ports_in_sentence(text: str | None) -> dict[str | None, list[str]]:
    """Ports a sentence states, by protocol: only numbers written after "port(s)" or a protocol
    word count, so "TLS 1.2" or "5 minutes" never read as ports."""
    out: dict[str | None, list[str]] = {}
    t = clean_text(text or "")
    for m in _SENTENCE_PORTS.finditer(t):
        proto = (m.group("p1") or m.group("p2") or "").lower() or None
        out.setdefault(proto, []).extend(ports_in(t[m.start("ports"):m.end("ports")]))  # as written, not folded
    named = [k for k in out if k]
    if None in out and len(named) == 1:  # "TCP port 8080, then port 8081": the one protocol named
        out[named[0]] += out.pop(None)
    return {k: sort_ports(v) for k, v in out.items() if v}


# ---------------------------------------------------------------- hosts / tags

_PLACEHOLDER = Gate(re.compile(r"<[^<>]{1,60}>|\{[^{}]{1,60}\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"), ("<", "{", "$"))
_IPV4 = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}"
_IP_RE = re.compile(rf"^{_IPV4}$")
_CIDR_RE = re.compile(rf"^{_IPV4}/\d{{1,2}}$|^[0-9a-f:]+:[0-9a-f:]*/\d{{1,3}}$", re.I)
_IPV6_RE = re.compile(r"^(?=.*:.*:)[0-9a-f:]+$", re.I)
_LABEL = re.compile(r"^[a-z0-9_*](?:[a-z0-9_*-]*[a-z0-9_*])?$", re.I)
_TAG_RE = re.compile(r"^[A-Z][A-Za-z0-9]*(?:\.(?:[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*|<[^<>]+>|\{[^{}]+\}))?$")
# "198.51.100.16 - 198.51.100.31": one range, written without spaces as the endpoint
_IP_RANGE_SPACED = re.compile(rf"(?<![\d.])({_IPV4})(?:\s*[-–—]\s*|\s+(?:to|through)\s+)({_IPV4})(?![\d.])")
_IP_RANGE_RE = re.compile(rf"^{_IPV4}-{_IPV4}$")
_CAMEL_RE = re.compile(r"^(?:[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Z][A-Za-z0-9]*\.(?:[A-Za-z0-9]+|<[^<>]+>))$")
_HOST_PORT = re.compile(r"^(?P<host>[^/:]+):(?P<port>\d{1,5})$")
_URL_PORT = re.compile(r"^[a-z][a-z0-9+.-]*://[^/:]+:(\d{1,5})(?:/|$)", re.I)
_TRAILING_JUNK = " \t.,;:)\"'"
ANY_ADDRESS = "*"
# "APIServerPublicIP", "CustomDNSIP", "RegionCIDRs": a named address the reader fills in
_ADDR_PLACEHOLDER = re.compile(r"^[A-Z][A-Za-z0-9]{3,}?(?:IPs?|IPAddress(?:es)?|CIDRs?|Address(?:es)?|Ranges?)$")
_TAG_PORT = re.compile(r"^(?P<tag>[A-Z][A-Za-z0-9]*(?:\.(?:[A-Za-z0-9]+|<[^<>]+>|\{[^{}]+\}))?):(?P<port>\d{1,5})$")
_TAG_LABEL = re.compile(r"^\s*(?:service\s*tags?|fqdn\s*tags?)\s*[-–—:]\s*", re.I)
_NOT_TAGS = {"servicetag", "servicetags", "fqdntag", "fqdntags", "or", "and"}
_CONNECTORS = {"and", "or", "&", "-", "–", "—", "/"}


_LAST_LABEL = re.compile(r"[a-z*][a-z0-9*-]*", re.I)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_PORT_SUFFIX = re.compile(r":\d{1,5}$")
_HTTP_URL = re.compile(r"^(https?)://[^/:]+(?:/|$)", re.I)
_SLASHED_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^/]+/.*/$|^[a-z][a-z0-9+.-]*://[^/]+/$|^[^/:]+/$", re.I)
_LIST_SEP = Gate(re.compile(r",|;|\s+(?:or|and)\s+"), (",", ";", "or", "and"))
_PARENS = re.compile(r"\([^)]*\)")
_SPACE_OR_COMMA = re.compile(r"[\s,]+")
_TAG_WORD = re.compile(r"\b(service\s+|fqdn\s+)?tags?\b", re.I)


def _strip_placeholders(s: str) -> str:
    return _PLACEHOLDER.sub("x", s)


@memo
def _is_hostname(host: str) -> bool:
    """A DNS-like name (placeholders and ``*`` allowed) with a dot and a plausible last label."""
    h = _strip_placeholders(host).rstrip(".")
    if "." not in h or h.startswith("-"):
        return False
    labels = h.split(".")
    if not all(lbl and _LABEL.match(lbl) for lbl in labels):
        return False
    last = labels[-1]
    if last[:1].isupper() and not last.isupper():
        return False  # "WindowsAzure.ServiceBus", "Azure.Messaging.EventHubs": a code namespace, not a domain
    return last == "x" or last == "*" or (len(last) >= 2 and _LAST_LABEL.fullmatch(last) is not None)


@memo
def endpoint_kind(ep: str) -> str | None:
    """``template`` > ``url`` > ``wildcard`` > ``cidr`` > ``ip`` > ``fqdn``; ``None`` when not an endpoint."""
    s = ep.strip()
    if not s:
        return None
    if s == ANY_ADDRESS:
        return "cidr"  # any address (0.0.0.0/0), see the module docstring
    if _CIDR_RE.match(s):
        return "cidr"
    if _IP_RANGE_RE.match(s):
        return "ip_range"
    if _IP_RE.match(s) or _IPV6_RE.match(s):
        return "ip"
    scheme = _SCHEME.match(s)
    has_scheme = scheme is not None
    rest = s[scheme.end():] if scheme else s
    host, _, path = rest.partition("/")
    host = _PORT_SUFFIX.sub("", host)
    if not (_is_hostname(host) or _IP_RE.match(host)):
        return None
    if _PLACEHOLDER.search(s):
        return "template"
    if has_scheme or path:
        return "url"
    if "*" in host:
        return "wildcard"
    return "fqdn"


@memo
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


def scheme_port(ep: str) -> str | None:
    """The port a URL without an explicit port implies: ``https://`` → 443, ``http://`` → 80."""
    m = _HTTP_URL.match(ep.strip())
    if not m:
        return None
    return "443" if m.group(1).lower() == "https" else "80"


def split_tag_port(value: str) -> tuple[str, list[str]]:
    """``AzureCloud.<Region>:1194`` → (``AzureCloud.<Region>``, [``1194``])."""
    m = _TAG_PORT.match(value)
    if m:
        return m.group("tag"), [str(int(m.group("port")))]
    return value, []


@memo
def _classify_token(tok: str, *, code: bool, forced_tag: bool, tag_column: bool, whole: bool, alone: bool = True) -> str | None:
    """Kind of one candidate token (see module docstring), or ``None`` when it is not a party.

    Outside a tag column a word is a tag only when it is a known Azure tag name, and a plain
    word ("Storage", "Sql") only when it stands alone: "Azure SQL" names a service."""
    if tok == ANY_ADDRESS:
        return "cidr" if whole else None
    base, port = tok, None
    m = _HOST_PORT.match(tok)
    if m and not _IPV6_RE.match(tok):
        base, port = m.group("host"), m.group("port")
    if base == ANY_ADDRESS:
        return "cidr" if port else None
    if base.lower() in _NOT_TAGS:
        return None
    if _ADDR_PLACEHOLDER.match(base) and (code or port or forced_tag):
        return "template"
    if is_tag(base) and (forced_tag or tag_column or is_known_tag(base) and (alone or _CAMEL_RE.match(base))):
        if port is None or _TAG_PORT.match(tok):
            return "tag"  # "AzureFrontDoor.FirstParty" is a tag, not a host: tags start upper-case
    return endpoint_kind(tok)


def collapse_ip_ranges(text: str) -> str:
    """``a - b`` / ``a to b`` (IPv4) written as the single token ``a-b``."""
    return _IP_RANGE_SPACED.sub(r"\1-\2", text) if text.count(".") >= 6 else text


def normalize_endpoint(ep: str) -> str:
    """One spelling per endpoint: a URL's trailing ``/`` does not make a second rule."""
    if ep.startswith("**."):  # "**.servicebus.windows.net": a doubled wildcard is the wildcard
        ep = ep[1:]
    if ep.endswith("/") and _SLASHED_URL.match(ep):
        return ep.rstrip("/")
    return ep


def normalize_tag(tag: str) -> str:
    """One spelling per tag: ``Widget. NorthUS`` → ``Widget.NorthUS``; ``Azure Monitor`` → ``AzureMonitor``
    when the joined name is a known tag (in its canonical case)."""
    t = _DOT_SPACES.sub(".", tag.strip())
    if " " in t:
        joined = canonical_tag(t.replace(" ", ""))
        return joined or t
    return t  # as written: "SQL" and "Sql" are one identity already (keys are case-folded)


_DOT_SPACES = Gate(re.compile(r"\s*\.\s+|\s+\.\s*"), (".",))


def _candidates(fragment: str) -> list[str]:
    """Split a piece of cell text into candidate tokens (commas, 'or'/'and', whitespace)."""
    out: list[str] = []
    for piece in _LIST_SEP.split(fragment):
        piece = _PARENS.sub(" ", piece) if "(" in piece else piece  # "(NuGet Downloads)", "(Windows)"
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


def parties_in_cell(cell, *, footnotes: list[str] | None = None, want_tags: bool = True, want_hosts: bool = True,
                    tag_column: bool = False) -> list[tuple[str, str]]:
    """Remote parties in a cell as ``(kind, value)``; kind is an endpoint kind or ``"tag"``.

    Code spans are authoritative when present (prose around them is ignored, and a code span
    that is itself prose, like ``(only known after cluster creation)``, gives nothing); otherwise
    every item is split on commas/``or``/whitespace and each token is classified. A value may
    keep a ``:port`` suffix (``*:1194``, ``AzureCloud:443``); callers split it off.
    ``tag_column``: the cell sits in a service-tag column, so ``SQL`` or ``HDInsight`` are tags.
    """
    foot = footnotes if footnotes is not None else getattr(cell, "footnotes", []) or []
    return list(_parties(tuple(getattr(cell, "items", None) or ()), tuple(getattr(cell, "code", None) or ()),
                         frozenset(foot), want_tags, want_hosts, tag_column))


@memo
def _parties(items: tuple[str, ...], code_spans: tuple[str, ...], foot: frozenset[str], want_tags: bool,
             want_hosts: bool, tag_column: bool) -> tuple[tuple[str, str], ...]:
    """:func:`parties_in_cell` of one cell's texts (a page repeats cells: the table pass, the
    column-meaning pass and the notes read the same cell)."""
    code = [collapse_ip_ranges(c) for c in code_spans if c.strip()]
    raw: list[tuple[str, bool, bool, bool]] = []  # (token, forced tag, whole item, alone in its piece)
    if code:
        for c in code:
            c = c.strip()
            if c.startswith("(") or (c.startswith("-") and not c.startswith("-.")):
                continue  # "(if using custom DNS servers)", "--proxy-https"
            if _PLACEHOLDER.search(c) or not _SPACE_OR_COMMA.search(c):
                raw.append((c, False, True, True))  # `<your ACR name>.azurecr.io` keeps its spaces
                continue
            toks = [t for t in _SPACE_OR_COMMA.split(c) if t and t.lower() not in _CONNECTORS]
            kinds = [_classify_token(_strip_footnotes(t, foot).strip(_TRAILING_JUNK), code=True, forced_tag=False,
                                     tag_column=tag_column, whole=False, alone=False) for t in toks]
            if toks and all(kinds):
                raw.extend((t, False, False, False) for t in toks)  # else: a phrase such as `appliance VM IPs`
    else:
        for item in items:
            item = collapse_ip_ranges(_strip_footnotes(item, foot))
            whole = item.strip().strip("`\\") == ANY_ADDRESS
            forced = False  # "ServiceTag - Storage:443 and Storage:445": the label covers what follows it
            for piece in _LIST_SEP.split(item):
                label = _TAG_LABEL.match(piece)  # anchored: removing it is what ``sub`` would do
                if label:
                    forced, piece = True, piece[label.end():]
                cands = _candidates(piece)
                raw.extend((t, forced, whole, len(cands) == 1) for t in cands)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tok, forced, whole, alone in raw:
        tok = _strip_footnotes(tok.strip().strip("`"), foot).strip(_TRAILING_JUNK)
        tok = tok.lstrip("\\")
        if tok.endswith("*") and tok[-2:-1].isalpha() and "." in tok and "/" not in tok and not code:
            tok = tok.rstrip("*")  # footnote asterisk: "k8connecthelm.azureedge.net*"
        if not tok or tok.lower() in seen:
            continue
        kind = _classify_token(tok, code=bool(code), forced_tag=forced, tag_column=tag_column, whole=whole, alone=alone)
        if kind == "tag" and not want_tags or kind not in (None, "tag") and not want_hosts:
            kind = None
        if kind:
            seen.add(tok.lower())
            out.append((kind, tok))
    return tuple(out)


def cloud_annotations(cell) -> dict[str, str]:
    """Per-host cloud notes inside one cell: ``login.microsoftonline.us (Azure Government)``,
    ``https://gbl.his.arc.azure.us (for Azure US Government)`` → ``{token: cloud}``."""
    out: dict[str, str] = {}
    for item in list(getattr(cell, "items", None) or []):
        if "(" not in item:
            continue  # a note is in parentheses
        for piece in _NOTE_SEP.split(item):
            notes = _PAREN_NOTE.findall(piece)
            cloud = None
            for note in notes:
                cloud = cloud_of_label(_NOTE_LEAD.sub("", note)) or cloud
            if not cloud:
                continue
            for tok in _candidates(piece):
                out[tok.strip("`").lower()] = cloud
    return out


_PLAIN_AZURE = re.compile(r"^(?:microsoft\s+)?azure(?:\s+cloud)?$", re.I)


_DOC_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def documentation_address(value: str) -> bool:
    """An address from the ranges reserved for documentation (RFC 5737, RFC 3849): made up by the page."""
    try:
        net = ipaddress.ip_network(value.split("-", 1)[0].strip(), strict=False)
    except ValueError:
        return False
    return any(net.version == d.version and net.subnet_of(d) for d in _DOC_NETS)


# (100.64.0.0/10, RFC 6598 shared space: never routed on the internet, what a platform uses inside itself)
_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                                         "fc00::/7"))


@memo
def private_address(value: str) -> bool:
    """An address of the private ranges (RFC 1918, RFC 6598, RFC 4193): one a reader picks for their own
    network, so in an example it is the example's, not a party to allow."""
    try:
        net = ipaddress.ip_network(value.split("-", 1)[0].strip(), strict=False)
    except ValueError:
        return False
    return any(net.version == d.version and net.subnet_of(d) for d in _PRIVATE_NETS)


_CHINA_HOST = re.compile(r"\.cn$")
_USGOV_HOST = re.compile(r"(?:\.usgovcloudapi\.net|\.usgovtrafficmanager\.net|gov\.us|\.(?:azure|microsoftonline|windowsazure|"
                         r"microsoft|azure-automation|applicationinsights|azure-api|azurecr)\.us)$")


@memo
def cloud_of_host(endpoint: str) -> str | None:
    """The sovereign cloud a host belongs to by its domain (``*.chinacloudapi.cn``, ``mcr.azk8s.cn``:
    china; ``*.usgovcloudapi.net``, ``login.microsoftonline.us``, ``*.powerbigov.us``: usgov), else None."""
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower().rstrip(".")
    if _CHINA_HOST.search(host):
        return "china"
    return "usgov" if _USGOV_HOST.search(host) else None


_PLAIN_LABEL = re.compile(r"^([A-Za-z0-9 ]{2,40}):\s+(.*)$")


def cloud_labels(cell) -> dict[str, str]:
    """Hosts under cloud labels inside one cell (``**Azure**``, host, ``**Azure Government**``,
    host …, or "Azure Government: host") → ``{token: cloud}``, several clouds comma-joined for a
    host listed under more than one label; a bare "Azure" label is the public cloud."""
    bold = {clean_text(b).strip(" :").lower() for b in getattr(cell, "bold", None) or []}
    if not bold and ":" not in (getattr(cell, "text", "") or ""):
        return {}
    out: dict[str, str] = {}
    current = None
    for item in list(getattr(cell, "items", None) or []):
        plain = _PLAIN_LABEL.match(clean_text(item))
        if plain and plain.group(1).lower() not in bold:  # "Azure Government: `host`", not bold
            cloud = cloud_of_label(plain.group(1))
            if cloud:
                current = cloud
                item = plain.group(2)
        label = clean_text(item).strip(" :")
        lead = next((b for b in bold if label.lower().startswith(b + ":")), None) if label.lower() not in bold else None
        if label.lower() in bold or lead:  # "**Azure Government**" alone, or "**Azure Government**: host"
            name = label[: len(lead)] if lead else label
            cloud = cloud_of_label(name) or ("public" if _PLAIN_AZURE.match(name) else None)
            if cloud or current:
                current = cloud
            if not lead:
                continue
            item = label[len(lead) + 1:]
        if current:
            for tok in _candidates(item):
                key = tok.strip("`").lower()
                # a host listed under several clouds' labels: each of them ("public,usgov")
                clouds = out.get(key, "").split(",") if key in out else []
                out[key] = ",".join(clouds + [current] if current not in clouds else clouds)
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
    t = clean_text(_TAG_WORD.sub(" ", text)).strip(_TRAILING_JUNK)
    if not t or t.lower() in ("n/a", "na", "none", "-", "—", "not applicable"):
        return None
    if is_tag(t):
        return t
    words = t.split()
    if len(words) <= 3 and all(w[:1].isupper() for w in words) and not _SENTENCE_PUNCT.search(t):
        return t  # "Azure Event Hubs", "Virtual Network": a tag written with spaces
    for tok in _candidates(t):
        if _CAMEL_RE.match(tok):
            return tok
    return None


def tags_in_text(text: str) -> list[str]:
    """Service tags in a tag-column cell: ``WindowsUpdate and HDInsight``, ``Storage tag``, ``Azure Monitor``.

    A cell that is not a plain list of tag names falls back to :func:`tag_in_text` (one guess).
    """
    t = clean_text(text or "")
    if not t:
        return []
    if len(t.split()) <= 3:
        t = _DOT_SPACES.sub(".", t)  # "Widget. NorthUS": a tag split by a stray space
    whole = tag_in_text(t)
    pieces = [p for p in _TAG_LIST_SEP.split(t) if p.strip()]
    if len(pieces) > 1:
        tags = [tag_in_text(p) for p in pieces]
        if all(tag and (is_tag(tag) or len(tag.split()) <= 3 and _SPACED_NAME.fullmatch(tag)) for tag in tags):
            return tags
    return [whole] if whole else []


def is_virtual_network(tag: str | None) -> bool:
    return bool(tag) and "".join(tag.split()).lower() == "virtualnetwork"


# ---------------------------------------------------------------- clouds / directions

_CLOUD_PATTERNS = (
    ("usgov", re.compile(r"\b(us\s*gov(ernment)?|gov(ernment)?|fairfax|usgov\w*|dod)\b", re.I)),
    ("china", re.compile(r"\b(china|21\s*vianet|mooncake|azure-china|chinacloud)\b", re.I)),
    ("public", re.compile(r"\b(azure\s+(public|global|commercial|cloud)|public\s+cloud|global\s+azure|commercial)\b|^(azure\s+|general\s+)?(public|global|commercial)$", re.I)),
)
_CLOUD_IDS = {
    "public": "public", "azure-public": "public", "azure-cloud": "public", "azurecloud": "public", "global": "public",
    "commercial": "public", "azure-global": "public", "azure-commercial": "public", "public-cloud": "public",
    "gov": "usgov", "usgov": "usgov", "azure-government": "usgov", "government": "usgov", "azure-gov": "usgov",
    "azure-us-government": "usgov", "us-gov": "usgov", "fairfax": "usgov", "azuregov": "usgov",
    "china": "china", "azure-china": "china", "mooncake": "china", "21vianet": "china", "azure-21vianet": "china",
    "azurechina": "china",
    # Microsoft 365 instances, as their endpoint pages name their tabs
    "worldwide": "public", "m365-worldwide": "public", "usgov-gcchigh": "usgov", "gcc-high": "usgov", "gcchigh": "usgov",
    "usgov-dod": "usgov", "dod": "usgov",
}


_CLOUD_NEEDLES = ("gov", "fairfax", "dod", "china", "vianet", "mooncake", "public", "global", "commercial", "cloud")


def _names_no_cloud(t: str) -> bool:
    """ASCII text holding none of the words every cloud pattern (labels and headings) needs: no
    cloud, known without running them (most headings and cells)."""
    if not t.isascii():
        return False  # re.I matches some non-ASCII letters that lower() does not fold
    low = t.lower()
    for needle in _CLOUD_NEEDLES:
        if needle in low:
            return False
    return True


@memo
def cloud_of_label(label: str | None) -> str | None:
    """Cloud named by a tab label, column value or cell prefix; ``None`` unless exactly one cloud."""
    t = clean_text(label or "")
    if not t or _names_no_cloud(t):
        return None
    found = {cloud for cloud, rx in _CLOUD_PATTERNS if rx.search(t)}
    return found.pop() if len(found) == 1 else None


def cloud_of_tab(label: str | None, tab_id: str | None) -> str | None:
    tid = (tab_id or "").split("/")[0].strip().lower()
    if tid in _CLOUD_IDS:
        return _CLOUD_IDS[tid]
    named = (label or "").strip().lower().replace(" ", "-")
    if named in _CLOUD_IDS:  # a tab labelled "Worldwide" or "GCC High"
        return _CLOUD_IDS[named]
    return cloud_of_label(label)


@memo
def cloud_of_heading(heading: str) -> str | None:
    """Only headings that name one specific cloud ("Azure US Government required rules")."""
    t = clean_text(heading)
    if _names_no_cloud(t):
        return None
    found = set()
    if _HEAD_USGOV.search(t):
        found.add("usgov")
    if _HEAD_CHINA.search(t):
        found.add("china")
    if _HEAD_PUBLIC.search(t):
        found.add("public")
    return found.pop() if len(found) == 1 else None


@memo
def direction_of(text: str | None) -> str | None:
    """``Inbound`` / ``Outbound`` / ``Inbound & Outbound`` / ``Both`` (and prose using those words)."""
    t = clean_text(text or "").lower()
    if not t:
        return None
    if _BOTH_WAYS.fullmatch(t):
        return "both"
    # (the words first, at C speed: most text names no direction)
    inbound = ("inbound" in t or "incoming" in t or "ingress" in t or " from" in t and ("accept" in t or "receiv" in t)
               ) and _INBOUND.search(t) is not None
    outbound = ("outbound" in t or "outgoing" in t or "egress" in t or "send" in t) and _OUTBOUND.search(t) is not None
    if inbound and outbound:  # "makes outbound connections only; it needs no inbound ports": one way
        no_in, no_out = _NO_INBOUND.search(t) is not None, _NO_OUTBOUND.search(t) is not None
        if no_in != no_out:
            inbound, outbound = not no_in, not no_out
    if inbound and outbound:
        return "both"
    if inbound:
        return "inbound"
    if outbound:
        return "outbound"
    return None
