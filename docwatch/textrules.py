"""Rules stated outside tables: fenced code blocks, bullet lists, NOTE/TIP boxes and sentences.

Pure: reads :attr:`parsers.model.Document.blocks` (both parsers fill them alike, so markdown and
rendered HTML give the same rules) and returns *unmerged* :class:`~docwatch.model.Rule` values
whose ``origin`` says where they were read (``code``, ``list``, ``prose``); ``normalize`` merges
them with the table rules. Context the block does not state (cloud, tab variant, direction) comes
from its tabs, headings and lead-in through the same function the tables use
(``normalize._context``), so a host in a code block inside an "Azure Government" tab is usgov.

What counts (general shapes, never page words):

* **Code blocks** whose every non-empty line (comments and bullets aside) is one host, URL, IP,
  CIDR or, under a lead-in naming service tags, one tag: a plain allowlist. Ports and protocol
  come from the lead-in ("(TLS 443)", "on port 443", "over HTTPS"). Blocks of commands, scripts,
  JSON or config are not allowlists, and nothing is read from a block whose lead-in or heading
  says it is an example/sample/output.
* **List items** (not already read as a code-host list table): the hosts/tags each item names,
  when the list's lead-in (or the item itself) states a requirement; under a "service tags"
  lead-in a bare tag-shaped word (``Storage``, ``WidgetHub``) is a tag. Ports from the item, else
  the lead-in.
* **Sentences** (paragraphs, list items, NOTE/TIP/IMPORTANT boxes) that state a requirement: a
  requirement verb or word ("allow", "must", "required", "add … to your allowlist", "outbound",
  "access to", "communicates", "over") and no negation ("not", "n't", "no longer", "never"),
  naming a host/URL/IP/tag and/or ports: verb + (protocol) + port(s)/range + (host/tag) +
  (direction). Tags in prose are accepted only when they are known Azure tag names
  (:mod:`docwatch.tagnames`) or written right next to the words "service tag".

Representation choices:

* A sentence that states ports but names no host or tag ("You must allow network traffic to
  ports 8704 to 8710") gives one rule for the any-address party: ``endpoint`` ``"*"`` (kind
  ``cidr``, i.e. 0.0.0.0/0, the convention of :mod:`docwatch.normalize_values`) with those ports,
  the sentence's protocol and direction. A paragraph that is the lead-in of a following table,
  list or code block gives no such rule: its ports belong to what follows it.
* Cloud: the block's tab/heading context, else the one cloud the sentence itself names ("For
  Azure Government, also allow …"); a sentence naming several clouds leaves it open.
* Direction: the sentence's own words ("outbound", "inbound"), else the block's context; hosts
  with no direction anywhere are outbound (what the service calls out to), as in list tables;
  tags and ``*`` keep ``None`` when nothing says.
* Protocol: ``tcp``/``udp`` written with the ports, else the one transport the sentence names,
  else ``tcp`` for HTTPS/HTTP/TLS; "over HTTPS" with no port means 443 (HTTP 80).
* In a sentence that gives an example ("for example", "e.g.", "such as"), example-style
  parties (contoso, fabrikam, "my…" names) and IP addresses are dropped; other parties stay.
* A "paragraph" longer than :data:`MAX_PARAGRAPH` characters is a page flattened to text (a saved
  text dump whose line, list and sentence boundaries are gone, words glued across them): reading
  requirements from it would invent parties, so it gives none (its tokens show as unparsed).
"""
from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Callable

from docwatch.cli_rules import cli_rules, has_rule_command
from docwatch.memo import memo
from docwatch.model import Rule
from docwatch.normalize import (  # the table context rules, shared
    NO_RULE_NEEDED,
    OPENING_CLAUSE,
    ROLE_HEAD,
    _CONTOSO,
    _NAMED_KINDS,
    _LEAD_DET,
    _LEAD_END,
    _LEAD_DET_RX,
    _LEAD_WORD,
    _context,
    _lead_side,
    _lead_sides,
    _side,
    _party_fields,
    field_table_rules,
    labelled_fields,
)
from docwatch.normalize_values import (
    ANY_ADDRESS,
    DIGIT,
    TCP_AND_UDP,
    Folded,
    Gate,
    cloud_of_heading,
    cloud_of_label,
    direction_of,
    documentation_address,
    endpoint_kind,
    is_tag,
    parse_protocol,
    parties_in_cell,
    ports_in,
    private_address,
    sort_ports,
)
from docwatch.tagnames import canonical_tag
from parsers.model import Block, Cell, Document, Table, clean_text

log = logging.getLogger(__name__)

MAX_PARAGRAPH = 3000  # characters; real Learn paragraphs stay well under 1,000

# ---------------------------------------------------------------- sentences

_ABBREV = Folded(r"\b(e\.g|i\.e|etc|vs|approx|incl|no|fig)\.$")
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`*\"'(\[<])")


def sentences(text: str) -> list[str]:
    """Split paragraph text into sentences (a dot inside a host name never splits: it has no space)."""
    return list(_sentences(text))


@memo
def _sentences(text: str) -> tuple[str, ...]:
    """:func:`sentences` once per text (text rules and the coverage pass both read each paragraph)."""
    parts = _SENT_END.split(clean_text(text))
    out: list[str] = []
    for p in parts:
        if out and _ABBREV.search(out[-1], max(0, len(out[-1]) - 12)):  # end-anchored: read the tail only
            out[-1] += " " + p
        else:
            out.append(p)
    return tuple(s for s in out if s)


_CUE = Folded(
    r"\b(allow\w*|permit\w*|open|opened|unblock\w*|whitelist\w*|allow-?list\w*|safe ?list\w*|must|needs?|needed|"
    r"requires?|required|requirements?|enable|add|adding|configure|ensure|make sure|access(?:es|ing)?\s+to|"
    r"connectivity|connect\w*|communicat\w*|reach\w*|outbound|inbound|egress|ingress|"
    r"uses?|over|firewall|proxy|traffic|endpoints?|replace\w*|creat\w*\s+(?:\w+\s+){0,3}rules?|"
    r"sends?|sent|sending|falls?\s+back|requests?|accepts?|accepting|listens?|listening|"
    r"writ(?:e|es|ing)\s+to|uploads?\s+to|downloads?\s+from|pulls?\s+from|push(?:es)?\s+to|"
    r"talks?\s+to|quer(?:y|ies)\s+(?:the|your)|contacts?\s+(?:the|your)|between\s+(?:the|your))\b")  # "For Azure Government, replace them with …"
_NEG = Folded(r"n't\b|\b(not|never|no longer|cannot|avoid|deny|denied|unsupported|unnecessary|retire[sd]?|retiring|"
              r"deprecat\w*|decommission\w*)\b",
              needles=("n't", "not", "never", "no longer", "avoid", "den", "unsupported", "unnecessary", "retir", "deprecat",
                       "decommission"))
# a list whose lead-in names what the items are ("these hosts:", "the following endpoints") is a list of parties
_LIST_CUE = Folded(r"\b(hosts?|host ?names?|urls?|fqdns?|domains?|endpoints?|addresses|destinations?|"
                   r"allow-?list\w*|safe ?list\w*)\b")
_EXAMPLE = Folded(r"\b(examples?|samples?|e\.g\.|for instance|such as|sample output|output)\b",
                  needles=("example", "sample", "e.g.", "for instance", "such as", "output"))
_EXAMPLE_CONTEXT = Folded(r"(?<![\w.-])(examples?|samples?)(?![\w.-])|\b(for instance|output)\b",  # (not "pki.example.com")
                          needles=("example", "sample", "for instance", "output"))
# a heading that calls its section an example ("Example: …", "Samples"); "Terminal output - Error" is no example
_EXAMPLE_HEADING = Folded(r"\b(examples?|samples?|for instance|sample output|example output)\b",
                          needles=("example", "sample", "for instance"))
_EXAMPLE_PARTY = Folded(r"contoso|fabrikam|northwind|adventure-?works|wingtip|\bmy[a-z0-9-]*\.|^my[a-z]",
                        needles=("contoso", "fabrikam", "northwind", "adventure", "wingtip", "my"))
_FILE_EXT = Folded(
    r"\.(json|jsonc|exe|msi|js|ts|ps1|psm1|py|sh|bash|yaml|yml|md|txt|log|xml|zip|gz|tar|dll|cer|pem|crt|pfx|conf|"
    r"cfg|ini|html?|png|jpe?g|svg|gif|csv|toml|cmd|bat|deb|rpm|pkg|nupkg|jar|whl|config)$")
_TAG_WORDS = Folded(r"\bservice[\s-]*tags?\b", needles=("service",))

# ---------------------------------------------------------------- ports in a sentence

_N = r"(?<![\d.])\d{1,5}(?!\d|\.\d)"  # (not an address's last octet: "`168.63.129.16` (UDP …")
_LABEL = r"(?:\s*\((?!tcp\b|udp\b)[A-Za-z][\w/ .-]{0,20}\))?"  # "ports 22 (SSH) and 3389 (RDP)": a number's label
_NUMLIST = rf"{_N}{_LABEL}(?:\s*(?:-|–|—|\bto\b|\bthrough\b|,|\band\b|\bor\b|&|/|,\s*and\b|,\s*or\b)\s*{_N}{_LABEL})*"  # ("TCP 80/443")
_PORT_PHRASES = (
    # "UDP and TCP 53", "TCP/UDP port 53": one port list, both transports
    Folded(rf"\b(?P<b>tcp\s*(?:and|&|/|\+|or)\s*udp|udp\s*(?:and|&|/|\+|or)\s*tcp)\s*[/:]?\s*(?:ports?\s+)?(?P<n>{_NUMLIST})",
           needles=("tcp",)),
    # "TCP port 443", "ports 80 and 443", "port 443 (TCP)", "ports 8704 to 8710", "port range 6381-6383"
    Folded(rf"(?:\b(?P<p>tcp|udp)\s+)?\bports?\s+(?:numbers?\s+|ranges?\s+)?(?P<n>{_NUMLIST})"
           rf"(?:\s*\(?\s*(?P<q>tcp|udp)\b(?:\s*(?:and|&|/|\+|or)\s*(?P<q2>tcp|udp)\b)?\)?)?", needles=("port",)),
    # "the 10000-20000 port range" (a range: "100 ports" is a count)
    Folded(r"(?<![\w.-])(?P<n>\d{1,5}\s*[-–]\s*\d{1,5})\s+ports?(?:\s+ranges?)?\b", needles=("port",)),
    # "UDP 123", "TCP/443", "TCP: 443"
    Folded(rf"\b(?P<p>tcp|udp)\s*[/:]?\s*(?P<n>{_NUMLIST})", needles=("tcp", "udp")),
    # "443/TCP", "123 (UDP)"
    Folded(rf"\b(?P<n>{_N})\s*(?:/\s*|\(\s*)(?P<q>tcp|udp)\b", needles=("tcp", "udp")),
    # "(TLS 443)", "HTTPS (443)", "HTTPS port 443", "https:443"
    Folded(rf"(?<![/\w])(?P<a>https?|tls|ssl)\s*[(:]?\s*(?:port\s+)?(?P<n>{_N})", needles=("http", "tls", "ssl")),
    # "outbound to 443", "inbound on 443 and 80": a bare number right after a direction word
    Folded(rf"\b(?:inbound|outbound|ingress|egress)(?:\s+(?:traffic|access|connectivity|connections?))?"
           rf"\s+(?:on|to|over|at|via)\s+(?P<n>{_NUMLIST})"
           r"(?!\s*(?:%|percent|minutes?|hours?|days?|seconds?|ms\b|regions?|times\b|[kmg]b\b|characters?))",
           needles=("inbound", "outbound", "ingress", "egress")),
)
_DIGIT = DIGIT  # (most sentences hold no digit: answered without the engine)
_SOURCE_BEFORE = re.compile(r"\bsource\s+(?=(?:tcp\s+|udp\s+)?ports?\b)", re.I)
# group texts come back lower-cased (Folded): the callers lower-case them anyway
_TRANSPORT = Folded(r"\b(tcp|udp)\b", needles=("tcp", "udp"))
_ONE_TRANSPORT = {**{w: "tcp" for w in ("smb", "ssh", "rdp", "sftp", "ftp", "ftps", "winrm", "smtp", "smtps", "ldaps",
                                         "mqtt", "mqtts", "amqp", "amqps", "iscsi", "grpc", "wss", "websockets")},
                  **{w: "udp" for w in ("ntp", "snmp", "tftp", "stun", "ike", "dhcp", "syslog-udp")}}
_ONE_TRANSPORT_APP = re.compile(r"(?<![\w.-])(" + "|".join(sorted(_ONE_TRANSPORT, key=len, reverse=True)) + r")(?![\w.-])", re.I)
# ("over HTTPS", "HTTP (TCP 80)"; not a name: "the HTTP API", "the namespace's HTTP hostname")
_APP_PROTO = Folded(r"(?<![/\w.-])(https|http|tls|ssl)(?!://|[/\w])(?!\s+(?:apis?|host\s*names?|headers?|triggers?|methods?|status|"
                    r"clients?|librar(?:y|ies)|sdks?|verbs?|codes?|responses?|actions?)\b)", needles=("http", "tls", "ssl"))


def port_phrases(text: str | None) -> dict[str | None, list[str]]:
    """Ports a sentence states, by protocol: ``{"udp": ["123"]}``, ``{None: ["8704-8710"]}``.

    A phrase's own protocol wins; unqualified ports take the one transport the sentence names
    (``tcp``/``udp``), else ``tcp`` when it names HTTPS/HTTP/TLS. No port but "over HTTPS" → 443."""
    return {k: list(v) for k, v in _port_phrases(text)}


@memo
def _port_phrases(text: str | None) -> tuple[tuple[str | None, tuple[str, ...]], ...]:
    """:func:`port_phrases` once per text (a sentence is read whole, by clause and by its neighbours)."""
    t = clean_text(text or "")
    if not t or not _DIGIT.search(t):
        return ()
    found: dict[str | None, list[str]] = {}
    spans: list[tuple[int, int]] = []
    phrases: list[tuple[int, str | None, list[str]]] = []
    for rx in _PORT_PHRASES:
        for m in rx.finditer(t):
            if any(a <= m.start() < b or a < m.end() <= b for a, b in spans):
                continue
            gd = m.groupdict()
            ports = ports_in(t[m.start("n"):m.end("n")])  # as written: Folded groups are lower-cased
            if not ports or _SOURCE_BEFORE.search(t, max(0, m.start() - 12), m.start() + 10):
                continue  # ("uses source ports 1024 through 49999": the client's side, nothing to open)
            spans.append(m.span())
            proto = TCP_AND_UDP if gd.get("b") or gd.get("q2") and gd["q2"] != gd.get("q") else (
                gd.get("p") or gd.get("q") or "").lower() or ("tcp" if gd.get("a") else None)
            phrases.append((m.start(), proto, ports))
    # an unqualified port list takes the transport of the qualified one before it ("TCP port 988 and
    # ports 1019-1023"), else the one transport the sentence names outside its qualified phrases
    # ("ports 80 and 443 over TCP"; in "ports 80 and 443, and UDP 3478" 80 and 443 are not UDP)
    rest = t
    for a, b in sorted(spans, reverse=True):
        rest = rest[:a] + " " + rest[b:]
    transports = {m.group(1).lower() for m in _TRANSPORT.finditer(rest)}
    apps = {m.group(1).lower() for m in _APP_PROTO.finditer(t)}
    if not transports and not apps and _DIGIT.search(t):
        # "SMB over port 445", "NTP on port 123": an application protocol with one transport
        transports = {_ONE_TRANSPORT[m.group(1).lower()] for m in _ONE_TRANSPORT_APP.finditer(t)}
    default = transports.pop() if len(transports) == 1 else TCP_AND_UDP if len(transports) == 2 else (
        "tcp" if apps else None)
    phrases.sort(key=lambda x: x[0])
    before: str | None = None
    for _, proto, ports in phrases:
        if proto is None:
            proto = before or default
        elif proto in ("tcp", "udp", TCP_AND_UDP):
            before = proto
        found.setdefault(proto, []).extend(ports)
    return tuple((k, tuple(sort_ports(v))) for k, v in found.items() if v)


def implied_ports(text: str | None) -> dict[str | None, list[str]]:
    """"over HTTPS" with no port number: 443 (HTTP: 80), over TCP. Used only for named parties."""
    apps = {m.group(1).lower() for m in _APP_PROTO.finditer(clean_text(text or ""))}
    if "https" in apps or "tls" in apps:
        return {"tcp": ["443"]}
    return {"tcp": ["80"]} if "http" in apps else {}


# ---------------------------------------------------------------- parties in text


_CAMEL = re.compile(r"^(?:[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Z][A-Za-z0-9]*\.(?:[A-Za-z0-9_]+|<[^<>]+>|\{[^{}]+\}))$")
# a capital not glued to a word, a dot, ``<>`` or ``/``: the lookbehind comes after the capital, so the
# engine skips to capitals at C speed (the same matches as a leading ``(?<![\w.<>/-])``)
_TAG_TOKEN = re.compile(r"[A-Z](?<![\w.<>/-][A-Z])[A-Za-z0-9]*(?:\.(?:[A-Za-z0-9_]+|<[^<>\s]+>|\{[^{}\s]+\}))?"
                        r"(?![\w<>/-]|\.\w)")


def _accept_tag(value: str, text: str, *, code: bool = False, tag_context: bool = False) -> str | None:
    """Whether a tag-shaped word in running text is a service tag, spelled canonically.

    A known Azure tag name counts when it is CamelCase/dotted (``AzureMonitor``, ``Storage.WestUS``),
    in code, or written next to the words "(service) tag"; "Storage" or "Internet" as plain words
    are not tags. An unknown name counts only when CamelCase/dotted *and* written next to
    "service tag" or standing alone under a "service tags" lead-in (``tag_context``): a CamelCase
    word in code (``VirtualMachineConfiguration``) is a setting, not a tag."""
    shaped = _CAMEL.match(value) is not None
    known = canonical_tag(value)
    if not (shaped or known or code and _next_to_tag_words(value, text)) or not is_tag(value):
        return None  # (a one-word name counts when written as code right by "service tag": "`Intune`")
    if known and (shaped or code):
        return known
    if tag_context and shaped:
        return value
    if known and f"({value})" in text and _NSG_WORDS.search(text):
        return known  # "NSG rules for … Azure Storage (Storage)": the tag a service's name is given as
    return (known or value) if _next_to_tag_words(value, text) else None


# "Note that the source can be either the Internet or …": the party of the sentence before's ports
_PARTY_OF_PREVIOUS = Gate(re.compile(r"\b(?:the\s+)?(?:source|destination)\s+(?:(?:can|could|must|should|may|will)\s+be|is)\b", re.I), ("source", "destination"))
_INTERNET_WORD = Gate(re.compile(r"\b(?:(?:to|from|with)\s+(?:the\s+)?(?:public\s+)?|can\s+be\s+(?:either\s+)?(?:the\s+)?)internet\b(?!\s*-)", re.I), ("internet",))
# a sentence about NSG or service tag rules, where "Name (Tag)" gives a service's tag
_NSG_WORDS = Gate(re.compile(r"\b(?:service\s+tags?|NSGs?|network\s+security\s+(?:groups?|rules?)|security\s+rules?)\b", re.I), ("tag", "nsg", "security"))


_TAG_AFTER = re.compile(r"`?\s+(?:service\s+)?tags?\b", re.I)
_TAG_BEFORE = re.compile(r"\btags?\s+`?$", re.I)


def _next_to_tag_words(value: str, text: str) -> bool:
    """``value`` is written right before "(service) tag(s)" or right after "tag"."""
    start = text.find(value)
    while start >= 0:
        end = start + len(value)
        whole = not (start and text[start - 1].isalnum() or text[end:end + 1].isalnum())  # ("SignalR" in "AzureSignalR")
        if whole and (_TAG_AFTER.match(text, end) or _TAG_BEFORE.search(text[max(0, start - 12):start])):
            return True
        start = text.find(value, end)
    return False


# These gates run over every paragraph, so each is written to start with a literal or a narrow
# character class, which the regex engine skips to at C speed (a leading ``\b`` or a wide class is
# tried at every character: ten times slower on prose).
# a dot between name characters ("login.live.com", "1.2.3.4", "<region>.example", "*.blob")
_HOSTISH = re.compile(r"\.(?<=[\w*>}]\.)(?=[\w*<{])")
_CAMEL_STEP = re.compile(r"[A-Z](?<=[a-z0-9][A-Z])")  # "AzureMonitor"
_TAG_DOT = re.compile(r"[A-Z](?<!\w[A-Z])[A-Za-z0-9]*\.[A-Za-z<{]")  # "Storage.WestUS", "AzureCloud.<region>"
_TAG_NOUN = re.compile(r"\btags?\b")
_TAG_NOUN_ANY_CASE = re.compile(r"\b[Tt][Aa][Gg][Ss]?\b")


@memo
def _tagish(text: str) -> bool:
    """A CamelCase word, a ``Tag.Region`` word or the word "tag": text that may name a service tag."""
    if _CAMEL_STEP.search(text) or "." in text and _TAG_DOT.search(text):
        return True
    if text.isascii():
        low = text.lower()
        return "tag" in low and _TAG_NOUN.search(low) is not None
    return _TAG_NOUN_ANY_CASE.search(text) is not None


@memo
def _worth_reading(text: str) -> bool:
    """Cheap gate: text with no dotted name, no digit and no tag-like word states no rule."""
    return _HOSTISH.search(text) is not None or _DIGIT.search(text) is not None or _tagish(text)


def _text_tags(text: str, code: list[str], tag_context: bool) -> list[str]:
    out = []
    for c in code:
        if is_tag(c):
            tag = _accept_tag(c, text, code=True, tag_context=tag_context)
            if tag:
                out.append(tag)
    for m in _TAG_TOKEN.finditer(text):
        tag = _accept_tag(m.group(0), text, tag_context=tag_context)
        if tag:
            out.append(tag)
    if "tag" in text:  # "use service tag AzureCloud or Internet": every known name of the list
        for rx in (_TAG_LIST_AFTER, _TAG_LIST_BEFORE):  # (… and "to the A, B, and C service tags")
            for m in rx.finditer(text):
                out += [t for t in (canonical_tag(n) for n in _TAG_NAME.findall(m.group(1))) if t and t not in out]
    return out


_TAG_LIST_AFTER = re.compile(r"\btags?\s+(`?[A-Z][\w.]*`?(?:\s*(?:,|\bor\b|\band\b)\s*`?[A-Z][\w.]*`?)+)")
_TAG_LIST_BEFORE = re.compile(r"((?:`?[A-Z][\w.]*`?\s*(?:,\s*(?:and|or)\b|,|\bor\b|\band\b)\s*)+`?[A-Z][\w.]*`?)\s+(?:service\s+)?tags\b")
_TAG_NAME = re.compile(r"[A-Z][\w.]*")


_BYPASS_SENTENCE = re.compile(r"\bno_?proxy\b|\bproxy\s+bypass\b|\bbypass\s+(?:the\s+)?proxy\b", re.I)
_INTERNAL_SUFFIX = (".svc", ".local", ".internal", ".lan", ".localdomain", "localhost", ".default")


def _internal(kind: str, value: str) -> bool:
    """An address of the machine or cluster itself, never a firewall destination."""
    if kind in ("ip", "cidr"):
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return net.is_loopback or net.is_link_local and not value.startswith("169.254.169.254")
    host = value.split("://")[-1].split("/")[0].split(":")[0].lower()
    return host.endswith(_INTERNAL_SUFFIX)


def _example_address(value: str) -> bool:
    """A private, loopback, link-local or documentation address: what an example makes up
    ("for example `10.0.0.4`"), where a public range after "for example" is a real one."""
    try:
        net = ipaddress.ip_network(value.split("-", 1)[0].strip(), strict=False)
    except ValueError:
        return True
    return documentation_address(value) or net.is_private or net.is_loopback or net.is_link_local


# a proxy-style address on an example domain ("a proxy such as `http://proxy.example.com:3128`")
_EXAMPLE_DOMAIN = re.compile(r"^[a-z]+://(?:[\w-]+\.)*example\.(?:com|net|org):\d+", re.I)
_RESOURCE_PATH = re.compile(r"^Microsoft\.[A-Za-z]+/", re.I)
_DNS_ZONE = re.compile(r"\b(?:dns|private dns)\s+zones?\b|\bzone\s+names?\b", re.I)
_QUERIES_FOR = re.compile(r"\b(?:quer(?:y|ies)|lookups?|forwarders?|resolution|records?)\s+for\s+(?:the\s+)?[`'\"]?\s*$", re.I)
_ENDS_IN = re.compile(r"\bends?\s+(?:in|with)\s+[`'\"]?\.?$", re.I)
_ZONE_AFTER = re.compile(r"[`'\"]?\s+(?:private\s+)?(?:dns\s+)?zones?\b", re.I)
_ZONE_BEFORE = re.compile(r"\bzones?\s+(?:like|such\s+as|named|called|for|\(?\s*(?:for\s+example|e\.g\.),?)\s+[`'\"]?$", re.I)  # "forwarders for zones like `x`"
_PUBLISHED_AT = re.compile(r"\b(?:published|documented|described)\s+(?:\w+\s+){0,5}?(?:at|in|on)\s*[`'\"]?\s*$", re.I)
_IP_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\d{1,3}(?:\.\d{1,3}){3}(?:[:/]|$)", re.I)


def _instance_of_placeholder(text: str, value: str) -> bool:
    """The sentence names a ``<placeholder>`` and ``value`` comes after its "for example": the
    placeholder filled in, not a host of its own."""
    marker = _EXAMPLE.search(text)
    return marker is not None and _PLACEHOLDER_WORDS.search(text, 0, marker.start()) is not None and text.find(value) > marker.start()


_OWN_ADDRESSES = re.compile(r"(?:\b(?:your|each|every|its|their)\b[^.]{0,60}\b(?:address(?:es)?|ips?|ranges?|cidrs?|prefix(?:es)?|subnets?)"
                            r"|\b(?:address(?:es)?|ips?|ranges?|cidrs?|prefix(?:es)?|subnets?)\s+of\s+(?:your|each|every|its|their)\b)"
                            r"[^.]{0,40}$", re.I)


def _instance_of_own_address(text: str, value: str) -> bool:
    """"… add the egress addresses of each member cluster, for example `20.51.7.12/32`": the address
    after "for example" shows what the reader's own addresses look like."""
    at = text.find(value)
    marker = _EXAMPLE.search(text, 0, at) if at > 0 else None
    return marker is not None and _OWN_ADDRESSES.search(text, 0, marker.start()) is not None


def readers_network(kind: str, value: str) -> bool:
    """A private or documentation address written in a sentence ("between the server VLAN
    `10.20.30.0/24` and the hub"): the reader's own network or a made-up one, never a published
    destination."""
    return kind in ("ip", "cidr", "ip_range") and (private_address(value) or documentation_address(value))


def passing_mention(text: str, kind: str, value: str) -> str | None:
    """Why a token of a sentence is named in passing, not as a party (coverage sets it aside for
    the same reasons :func:`text_parties` and the sentence reader skip it)."""
    if readers_network(kind, value):
        return "a private or documentation address in a sentence: the reader's own network"
    return _named_as_name(text, kind, value)


def _named_as_name(text: str, kind: str, value: str) -> str | None:
    if kind in ("fqdn", "wildcard", "template") and ("zone" in text or "Zone" in text):
        at = text.find(value)
        if _DNS_ZONE.search(text) or _ZONE_AFTER.match(text, at + len(value)) or _ZONE_BEFORE.search(text[max(0, at - 30):at]):
            return "a DNS zone name, not a destination"
    if kind in ("ip", "cidr", "ip_range") and _instance_of_own_address(text, value):
        return "an example of the reader's own addresses (\"the egress addresses of each cluster, for example x\")"
    if kind in ("fqdn", "url") and _instance_of_placeholder(text, value):
        return "an example value of a <placeholder> in the sentence"
    return None


def text_parties(text: str, code: list[str], *, tag_context: bool = False,
                 example: bool = False, bold: list[str] | tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Hosts/URLs/IPs/CIDRs/tags a piece of running text names, as ``(kind, value)``.

    Code spans inside the text are read as code (a command span gives nothing), the rest as
    words; tags need :func:`_accept_tag`; file names (``setup.exe``) are not hosts."""
    spans = []
    plain = text
    for c in sorted((c for c in code if c and c in text), key=len, reverse=True):
        if c in plain:  # (a short span, "`.net`", may sit only inside a longer one: then it is not named here)
            spans.append(c)
            plain = plain.replace(c, " , ")
    found = parties_in_cell(Cell(code=spans), want_tags=False) if spans else []
    if _HOSTISH.search(plain):  # words only: no dotted name, no address, nothing to classify
        # (a sentence's parentheses hold addresses too: "with WireServer (168.63.129.16)")
        found += parties_in_cell(Cell.from_items([plain.replace("(", " ").replace(")", " ")]), want_tags=False)
    if spans or _tagish(text):
        found += [("tag", t) for t in _text_tags(text, spans, tag_context)]
    for b in bold if "hop" not in text.lower() else ():
        # a known tag name set in bold is a reference to it ("outbound to the **Internet**"), but a
        # route's "**Next hop type**: **Internet**" is where traffic goes next, not a party
        known = canonical_tag(b.strip(" .,:;"))
        if known and b in text:
            found.append(("tag", known))
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for kind, value in found:
        if kind != "tag" and (_FILE_EXT.search(value.rstrip("/")) or value.split(":")[0] in (ANY_ADDRESS, "0.0.0.0/0", "0.0.0.0")):
            continue  # a file name; "any"/the default route/"all addresses" is not a party named in prose
        if kind == "url" and _RESOURCE_PATH.match(value):
            continue  # "Microsoft.DBforPostgreSQL/flexibleServers": a resource type, not an address
        if kind in ("fqdn", "wildcard", "template") and (" for " in text and _QUERIES_FOR.search(
                text[max(0, text.find(value) - 40):max(0, text.find(value))])) or _named_as_name(text, kind, value):
            continue  # "the zone name must end with `postgres.database.azure.com`", "… the `privatelink.x.net`
            # zone", "forward queries for `x.net` to …": a DNS name, not a destination; "Replace `<region>`
            # …, for example `westus2.hub.x.net`": a filled-in template
        if _internal(kind, value):
            continue  # localhost, 127.0.0.1, kubernetes.default.svc: the machine or cluster itself (proxy bypass lists)
        if kind in ("ip", "cidr") and "proxy" in text.lower() and _BYPASS_SENTENCE.search(text) and (
                private_address(value) or value.startswith("169.254.")):
            continue  # "Add `169.254.169.254` to the `no_proxy` list": what skips the proxy, not a destination
        if example and (_EXAMPLE_PARTY.search(value) or kind in ("ip", "cidr", "ip_range") and _example_address(value)
                        or _IP_URL.match(value) or _EXAMPLE_DOMAIN.search(value)):
            continue  # an example's made-up address ("https://192.168.10.20:44368" too); real ranges stay
        if kind != "tag" and _CONTOSO.search(value):
            continue  # a fictitious company's domain ("contoso-corpsensorapi.atp.azure.com"): always an example
        if kind in ("fqdn", "wildcard") and "end" in text and _ENDS_IN.search(text[max(0, text.find(value) - 30):text.find(value)]):
            continue  # "The server name always ends in `.datawarehouse.fabric.microsoft.com`": a suffix, not a host
        if kind == "url" and ("ublish" in text or "ocument" in text or "escribed" in text):
            at = text.find(value)
            if at > 0 and _PUBLISHED_AT.search(text[max(0, at - 80):at]):
                continue  # "The same data is published by the web service at `https://…`": where to read, not reach
        if value.lower() not in seen:
            seen.add(value.lower())
            out.append((kind, value))
    return out


# ---------------------------------------------------------------- block context


@dataclass
class _BlockCtx:
    cloud: str | None
    tab: str | None
    direction: str | None
    both: bool
    required: bool | None
    section: list[str]
    lead_ports: dict[str | None, list[str]] = field(default_factory=dict)
    example: bool = False
    tag_context: bool = False
    # the page's placeholder hosts by their placeholder's words ("namespace" → <namespace>.servicebus…)
    templates: dict[str, list[str]] = field(default_factory=dict)
    roles: tuple[Rule, ...] = ()  # the page's table rules whose party is a role ("Log forwarder")


def _ports_for_what_follows(lead_in: str | None) -> dict[str | None, list[str]]:
    """Of a lead-in stating two port sets, those of the clause that points at what follows ("it needs TCP
    443 to the following names, and TCP 80 to `crl.x.com` for …": the code block's hosts are on 443)."""
    if not lead_in or not _WHAT_FOLLOWS.search(lead_in):
        return {}
    parts = [p for p in _CLAUSE.split(sentences(lead_in)[-1]) if p and not _CLAUSE.fullmatch(p)]
    if len(parts) < 2:
        return {}
    pointing = [p for p in parts if _WHAT_FOLLOWS.search(p) and port_phrases(p)]
    return port_phrases(pointing[0]) if len(pointing) == 1 and sum(1 for p in parts if port_phrases(p)) > 1 else {}


def _block_ctx(block: Block, memo: dict) -> _BlockCtx:
    """The table context rules applied to a block; a paragraph's previous paragraph is not its
    lead-in (only code blocks and list items take facts from the paragraph that introduces them)."""
    lead_in = block.lead_in if block.kind in ("code", "list_item") else None
    key = (tuple(block.headings), tuple(block.tabs), lead_in)
    hit = memo.get(key)
    if hit is None:
        ctx = _context(Table(headings=list(block.headings), tabs=list(block.tabs), lead_in=lead_in))
        lead_ports = _ports_for_what_follows(lead_in) or port_phrases(lead_in) or dict(ctx.ports) or implied_ports(lead_in)
        innermost = block.headings[-1] if block.headings else ""
        hit = _BlockCtx(
            cloud=ctx.cloud, tab=ctx.tab, direction=ctx.direction, both=ctx.direction_both, required=ctx.required,
            section=list(ctx.section), lead_ports=lead_ports,
            example=bool(_EXAMPLE_CONTEXT.search(lead_in or "") or _EXAMPLE_HEADING.search(innermost)),
            tag_context=bool(_TAG_WORDS.search(lead_in or "") or _TAG_WORDS.search(innermost)),
            templates=memo.get(_TEMPLATES, {}),
            roles=memo.get(_ROLES, ()),
        )
        memo[key] = hit
    return hit


_EXAMPLE_ASIDE = re.compile(r",\s*(?:for\s+example|for\s+instance|e\.g\.)[^,:]*,", re.I)


class _LazyCtx:
    """A block's :class:`_BlockCtx`, worked out on first use: most paragraphs state no rule, and
    the example/tag flags a list item or code block is first checked against need no table context."""

    __slots__ = ("_block", "_memo", "_ctx")

    def __init__(self, block: Block, memo: dict) -> None:
        self._block, self._memo, self._ctx = block, memo, None

    @property
    def example(self) -> bool:
        lead = self._block.lead_in if self._block.kind in ("code", "list_item") else None
        innermost = self._block.headings[-1] if self._block.headings else ""
        # (only the sentence that introduces the block, and not an aside in it: "Outbound traffic, for
        # example for operating system updates, goes through a server …")
        said = _EXAMPLE_ASIDE.sub(" ", sentences(lead)[-1]) if lead else ""
        return bool(_EXAMPLE_CONTEXT.search(said) or _EXAMPLE_HEADING.search(innermost))

    @property
    def memo(self) -> dict:
        """The page's shared memo (templates, table roles, paragraph lead-ins)."""
        return self._memo

    def __getattr__(self, name: str):
        if self._ctx is None:
            self._ctx = _block_ctx(self._block, self._memo)
        return getattr(self._ctx, name)


def _rules_for(parties: list[tuple[str, str]], ports: dict[str | None, list[str]], ctx: _BlockCtx, *,
               origin: str, direction: str | None = None) -> list[Rule]:
    """One rule per party × protocol group (a party's own ``:port``/scheme wins over the text's)."""
    out: list[Rule] = []
    groups = ports or {None: []}
    for kind, value in parties:
        endpoint, ekind, tag, extra, implied = _party_fields(kind, value)
        named = ekind in ("fqdn", "wildcard", "url", "template")
        d = direction or ctx.direction or ("both" if ctx.both else None) or ("outbound" if named else None)
        for proto, plist in ({implied or None: extra}.items() if extra else groups.items()):
            out.append(Rule(
                endpoint=endpoint, endpoint_kind=ekind, service_tag=tag, ports=sort_ports(plist),
                protocol=proto or implied, direction=d, cloud=ctx.cloud, tab=ctx.tab, required=ctx.required,
                section=list(ctx.section), origin=origin,
            ))
    return out


# ---------------------------------------------------------------- the three shapes

_SPACE = re.compile(r"\s")
_BOTH_WORDS = Gate(re.compile(r"\b(both|bidirectional)\b|inbound\s+and\s+outbound|outbound\s+and\s+inbound", re.I), ("both", "bidirectional", "inbound"))
_HEAD_END = re.compile(r"\s*(?::|\s[-–—]\s|\()")  # where a list item's head ends: ":", " - ", "("
_PORT_BOUNDS = re.compile(r"(\d+)(?:-(\d+))?")
_LINE_JUNK = re.compile(r"^\s*(?:[-*•+]\s+|\d{1,3}[.)]\s+)?[\"'`]?|[\"'`]?\s*[,;]?\s*$")


def _code_parties(block: Block, ctx: _BlockCtx) -> list[tuple[str, str]] | None:
    """The parties of a code block that is a plain host/URL/IP (or tag) list, else ``None``."""
    parties: list[tuple[str, str]] = []
    for raw in block.text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "//", ";")):
            continue
        tok = _LINE_JUNK.sub("", line)
        if not tok or _SPACE.search(tok):
            return None
        found = parties_in_cell(Cell(code=[tok]))
        if len(found) != 1:
            return None
        kind, value = found[0]
        if kind == "tag":
            value = _accept_tag(value, tok, code=ctx.tag_context, tag_context=ctx.tag_context)
            if value is None:
                return None
        elif _FILE_EXT.search(value.rstrip("/")):
            return None
        parties.append((kind, value))
    return parties or None


def _command_rules(block: Block, ctx: _BlockCtx) -> list[Rule]:
    """The allow rules of a code block's NSG/firewall rule commands (see :mod:`docwatch.cli_rules`)."""
    out: list[Rule] = []
    for cmd in cli_rules(block.text):
        parties = []
        for value in cmd.parties:
            found = parties_in_cell(Cell(code=[value]))
            if len(found) != 1:
                continue
            kind, name = found[0]
            if kind != "tag":
                parties.append((kind, name))
            elif is_tag(name):
                parties.append((kind, canonical_tag(name) or name))
        out += _rules_for(parties, cmd.ports, ctx, origin="code", direction=cmd.direction)
    return out


# "West Europe - 52.136.197.163", "US Gov: 13.72.14.155", "Add-OMSGatewayAllowedHost host.example.net"
_LABELLED_LINE = re.compile(r"^(?P<label>[A-Za-z][\w ()'.]{0,60}?)(?:\s+[-–]\s+|:\s+)(?P<addr>\S+)$"
                            r"|^(?P<cmd>[A-Za-z]+-[A-Za-z]+)\s+(?P<arg>\S+)$")


def _labelled_code_rules(block: Block, ctx: _BlockCtx) -> list[Rule]:
    """A code block listing "West Europe - 52.136.197.163" lines under comment headers ("# Azure
    US Government") and short label lines, when its lead-in asks for them ("make sure the
    following IPs are allowed … on port 443"): each address, with the cloud its header names."""
    lead = block.lead_in or ""
    if not (_CUE.search(lead) and not _NEG.search(lead)):
        return []
    rules: list[Rule] = []
    cloud = None
    for raw in block.text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(("#", "//")):
            cloud = cloud_of_label(line.lstrip("#/ ")) or cloud
            continue
        m = _LABELLED_LINE.match(line)
        found = parties_in_cell(Cell(code=[m.group("addr") or m.group("arg")])) if m else []
        if len(found) != 1 or found[0][0] == "tag":
            if len(line.split()) <= 3 and not _HOSTISH.search(line):
                continue  # a label line ("RHUI 4")
            return []  # not that shape: commands, config, prose
        for r in _rules_for(found, ctx.lead_ports, ctx, origin="code"):
            r.cloud = r.cloud or cloud
            rules.append(r)
    return rules


_CLAUSE = Gate(re.compile(r"(;\s+|,\s+(?:and|but|while|whereas)\s+|,\s+(?=(?:inbound|outbound|ingress|egress)\b))", re.I), (";", ","))


# "… isn't blocking outbound TCP 443", "must not inspect traffic to X on TCP 5671" (TLS inspection
# off for X): the traffic must pass, a requirement
_NOT_BLOCKING = Gate(re.compile(r"\b(?:is|are|does|do)\s*(?:n't|\s+not)\s+(?:block(?:ing|ed)?|filter(?:ing|ed)?)\b|"
                           r"\bnot\s+(?:be\s+)?block(?:ed|ing)?\b|"
                           r"\b(?:must|should|do|does|can)\s*(?:n't|\s+not)\s+(?:be\s+)?(?:inspect|intercept|decrypt)\w*\b", re.I), ("block", "filter", "inspect", "intercept", "decrypt"))
_BACK_TO_IT = re.compile(r"\b(?:for|to|on)\s+(?:it|them|this|that|these|those)\b|^\s*(?:that|this|such|the\s+same)\s+(?:traffic|address|connection)", re.I)
_CAN_BE_BLOCKED = Gate(re.compile(r"\s+(?:can|may)\s+(?:safely\s+)?be\s+blocked\b", re.I), ("blocked",))
_LEADING_IF = re.compile(r"^\s*(?:if|when|unless)\b[^,]{0,120},\s*", re.I)
_ANAPHORA = re.compile(r"\b(?:the|this|that|these|those)\s+(?:same\s+)?(?:service\s+)?(?:tags?|endpoints?|urls?|hosts?|"
                       r"address(?:es)?|ranges?|fqdns?)\b|\bthe\s+same\s+(?!ports?\b)\w+", re.I)  # ("… from the same controllers")
_HOST_NOUN = Gate(re.compile(r"\b(?:host\s*names?|hosts?|fqdns?|domains?|urls?|endpoints?|addresses)\b", re.I), ("host", "fqdn", "domain", "url", "endpoint", "address"))
_NONE_NEEDED = Gate(re.compile(r"(?:neither|none)(?:\s+of\s+(?:them|these|those|the)(?:\s+\w+)?)?\s+(?:is|are)\s+(?:required|needed)\b|"
                          r"(?:these|those|they|both)(?:\s+ports)?\s+(?:are|is)\s*(?:n't|\s+not)\s+(?:required|needed)\b", re.I), ("required", "needed"))
_SAME_PORT = Gate(re.compile(r"\b(?:on|over|through)\s+(?:that|this|the\s+same)\s+ports?\b", re.I), ("port",))
_IT_REF = re.compile(r"\b(?:to|reach|reaches|allow)\s+it\b", re.I)
_NAME_FORM = re.compile(r"\bnames?\b[^.]*\b(?:form|format|pattern|shape)\b", re.I)  # "Their names follow the pattern …"
_STRONG_CUE = Gate(re.compile(r"\b(?:allow\w*|permit\w*|open|unblock\w*|whitelist\w*|allow-?list\w*|add|enable|must|"
                         r"needs?|requires?|required|use)\b", re.I), ("allow", "permit", "open", "unblock", "whitelist", "add", "enable", "must", "need", "require", "use"))
_COMMA_CLAUSE = re.compile(r",\s+(?:but\s+|so\s+|and\s+)?|;\s+")


def _clauses(sentence: str, code: list[str]) -> list[str]:
    """A sentence joining requirements ("outbound to 443 to AzureCloud, and inbound on 4443 from
    GatewayManager"; "to the **A** tag on TCP 443 and to the **B** tag on TCP 80") split into its
    clauses, each naming its own ports and party. A piece without either leans on the piece
    before it ("TCP 443 to A and B", "ports 80 and 443 to C"): the two stay one clause."""
    pieces = _CLAUSE.split(sentence)
    if len(pieces) < 2:
        pieces = _AND.split(sentence)
    if len(pieces) < 2:
        return [sentence]
    whole: list[str] = []  # pieces with the separators between them (the split's captured groups)
    for k in range(0, len(pieces), 2):
        piece = pieces[k]
        if whole and k >= 2 and pieces[k - 1].startswith(",") and _OWN_SUBJECT.match(piece) and (
                port_phrases(whole[-1]) or port_phrases(piece)):
            whole.append(piece)  # "…, and they must answer probes from X": a requirement of its own
            continue
        if whole and not (_complete(piece, code) and _complete(whole[-1], code)):
            whole[-1] += pieces[k - 1] + piece
        else:
            whole.append(piece)
    return whole if len(whole) > 1 else [sentence]


def _complete(clause: str, code: list[str]) -> bool:
    """The clause names its own ports and party (an address, a tag, a machine it names: "…, and
    UDP and TCP 53 to the DNS servers you give it", or the list that follows: "TCP 443 to the following
    names, and TCP 80 to `crl.x.com`")."""
    return bool(port_phrases(clause)) and (bool(text_parties(clause, code)) or _FOLLOWING_NAMES.search(clause) is not None
                                           or any(how != "origin" for how, _ in _side_names(clause)))


_FOLLOWING_NAMES = re.compile(r"\b(?:the\s+following|these|the\s+names\s+below|the\s+hosts\s+below)\s+(?:host\s*)?(?:names|hosts|urls|fqdns|"
                              r"domains|endpoints|addresses)\b", re.I)
_AND = re.compile(r"(\s+and\s+)")
_OWN_SUBJECT = re.compile(r"(?:they|it|these|this|you|the\s+\w+(?:\s+\w+)?)\s+(?:must|should|need|needs|also|can|may|will)\b", re.I)
_NUMBERS = re.compile(r"\d+")


_DEFAULT_OPENING = re.compile(r"^(?:by default,?\s+)?all\b", re.I)
_DEFAULT_SUBJECT = re.compile(r"\b(?:endpoints?|urls?|fqdns?|hosts?|connections?|traffic|addresses|requests?|"
                              r"communications?|these|them|items|rows|entries|rules|ports|services)\b", re.I)
_EXCEPT = re.compile(r",?\s+(?:except|other than|apart from)\b", re.I)
_ALL_ABOVE = Gate(re.compile(r"\ball\b[^.]*\b(?:listed\s+)?above\b", re.I), ("above",))
_WHAT_FOLLOWS = Gate(re.compile(r"\b(?:below|the\s+following|listed|in\s+this\s+(?:article|page))\b", re.I), ("below", "following", "listed", "this"))
_ALL_IN_TABLE = Gate(re.compile(r"\ball\b[^.]*\b(?:in|of|on)\s+(?:this|the\s+following|the|these)\s+(?:table|list)s?\b", re.I), ("table", "list"))
# "All these ports are TCP.", "… to the following domains. All connections use HTTPS."
_ALL_TRANSPORT = re.compile(r"(?:^|[.!?]\s+)all\b[^.]{0,60}\b(?:tcp|udp|https?|tls)\b", re.I)
_OTHERWISE = Gate(re.compile(r"\bunless\b[^.]*\b(?:otherwise|specified|stated|noted)\b", re.I), ("unless",))


# "… on port 53 … for communication with DNS servers", "ports 9000 to 9005 for the remote console":
# ports stated for a purpose of their own (after the port: "the agent for Linux talks … over 443"
# is the page's subject), never the page's port for its hosts
_PURPOSE = Gate(re.compile(r"\bfor\s+(?:the\s+|an?\s+)?(?!(?:incoming|outgoing|inbound|outbound|all|any|network|this|these|"
                      r"that|traffic|data|connections?|connectivity|communication)\b)\w+|"
                      r"\bcommunication\s+with\s+(?!(?:the\s+)?(?:service|endpoints?|azure)\b)", re.I), ("for", "communication"))

def _first_digit(text: str) -> int:
    m = _DIGIT.search(text)
    return m.start() if m else 0


# "… on port 1688 to the KMS endpoint in your cloud": a destination the page names but docwatch
# can't read as a party; its port is that destination's
_NAMED_DESTINATION = re.compile(r"\b(?:to|from)\s+(?:the\s+|your\s+|an?\s+)?(\w[\w -]*)")


def _names_destination(sentence: str, block: Block) -> bool:
    """The sentence sends its ports to a link's words ("to the [KMS endpoint](…)"): a destination
    of its own ("to Azure Arc", the service the page is about, is not one)."""
    links = [link["text"].lower() for link in block.links if link.get("text")]
    return bool(links) and any(m.group(1).lower().startswith(t) for m in _NAMED_DESTINATION.finditer(sentence)
                               for t in links)


@dataclass
class SectionDefault:
    """ "All endpoints connect over port 443 unless otherwise stated.": the ports or transport of
    every rule in the sentence's section that states none itself."""

    section: tuple[str, ...]
    ports: dict[str | None, list[str]]
    protocol: str | None
    # "Azure File Sync … requires port 443 to be open outbound.": a port stated for no party is the
    # port of the bare hosts of this section and the sections after it (see apply_defaults)
    page_wide: bool = False
    direction: str | None = None
    stand_ins: list[Rule] = field(default_factory=list)  # the any-address rules it made
    local: bool = False  # it speaks for its own section only


def section_default(sentence: str, headings: list[str]) -> SectionDefault | None:
    """A sentence stating the section's default port or transport, else ``None``."""
    if sentence.isascii():  # the words the four openings need, at C speed (re.I folds some non-ASCII letters)
        low = sentence.lower()
        if ("above" not in low and "unless" not in low and not low.startswith(("all", "by default"))
                and " all " not in low):
            return None
    above = _ALL_ABOVE.search(sentence) is not None  # "Access to all of the URLs … listed above uses … 443"
    if not (_DEFAULT_OPENING.search(sentence) or _OTHERWISE.search(sentence) or above
            or _ALL_IN_TABLE.search(sentence)):  # "The protocol for all items in this table is TCP."
        return None
    if not _DEFAULT_SUBJECT.search(sentence):
        return None
    sentence = _EXCEPT.split(sentence, 1)[0]  # "All traffic is over TCP 443, except the CRL URLs, which use 80"
    ports = port_phrases(sentence)
    transports = {m.group(1).lower() for m in _TRANSPORT.finditer(sentence)}
    protocol = transports.pop() if len(transports) == 1 else (
        "tcp" if not transports and _APP_PROTO.search(sentence) else None)  # ("All connections use HTTPS.")
    direction = direction_of(sentence) if _OTHERWISE.search(sentence) else None  # "All connections are outbound unless …"
    if not ports and not protocol and direction not in ("inbound", "outbound"):
        return None
    # what is "listed above" may sit in the sections before this one: the enclosing section's
    return SectionDefault(tuple(headings[:-1] if above and len(headings) > 1 else headings), ports, protocol,
                          direction=direction if direction in ("inbound", "outbound") else None)


def apply_defaults(rules: list[Rule], defaults: list[SectionDefault], order: dict[tuple[str, ...], float]) -> set[int]:
    """Give rules what the page's default statements say and they leave open (in place: these
    are the page's own unmerged rules). Roles keep their own silence; tags too, except a list of
    tags in a page-wide port statement's own section ("### Service tags: Allow these: - Storage …").

    A statement speaks for its own section; a page-wide port statement, or a default in a section
    with no rules of its own ("## Details: All connections are TCP unless otherwise specified."),
    also for the sections after it inside the section enclosing it ("## Ports" speaks for the
    page, "### Ports" under "## Scenario: VS Code" only for that scenario). ``order``: each
    section's place on the page. A host takes a page-wide port only where the statements reaching
    it agree (443 here and 1433 there for no party says nothing about a bare host after both), and
    its direction too when it has none. Returns the ids of the any-address rules made by page-wide
    statements that gave their port to some host: those rules only stood in for the hosts."""
    used: set[int] = set()
    if not defaults:
        return used
    def own(d: SectionDefault, r: Rule) -> bool:
        return tuple(r.section[:len(d.section)]) == d.section

    def later(d: SectionDefault, r: Rule) -> bool:
        up = d.section[:-1]
        return tuple(r.section[:len(up)]) == up and order.get(tuple(r.section), -1) >= order.get(d.section, len(order))

    empty = {id(d) for d in defaults if not d.page_wide
             and not any(own(d, r) and r.endpoint != ANY_ADDRESS for r in rules)}
    reach = {id(d): (lambda r, d=d: own(d, r) or (d.page_wide and not d.local or id(d) in empty) and later(d, r))
             for d in defaults}
    wide = [d for d in defaults if d.page_wide]
    stated = {r.party.lower() for r in rules if r.ports}  # a restatement takes its ports from the rule it restates
    for r in rules:
        if r.endpoint_kind == "role":  # (a role keeps its own ports, but "All these ports are TCP." is its transport too)
            for d in defaults:
                if not d.page_wide and d.protocol and r.protocol is None and r.ports and own(d, r):
                    r.protocol = d.protocol
            continue
        if r.endpoint == ANY_ADDRESS:
            continue
        for d in defaults:  # the section's own port first ("### Port 5986 - management …")
            if not d.page_wide and d.ports and not r.ports and r.endpoint and len(d.ports) == 1 and reach[id(d)](r):
                (proto, plist), = d.ports.items()
                r.ports, r.protocol = sort_ports(plist), r.protocol or proto
        if not r.ports and r.party.lower() not in stated:
            here = [d for d in wide if reach[id(d)](r) and (r.endpoint or r.origin == "list" and own(d, r))
                    and not (r.direction and d.direction and r.direction != d.direction)]
            port_sets = {tuple(sorted(p for v in d.ports.values() for p in v)) for d in here}
            if len(port_sets) > 1:  # disagreeing: its own section's statements, if they agree, speak for it
                here = [d for d in here if tuple(r.section) == d.section]
                port_sets = {tuple(sorted(p for v in d.ports.values() for p in v)) for d in here}
            if len(port_sets) == 1:  # none reaching it, or disagreeing: the page says nothing
                protocols = {k for d in here for k in d.ports} - {None}
                directions = {d.direction for d in here} - {None}
                r.ports = sort_ports(list(port_sets.pop()))
                r.protocol = r.protocol or (protocols.pop() if len(protocols) == 1 else None)
                r.direction = r.direction or (directions.pop() if len(directions) == 1 else None)
                used.update(id(x) for d in here for x in d.stand_ins)
        elif r.ports and (r.direction in (None, "both") or r.protocol is None):
            # "… all over TCP 443 outbound." then "use **GuestAndHybridManagement** on TCP 443": the
            # statement's direction (and transport: "Every call goes out over HTTPS on TCP port 443" over
            # an "Endpoint:port" table of `host:443`) for a rule of its section on the same ports; a
            # statement naming one direction for its ports ("The `https://` patterns use TCP port 443 and
            # the `http://` ones TCP port 80, in the outbound direction") beats a lead-in's "filter inbound
            # and outbound traffic"
            agreeing = [d for d in wide if reach[id(d)](r) and sorted(p for v in d.ports.values() for p in v) == sorted(r.ports)]
            same = {d.direction for d in agreeing if d.direction}
            if len(same) == 1 and r.direction is None:
                r.direction = same.pop()
            covering = {d.direction for d in wide if reach[id(d)](r) and d.direction in ("inbound", "outbound")
                        and set(r.ports) <= {p for v in d.ports.values() for p in v}}
            if r.direction == "both" and len(covering) == 1 and r.endpoint_kind in ("url", "fqdn", "wildcard", "template"):
                r.direction = covering.pop()
            transports = {k for d in agreeing for k in d.ports}
            if r.protocol is None and len(transports) == 1 and None not in transports:
                r.protocol = transports.pop()
        for d in defaults:
            if d.page_wide or not reach[id(d)](r):
                continue
            if d.protocol and r.protocol is None and (r.ports or id(d) in empty):
                r.protocol = d.protocol  # (a page's principle covers a rule its table gives no port: one rule still)
            if d.direction and r.direction is None:
                r.direction = d.direction
    return used


def _sentence_rules(sentence: str, block: Block, ctx: _BlockCtx, *, origin: str, lead_in_of_next: bool,
                    list_context: bool = False, leads_code: bool = False,
                    defaults: list[SectionDefault] | None = None,
                    carried: tuple[bool, str | None, str | None] = (False, None, None)) -> list[Rule]:
    """``carried``: the cue, direction and subject of the sentence a clause was split from ("Allow
    outbound traffic to A on TCP 443 and to B on TCP 80": the second clause asks the same; "The VM
    needs UDP 123 to the NTP server, and TCP 53 to the DNS servers": the VM connects to both)."""
    if defaults is not None:
        default = section_default(sentence, block.headings)
        if default is not None:  # a default for the section's rules, not a rule of its own
            defaults.append(default)
            return []
    if not _worth_reading(sentence) and not list_context or _SWAP.search(sentence):
        return []  # (a port swap is applied to the section's rules: see _apply_swaps)
    splits = _CLAUSE.search(sentence) or " and " in sentence and len(_NUMBERS.findall(sentence)) > 1
    clauses = _clauses(sentence, block.code) if splits else [sentence]
    if len(clauses) > 1:
        first = direction_of(clauses[0])
        carry = (_CUE.search(sentence) is not None, first if first in ("inbound", "outbound") else None, _subject_name(clauses[0]))
        # (a clause's port for no party, beside a clause naming one, speaks for that sentence, not the page:
        # "… on UDP ports 10800 and 10801, and they must answer probes from 168.63.129.16")
        named = any(text_parties(c, block.code) for c in clauses)
        out = []
        for c in clauses:
            found = _sentence_rules(c, block, ctx, origin=origin, lead_in_of_next=lead_in_of_next,
                                    list_context=list_context, leads_code=leads_code,
                                    defaults=defaults if not named or text_parties(c, block.code) else None,
                                    carried=carry)
            out += found
        return out
    if leads_code and sentence.endswith(":"):
        if "; " not in sentence and not (port_phrases(sentence) and _STRONG_CUE.search(sentence)
                                         and any(k != "tag" for k, _ in text_parties(sentence, block.code))):
            # it introduces the commands of the code block below (but "Outbound TCP port 443 has to be open to
            # the token service at `sts.x.com` and to the account domain of each region:" names a host itself)
            return []
        sentence = sentence.rsplit("; ", 1)[0]  # "Hosts have the form `…`; run this to list them:": the first half states
    if _CAN_BE_BLOCKED.search(sentence):
        # "If DNS from X isn't desired, outbound traffic to X ports 53/udp and 53/tcp can be blocked":
        # ports the party uses unless you opt out (the rule keeps required open: it merges with the
        # party's required ports)
        kept = _CAN_BE_BLOCKED.sub(" are allowed", _LEADING_IF.sub("", sentence))
        found = _sentence_rules(kept, block, ctx, origin=origin, lead_in_of_next=lead_in_of_next,
                                list_context=list_context, leads_code=leads_code)
        return [r for r in found if r.endpoint != ANY_ADDRESS]
    if NO_RULE_NEEDED.search(sentence):
        return []  # "`168.63.129.16` is always allowed by the platform; you don't need an NSG rule for it"
    negated = _NEG.search(sentence) is not None  # (asked again only when the sentence changed)
    if negated and _LEADING_IF.match(sentence) and not _NEG.search(_LEADING_IF.sub("", sentence, count=1)):
        # "If that server can't be reached, the device falls back to `x` …": the condition is negated, not the requirement
        sentence, negated = _LEADING_IF.sub("", sentence, count=1), False
    if negated and _NOT_BLOCKING.search(sentence):
        sentence = _NOT_BLOCKING.sub("allows", sentence)  # "isn't blocking outbound TCP … 443": a requirement
        negated = _NEG.search(sentence) is not None
    if negated:
        # negated; a clause of it that is not ("As Relay doesn't support tags, use **AzureCloud**")
        # still states its requirement
        kept = [p for p in _COMMA_CLAUSE.split(sentence) if not _NEG.search(p)]
        if not kept or _NEG.search(", ".join(kept)) or not _STRONG_CUE.search(", ".join(kept)):
            return []  # (what is left must itself ask for something: "allow …", "use service tag …")
        return _sentence_rules(", ".join(kept), block, ctx, origin=origin, lead_in_of_next=lead_in_of_next,
                               list_context=list_context, leads_code=leads_code, defaults=defaults)
    cue = _CUE.search(sentence) is not None or _PARTY_OF_PREVIOUS.search(sentence) is not None or carried[0]
    named_tag = not cue and (_TAG_WORDS.search(sentence) is not None or (_digit_in(sentence) or _SAME_PORTS.search(sentence))
                             and any(b in sentence and _TAG_AFTER.match(sentence, sentence.find(b) + len(b)) for b in block.bold))
    # ("The Intune service tag `Intune` covers …"; "… go to the **X** tag on the same port")
    machine = _machine_item(sentence, block, ctx, origin) if block.kind == "list_item" and block.lead_in else []
    if machine:  # "- Windows VMs: WinRM on TCP 5985 and 5986" under "the bridge connects to each VM as follows:"
        return machine
    if not (cue or list_context or named_tag):
        own = port_phrases(sentence)
        if own and not lead_in_of_next and any(how in ("to", "among") for how, _ in _side_names(sentence)):
            # "**NTP**: every device synchronizes time with your NTP servers on UDP 123": a machine and its
            # ports, however the sentence says it
            one_side = _one_side_roles(sentence, own, ctx, origin, carried=carried)
            if one_side:
                return one_side
        if block.kind == "list_item" and block.lead_in and _ASKS.search(block.lead_in) and not _NEG.search(block.lead_in):
            # "Allow the following toward the NVA public IPs: - IKE: UDP port 500 from the branch devices' …":
            # the item names one side, the lead-in asks for it and may name the other
            own = port_phrases(sentence)
            return _one_side_roles(sentence, own, ctx, origin, lead=block.lead_in) if own else []
        return []
    example = _EXAMPLE.search(sentence) is not None
    parties = text_parties(sentence, block.code, example=example, bold=block.bold)
    if block.kind != "list_item":
        parties = [p for p in parties if not readers_network(*p)]

    if (_INTERNET_WORD.search(sentence) and not any(v == "Internet" for _, v in parties)
            and (_NSG_WORDS.search(sentence) or _NSG_WORDS.search(" ".join(block.headings)))):
        parties.append(("tag", "Internet"))  # an NSG rule "to the internet": the Internet tag, in any case
    if named_tag and not list_context:  # only a tag written as code right by the words, never an example
        # (… or set in bold right by the word: "go to the **AzureResourceManager** tag on the same port")
        parties = [] if example else [p for p in parties if p[0] == "tag" and (p[1] in block.code or p[1] in block.bold)]
    own = ports = port_phrases(sentence)
    if not parties and own and ctx.templates:
        parties = _placeholder_party(sentence, ctx.templates)
    if not parties and own and ctx.roles and not example and not lead_in_of_next:
        named = _named_role_rules(sentence, ctx.roles, own, origin)
        if named:
            return named
    if not parties and own and not lead_in_of_next and (" between " in sentence or " from " in sentence and " to " in sentence):
        between = _between_roles(sentence, own, ctx, origin)
        if between:
            return between
    if not parties and own and not (lead_in_of_next and sentence.rstrip().endswith(":")):
        one_side = _one_side_roles(sentence, own, ctx, origin, lead=block.lead_in if block.kind == "list_item" else None,
                                   carried=carried)
        if one_side:
            return one_side
    if list_context and not ports:
        ports = ctx.lead_ports
    direction = direction_of(sentence) or carried[1]
    if direction == "both" and not _BOTH_WORDS.search(sentence):
        direction = None
    if direction is None and parties and _ACCEPT_FROM.search(sentence):
        direction = "inbound"  # "Endpoints … must accept probe traffic from the **AzureTrafficManager** service tag"
    if direction is None and parties and _REACH.search(sentence) and _SUBJECT.match(OPENING_CLAUSE.sub("", sentence, count=1)):
        direction = "outbound"  # "Azure VMs must reach `168.63.129.16` on TCP 80": they open the connection
    statement = (_page_port(sentence, block, own, direction)
                 if defaults is not None and not parties and own and cue and not example else None)
    if statement is not None:
        defaults.append(statement)
    if (defaults is not None and not parties and not own and direction in ("inbound", "outbound") and cue
            and not example and _WHAT_FOLLOWS.search(sentence)):
        # "Microsoft 365 needs outbound connections … to the endpoints below.": the direction of
        # the section's rules that state none
        defaults.append(SectionDefault(tuple(block.headings), {}, None, direction=direction))
    if not (parties or own and cue and not lead_in_of_next and not example and not _EXAMPLE_PARTY.search(sentence)):
        return []  # (a port for an example's host, "Test-NetConnection contoso-… -Port 443", is no any-address rule)
    rules = _rules_for(parties or [("cidr", ANY_ADDRESS)], (ports or implied_ports(sentence)) if parties else own, ctx,
                       origin=origin, direction=direction)
    cloud = None if ctx.cloud else cloud_of_heading(sentence)  # "For Azure Government, allow …"
    own_cloud = _cloud_beside(sentence, [v for _, v in parties]) if cloud and len(parties) > 1 else {}
    for r in rules:
        # ("… reach `login.microsoftonline.com` …, or `login.microsoftonline.us` in Azure Government": the
        # cloud words follow the host they are about; the other host is the public one)
        r.cloud = r.cloud or (own_cloud.get((r.endpoint or r.service_tag or "").lower(), "public") if own_cloud else cloud)
    if statement is not None:
        statement.stand_ins = rules  # dropped once the statement gives its port to the page's hosts
    return rules


_CLOUD_AFTER = re.compile(r"^[`'\"]?\s*(?:\([^)]*\)\s*)?(?:in|for|on)\s+(?:the\s+)?(?P<c>[A-Z][\w ]{2,40}?)(?:[.,;)]|$)")


def _cloud_beside(sentence: str, values: list[str]) -> dict[str, str]:
    """The clouds that name the host right before them ("`x.us` in Azure Government"), by host."""
    out: dict[str, str] = {}
    for v in values:
        at = sentence.find(v)
        m = _CLOUD_AFTER.match(sentence[at + len(v):]) if at >= 0 else None
        c = cloud_of_heading(m.group("c")) if m else None
        if c and c != "public":
            out[v.lower()] = c
    return out


def _page_port(sentence: str, block: Block, own: dict[str | None, list[str]], direction: str | None
               ) -> SectionDefault | None:
    """A port stated for no party, as a page-wide statement: not in a list item (a parent's
    sub-item), one transport, no purpose of its own after the port ("… 53 for communication with
    DNS servers") and no named destination ("to the [KMS endpoint]"). "… to the workspace" speaks
    for its own section only."""
    if (block.kind == "list_item" or len(own) != 1 or _PURPOSE.search(sentence, _first_digit(sentence))
            or _names_destination(sentence, block)):
        return None
    return SectionDefault(tuple(block.headings), own, None, page_wide=True, direction=direction,
                          local=_TO_THE.search(sentence) is not None)


# "In GCC High, the domain is `*.mcas-gov.us` instead.": the rules just stated, for another party
_INSTEAD = Gate(re.compile(r"\binstead\b|\bin\s+place\s+of\b|\breplaced?\s+(?:by|with)\b", re.I), ("instead", "place"))


def _instead_rules(block: Block, before: list[Rule]) -> list[Rule]:
    """The party a sentence puts in place of the section's rules just before it, with their
    ports, protocol and direction, in the cloud the sentence names."""
    before = [r for r in before if r.endpoint and r.endpoint != ANY_ADDRESS and r.endpoint_kind != "role"]
    if len({(tuple(r.ports), r.protocol, r.direction) for r in before}) != 1 or _NEG.search(block.text):
        return []  # (the section's rules must agree on what the new party takes)
    parties = [p for p in text_parties(block.text, block.code) if p[0] != "tag"]
    model = before[-1]
    if not parties or any(v.lower() == (r.endpoint or "").lower() for _, v in parties for r in before):
        return []
    cloud = cloud_of_heading(block.text)
    out = []
    for kind, value in parties:
        endpoint, ekind, tag, _, _ = _party_fields(kind, value)
        out.append(replace(model, endpoint=endpoint, endpoint_kind=ekind, service_tag=tag, cloud=cloud or model.cloud,
                           ports=list(model.ports), origin="prose", table=None, row=None, source=None, destination=None))
    return out


def _give_same_port(found: list[Rule], before: list[Rule]) -> None:
    """Give the rules of a paragraph saying "on the same port" without a port the one port set the
    section's other address rules agree on (in place: the page's own unmerged rules, as
    :func:`apply_defaults` treats them)."""
    said = {(tuple(r.ports), r.protocol) for r in before
            if r.ports and r.endpoint and r.endpoint != ANY_ADDRESS and r.endpoint_kind != "role"}
    if len(said) != 1:
        return
    (ports, protocol), = said
    for r in found:
        if not r.ports and r.endpoint != ANY_ADDRESS:
            r.ports, r.protocol = list(ports), r.protocol or protocol


def _bare_tag(item: str) -> str | None:
    """The head of a list item under a "service tags" lead-in, when it is one tag-shaped name
    (``Storage``, ``AzureMonitor``, ``Storage.<region>``, "Azure Monitor")."""
    head = _HEAD_END.split(item, maxsplit=1)[0].strip(" .,;`*")
    if not head or len(head.split()) > 3:
        return None
    joined = head.replace(" ", "")
    known = canonical_tag(joined)
    if known:
        return known
    return joined if " " not in head and _CAMEL.match(joined) else None


def text_rules(doc: Document, known: list[Rule] | None = None) -> list[Rule]:
    """Unmerged rules from the document's non-table blocks (``origin`` code/list/prose).

    ``known``: the page's table rules; a text rule that restates one of them (same party and
    direction) takes the facts it leaves open (cloud, tab, protocol) from it, see :func:`reconcile`."""
    rules: list[Rule] = []
    defaults: list[SectionDefault] = []
    memo: dict = {_TEMPLATES: _placeholder_hosts(doc, known or []),
                  _ROLES: tuple(r for r in known or () if r.endpoint_kind == "role" and r.endpoint),
                  _PARAGRAPH_LEADS: {b.text: b.lead_in for b in doc.blocks if b.kind == "paragraph" and b.lead_in},
                  _COLUMN_HEADERS: frozenset(clean_text(c).strip(" *").lower() for t in doc.tables for c in t.columns)}
    listed = {(tuple(t.headings), c.text) for t in doc.tables if t.kind == "list" for row in t.rows for c in row}
    leads = {t.lead_in for t in doc.tables if t.lead_in}
    leads.update(b.lead_in for b in doc.blocks if b.lead_in and b.kind in ("code", "list_item"))
    leads_code = {b.lead_in for b in doc.blocks if b.lead_in and b.kind == "code"}
    swaps: list[tuple[tuple[str, ...], str, str]] = []
    marks = {f for t in doc.tables for row in t.rows for c in row for f in c.footnotes}
    same_port: list[tuple[list[Rule], list[str]]] = []
    fielded, consumed = _field_runs(doc)
    rules += fielded
    stepped, used = _portal_steps(doc, consumed)
    rules += stepped
    consumed |= used
    items: list[tuple[Block, list[Rule]]] = []  # the list just read: its items and their rules
    previous: Block | None = None
    for block in doc.blocks:
        if id(block) in consumed:
            continue
        if (block.kind == "code" and not block.lead_in and previous is not None and previous.kind == "code"
                and previous.lead_in and previous.headings == block.headings and previous.source == block.source):
            # "Allow these hosts on TCP 443:" then a "# Windows" block and a "# Linux" block: one lead-in for both
            block = replace(block, lead_in=previous.lead_in)
        previous = block
        if block.kind == "paragraph" and _TABLE_PORTS.search(block.text):
            # "… must also reach the domain controllers of the trusting domain on every server port in the
            # table": the ports of the table before, written in
            told = _with_table_ports(doc, block, known or [])
            if told:
                block = replace(block, text=told)
        stand_ins: set[int] = set()
        if block.kind == "paragraph" and items and _LIST_PORTS.search(block.text):
            # "- TCP 4980-4989 for the gateway / - TCP 5000-6999 …" then "Students must reach the lab's
            # public IP address on all of these ranges": read as if it wrote the list's ports there; they
            # then have a party, and the list's any-address rules stood in for it
            told = _with_list_ports(block.text, items)
            if told:
                block = replace(block, text=told)
                stand_ins = {id(r) for _, found in items for r in found if r.endpoint == ANY_ADDRESS and r.ports}
        if block.kind == "list_item":
            items = items if items and items[-1][0].lead_in == block.lead_in else []
        else:
            items = []
        if block.kind != "code" and _digit_in(block.text):
            swaps += [(tuple(block.headings), *pair) for pair in port_swaps(block.text)]
        if (block.kind != "list_item" and not _worth_reading(block.text) and not _OTHERWISE.search(block.text)
                and not _ALL_IN_TABLE.search(block.text) and not _ALL_TRANSPORT.search(block.text)):
            # (a default needs no digit: "… is TCP unless …", "All these ports are TCP.")
            continue  # (a list item may be one bare tag name: "Storage")
        try:
            found = _block_rules(block, _LazyCtx(block, memo), listed, leads, leads_code, defaults)
            if marks and _is_footnote(block, marks):  # "¹Open port 8883 for MQTT …": the marked row's ports
                found = [r for r in found if r.endpoint != ANY_ADDRESS]
            if not found and block.kind == "paragraph" and _INSTEAD.search(block.text):
                found = _instead_rules(block, [r for r in (*(known or ()), *rules) if r.section == block.headings])
            elif found and block.kind == "paragraph" and _SAME_PORT.search(block.text):
                same_port.append((found, block.headings))  # (given once the section's rules have their ports)
            rules.extend(found)
            if block.kind == "list_item":
                items.append((block, found))
            if stand_ins and any(r.endpoint != ANY_ADDRESS and r.ports for r in found):
                rules = [r for r in rules if id(r) not in stand_ins]
        except Exception:  # one odd block never hides the rest of the page
            log.warning("could not read block at line %s (%s)", block.line, " › ".join(block.headings), exc_info=True)
    rules += list_table_facts(doc, known or [], rules)
    defaults += heading_defaults(doc)
    stood_in = apply_defaults([*(known or []), *rules], defaults, section_order(doc))
    for found, headings in same_port:
        # "… a regional endpoint of the form `<region>-x.net`. Allow it on the same port.": the port the
        # section's other address rules agree on
        _give_same_port(found, [r for r in (*(known or ()), *rules) if r.section == headings and not any(r is f for f in found)])
    rules = [r for r in rules if id(r) not in stood_in]
    rules += _hosts_a_heading_names(doc, [*(known or []), *rules])
    _public_by_contrast(doc, [*(known or []), *rules])
    _apply_swaps([*(known or []), *rules], swaps)
    return reconcile(rules, known or [])


# "on all of these ranges", "on these ports", "the ports above": the ports of the list just before
_LIST_PORTS = re.compile(r"\b(?:on|over|through|using|via|to|for)\s+(?:all\s+(?:of\s+)?|each\s+of\s+|both\s+(?:of\s+)?)?"
                         r"(?:these|those|the|the\s+(?:two|three|four|five))\s+(?:(?:two|three|four|five)\s+)?"
                         r"(?:ports?|port\s+ranges?|ranges?)(?:\s+(?:above|listed\s+above|before))?\b|"
                         r"\b(?:on|over|through|using|via)\s+all\s+(?:two|three|four|five|of\s+them)\b(?:\s+ranges?)?", re.I)


_TABLE_PORTS = re.compile(r"\b(?P<prep>on|over|through|using|to)\s+(?:every|all|each|the|all\s+the)\s+(?:(?:server|destination|listed)\s+)?ports?"
                          r"\s+(?:in|of|listed\s+in|from)\s+(?:the|this|that)\s+(?:table|list)(?:\s+(?:above|before))?\b", re.I)


def _with_table_ports(doc: Document, block: Block, known: list[Rule]) -> str | None:
    """The text with "on every server port in the table" written out as the ports of the table just
    before it in the same file and section (its rules, by transport)."""
    before = [(t.line, i) for i, t in enumerate(doc.tables) if t.source == block.source and t.line is not None
              and block.line is not None and t.line < block.line and t.headings == block.headings[:len(t.headings)]]
    if not before:
        return None
    index = max(before)[1]
    ports: dict[str | None, list[str]] = {}
    for r in known:
        if r.table == index and r.ports:
            for proto in ((r.protocol,) if r.protocol != TCP_AND_UDP else ("tcp", "udp")):
                ports.setdefault(proto, []).extend(p for p in r.ports if p not in ports.get(proto, []))
    if not ports:
        return None
    written = _spelled_ports(ports)
    return _TABLE_PORTS.sub(lambda m: f"{m.group('prep')} {written}", block.text)


def _with_list_ports(text: str, items: list[tuple[Block, list[Rule]]]) -> str | None:
    """The text with each phrase pointing at the ports of the list just read ("on all of these
    ranges") written out as those ports ("on TCP ports 4980-4989, 5000-6999"); None when the list
    states none."""
    ports: dict[str | None, list[str]] = {}
    for item, _ in items:
        for proto, plist in port_phrases(item.text).items():
            ports.setdefault(proto, []).extend(plist)
    if not ports:
        return None
    written = _spelled_ports(ports)
    return _LIST_PORTS.sub(lambda m: f"{m.group(0).split()[0]} {written}", text)


def _spelled_ports(ports: dict[str | None, list[str]]) -> str:
    """Ports by transport written as a sentence would ("TCP ports 80, 443 and UDP ports 3478")."""
    def spelled(proto: str | None) -> str:
        words = {TCP_AND_UDP: "TCP and UDP ", None: ""}.get(proto, f"{(proto or '').upper()} ")
        return f"{words}ports {', '.join(sort_ports(ports[proto]))}"
    return " and ".join(spelled(proto) for proto in ports)


_INSTEAD_OF_ABOVE = re.compile(r"\binstead\s+of\s+(?:the\s+ones?|those|these|them)\s+(?:in|of|listed\s+in)\s+the\s+(?:table|list)\s+above\b", re.I)


def _public_by_contrast(doc: Document, rules: list[Rule]) -> None:
    """A cloud tab that replaces "the ones in the table above" ("Servers connected to Azure Government use
    these endpoints on TCP 443 instead of the ones in the table above:") makes that table's hosts the
    public cloud's (in place: the page's own unmerged rules)."""
    for b in doc.blocks:
        if not _INSTEAD_OF_ABOVE.search(b.text) or b.line is None:
            continue
        cloud = next((c for c in (cloud_of_label(t.label) for t in b.tabs) if c), None) or cloud_of_heading(b.text)
        if not cloud or cloud == "public":
            continue
        before = [(t.line, i) for i, t in enumerate(doc.tables) if t.source == b.source and t.line is not None
                  and t.line < b.line and not t.tabs]
        if not before:
            continue
        index = max(before)[1]
        for r in rules:
            if r.table == index and r.cloud is None and r.endpoint_kind in (*_NAMED_KINDS, "ip", "cidr"):
                r.cloud = "public"


_NAMES_A_HOST = re.compile(r"\b(?:host\s*names?|endpoints?|urls?|fqdns?|domains?|dns\s+names?)$", re.I)


def _hosts_a_heading_names(doc: Document, rules: list[Rule]) -> list[Rule]:
    """A role named like a section that lists its hosts ("## MQTT hostname" with a template per cloud
    tab, then "Clients connect to the MQTT hostname on one of these ports:" over a port table): the
    role's ports for those hosts."""
    headings = {b.headings[-1].strip().lower(): tuple(b.headings) for b in doc.blocks if b.headings}
    if not headings:
        return []
    out: list[Rule] = []
    for role in rules:
        if role.endpoint_kind != "role" or not role.ports:
            continue
        name = (role.destination or "").strip().lower()
        if not _NAMES_A_HOST.search(name):
            continue  # (a "## Log collector" section lists what the collector reaches, not the collector)
        section = headings.get(name) or headings.get(_LEAD_DET_RX.sub("", name))
        if not section:
            continue
        hosts = [r for r in rules if r.endpoint_kind in _NAMED_KINDS and tuple(r.section) == section]
        for h in hosts:
            out.append(replace(h, ports=list(role.ports), protocol=role.protocol or h.protocol,
                               direction=role.direction or h.direction or "outbound", origin=h.origin))
    return out


# "For Windows nodes, use destination port 3389 instead of 22 in the second rule.", "replace port
# 22 with 3389": the other port a rule of the section may take, never a rule of its own
_SWAP = Gate(re.compile(r"\bports?\s+(\d{1,5})\s+(?:instead\s+of|rather\s+than|in\s+place\s+of)\s+(?:port\s+)?(\d{1,5})\b|"
                   r"\breplace\s+port\s+(\d{1,5})\s+with\s+(?:port\s+)?(\d{1,5})\b", re.I), ("instead", "rather", "place"))


def _field_runs(doc: Document) -> tuple[list[Rule], set[int]]:
    """Consecutive list items (or paragraphs) each giving one labelled field of a rule (a portal's
    form: "- **Source service tag**: X", "- **Destination port ranges**: 29876-29877", "-
    **Protocol**: TCP"; "**Connection target:**" with a list of hosts, then "**Port:** 443"), read
    together as that one rule; returns the rules and the ids of the blocks read."""
    rules: list[Rule] = []
    consumed: set[int] = set()
    run: list[Block] = []
    last: dict = {}  # the last run read as a rule: its headings, fields and code spans

    def flush() -> None:
        fields = [b for b in run if b.bold]
        if len(fields) >= 2:
            values = labelled_fields(" ".join(b.text for b in run), [b.bold[0].rstrip(":") for b in fields])
            found = field_table_rules(values, [c for b in run for c in b.code],
                                      run[0].headings, run[0].tabs, run[0].lead_in if run[0].kind == "list_item" else None)
            for r in found:
                r.origin = "list" if any(b.kind == "list_item" for b in run) else "prose"
            if found:
                rules.extend(found)
                consumed.update(id(b) for b in run)
                last.update(headings=run[0].headings, tabs=run[0].tabs, origin=found[0].origin,
                            code=[c for b in run for c in b.code], fields=values)
        run.clear()

    for b in doc.blocks:
        repeats = bool(b.bold) and "set to" in b.text and _REPEAT.search(b.text) is not None
        if repeats:
            flush()
        changed = _set_to_values(b) if repeats and last and b.headings == last["headings"] else {}
        if changed:
            found = field_table_rules({**last["fields"], **changed}, [*last["code"], *b.code], b.headings, b.tabs, None)
            if found:
                for r in found:
                    r.origin = last["origin"]
                rules.extend(found)
                consumed.add(id(b))
                continue
        one_field = (b.kind in ("list_item", "paragraph") and len(b.bold) == 1
                     and (b.text.startswith(f"{b.bold[0]}:") or b.bold[0].endswith(":") and b.text.startswith(b.bold[0])))
        field_block = next((x for x in reversed(run) if x.bold), None)
        value = (not one_field and field_block is not None and b.kind == "list_item" and b.lead_in == field_block.text
                 and field_block.kind == "paragraph" and _empty_field(field_block))
        if value:
            run.append(b)
            continue
        if not one_field or run and (b.headings, b.kind) != (run[0].headings, run[0].kind) or run and b.kind == "list_item" and (
                b.lead_in, b.depth) != (run[0].lead_in, run[0].depth):
            flush()
        if one_field:
            run.append(b)
    flush()
    return rules, consumed


# "For **Destination service tag**, select **AzureBackup**", "set **Protocol** to **TCP** and
# **Destination port ranges** to **443**": a bold label, then its bold value
_STEP_BEFORE = re.compile(r"(?:\bfor|\bset|\bunder|\bin|\bchange|\bleave|\band|,)\s*$", re.I)
_STEP_BETWEEN = re.compile(r"^\s*,?\s*(?:select|choose|enter|pick|type|use|to|as|is|=|:)\s*(?:the\s+)?$", re.I)
_VALUE_FIRST_BEFORE = re.compile(r"(?:\benter|\btype|\bput|\badd|\bselect|\bchoose|\bpick)\s*$", re.I)
_VALUE_FIRST_BETWEEN = re.compile(r"^\s*(?:in|into|for|as)\s*(?:the\s+)?$", re.I)
_AS_THE_PROTOCOL = re.compile(r"^\s*as\s+(?:the\s+)?protocol\b", re.I)
_FIELD_LABEL = re.compile(r"\b(?:tag|ports?|port\s+ranges?|protocol|source|destination|direction|service|address(?:es)?|"
                          r"ip\s+addresses|prefix(?:es)?|fqdns?|action|priority)\b", re.I)


def _step_fields(block: Block) -> dict[str, str]:
    """The label → value pairs one portal step sets."""
    out: dict[str, str] = {}
    at = 0
    spans: list[tuple[int, int, str]] = []
    for b in block.bold:
        i = block.text.find(b, at)
        if i < 0:
            continue
        spans.append((i, i + len(b), b))
        at = i + len(b)
    for (a0, a1, label), (b0, b1, value) in zip(spans, spans[1:]):
        if (_FIELD_LABEL.search(label) and _STEP_BETWEEN.match(block.text[a1:b0])
                and _STEP_BEFORE.search(block.text[max(0, a0 - 12):a0])):
            out.setdefault(label.strip(" :*"), value.strip(" *`"))
        elif (_FIELD_LABEL.search(value) and _VALUE_FIRST_BETWEEN.match(block.text[a1:b0])
              and _VALUE_FIRST_BEFORE.search(block.text[max(0, a0 - 12):a0])):
            out.setdefault(value.strip(" :*"), label.strip(" *`"))  # "Enter **443** in **Destination port ranges**"
    for a0, a1, value in spans:  # "select **TCP** as the protocol"
        if parse_protocol(value) in ("tcp", "udp", TCP_AND_UDP) and _AS_THE_PROTOCOL.match(block.text[a1:a1 + 20]):
            out.setdefault("Protocol", value.strip(" *`"))
    return out


def _portal_steps(doc: Document, consumed: set[int]) -> tuple[list[Rule], set[int]]:
    """Numbered portal steps that fill in a rule's form one field at a time ("For **Destination service
    tag**, select **AzureBackup**." / "… set **Protocol** to **TCP** and **Destination port ranges** to
    **443**."), read together as that rule; "Repeat the steps for the **Storage** and
    **AzureActiveDirectory** tags" gives the same rule for each of them."""
    rules: list[Rule] = []
    used: set[int] = set()
    runs: list[list[Block]] = []
    for b in doc.blocks:
        if b.kind != "list_item" or id(b) in consumed:
            continue
        if runs and (runs[-1][0].headings, runs[-1][0].lead_in, runs[-1][0].depth) == (b.headings, b.lead_in, b.depth):
            runs[-1].append(b)
        else:
            runs.append([b])
    for run in runs:
        fields: dict[str, str] = {}
        stepped = []
        for b in run:
            got = _step_fields(b) if len(b.bold) >= 2 else {}
            if got:
                fields.update(got)
                stepped.append(b)
        if len(fields) < 2:
            continue
        lead = " ".join(b.text for b in run[:1] + stepped)
        found = field_table_rules(fields, [c for b in stepped for c in b.code], run[0].headings, run[0].tabs, lead)
        if not found or not any(r.ports for r in found):
            continue
        for b in run:
            if _REPEAT.search(b.text) and b not in stepped:  # "Repeat the steps for the **Storage** and **X** tags"
                tags = [t for t in (canonical_tag(x.strip(" *`")) for x in b.bold) if t]
                label = next((k for k in fields if "tag" in k.lower() and fields[k].lower() != "service tag"), None) or next(
                    (k for k, v in fields.items() if canonical_tag(v) and v.lower() != "service tag"), None)
                for tag in tags if label else ():
                    found += field_table_rules({**fields, label: tag}, [], run[0].headings, run[0].tabs, lead)
                used.add(id(b))
        for r in found:
            r.origin = "list"
        rules += found
        used.update(id(b) for b in stepped)
    return rules, used


# "Repeat the previous step for the second rule, with **Source service tag** set to *X* and
# **Destination port ranges** set to *8080*": the last form-field rule with those fields changed
_REPEAT = re.compile(r"\b(?:repeat\w*|again|same\s+(?:steps?|settings?|way)|another\s+(?:rule|one)|second\s+rule)\b", re.I)
_SET_TO_END = re.compile(r"\s*(?:,\s*(?:and\s+)?|\s+and\s+|\.\s*$|;|$)")


def _set_to_values(block: Block) -> dict[str, str]:
    """The fields a sentence sets: "**Destination port ranges** set to *8080*" → that label's value."""
    out = {}
    for label in block.bold:
        at = block.text.find(f"{label} set to ")
        if at < 0:
            continue
        rest = block.text[at + len(label) + len(" set to "):]
        m = _SET_TO_END.search(rest)
        value = rest[:m.start()] if m else rest
        if value.strip():
            out[label.rstrip(":")] = value.strip(" *`")
    return out


def _empty_field(block: Block) -> bool:
    """A labelled field with no value of its own ("**Connection target:**" before a list)."""
    return block.text.rstrip().rstrip(":").strip() == block.bold[0].rstrip(":").strip() if block.bold else False


_FOOTNOTE_START = re.compile(r"^\(?(\d{1,2})\)?\s*(?=[A-Z])")


def _is_footnote(block: Block, marks: set[str]) -> bool:
    """A paragraph that is the text of a footnote the page's table cells carry."""
    m = _FOOTNOTE_START.match(block.text) if block.kind == "paragraph" else None
    return m is not None and m.group(1) in marks


def _digit_in(text: str) -> bool:
    return _DIGIT.search(text) is not None


def port_swaps(text: str) -> list[tuple[str, str]]:
    """(new port, the port it stands in for) for each swap the text states."""
    out = []
    for m in _SWAP.finditer(text):
        new, old = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        out.append((new, old))
    return out


def _apply_swaps(rules: list[Rule], swaps: list[tuple[tuple[str, ...], str, str]]) -> None:
    """Give the section's rules that take the old port the new one too (in place)."""
    for section, new, old in swaps:
        for r in rules:
            if tuple(r.section[:len(section)]) == section and old in r.ports and new not in r.ports:
                r.ports = sort_ports([*r.ports, new])


_TEMPLATES = "placeholder hosts"  # (a memo key no block context can take: those are tuples)
_PLACEHOLDER_WORDS = re.compile(r"<([^<>]+)>")


def _placeholder_hosts(doc: Document, known: list[Rule]) -> dict[str, list[str]]:
    """The page's placeholder hosts by each word of their first placeholder: its table rules'
    when a table has one for the word, else those its text writes as code."""
    tabled = _by_placeholder_word(r.endpoint for r in known if r.endpoint_kind == "template" and r.endpoint)
    written = _by_placeholder_word(c for b in doc.blocks for c in b.code if "<" in c and endpoint_kind(c) == "template")
    return {**written, **tabled}


def _by_placeholder_word(hosts) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for host in hosts:
        m = _PLACEHOLDER_WORDS.search(host)
        for word in re.split(r"[\W_]+", m.group(1).lower()) if m else ():
            if len(word) >= 3 and host.lower() not in {h.lower() for h in out.setdefault(word, [])}:
                out[word].append(host)
    return out


# "… needs outbound TCP ports 9350 to 9354 to the namespace": the page's one <namespace> host
# ("on your firewall", "to the proxy": where the port is opened, not what it reaches)
_TO_THE = re.compile(r"\b(?:to|from|on)\s+(?:the|your|each)\s+(?!(?:firewall|proxy|network|computer|machine|device|"
                     r"local|own)s?\b)(\w+)(?!\s*\()", re.I)


_ROLES = "role rules"  # (a memo key, as _TEMPLATES)
_PARAGRAPH_LEADS = "paragraph leads"  # (a memo key: a paragraph's text → the paragraph before it)
_COLUMN_HEADERS = "column headers"  # (a memo key: the page's table headers, lower-cased)
_WHOLE = re.compile(r"^(?:whole|entire|full|complete)\s+", re.I)
_ROLE_LEAD = r"\bto\s+(?:the\s+|your\s+|each\s+|every\s+|all\s+)?"  # ("The agent on the X connects …": X is where it runs)


def _named_role_rules(sentence: str, roles: tuple[Rule, ...], own: dict[str | None, list[str]], origin: str) -> list[Rule]:
    """Ports a sentence opens to a role a table of the page names ("… also open TCP port 6514 from
    the security devices to the log forwarder" after a row *Security devices → Log forwarder*): that
    row's rule with the sentence's ports (it merges with the row's rule of the same transport)."""
    low = sentence.lower()
    for role in roles:
        # (the role the sentence opens ports *to*: the row's destination, else its party)
        name = (role.destination or role.endpoint).strip("() ").lower()
        if len(name) < 4 or name not in low or not re.search(_ROLE_LEAD + re.escape(name) + r"\b", low):
            continue
        direction = direction_of(sentence)
        out = []
        same = [r for r in roles if (r.endpoint, r.source, r.destination) == (role.endpoint, role.source, role.destination)]
        for proto, plist in own.items():
            twin = next((r for r in same if r.protocol == proto), role)
            if proto is None and len({r.protocol for r in same}) > 1:
                twin = replace(twin, protocol=None)  # (a sentence naming no transport takes none of the row's several)
            subject = _subject_name(sentence)  # ("Admin workstations also need TCP 6443 to the control plane nodes")
            out.append(replace(twin, ports=sort_ports(plist), protocol=proto or twin.protocol, origin=origin,
                               direction=direction if direction in ("inbound", "outbound") else twin.direction,
                               source=subject if subject and subject.lower() != name else twin.source,
                               table=None, row=None))
        return out
    return []


# "… to the endpoints listed below", "… to the URLs above": a reference to a list, not a role
_LISTED = re.compile(r"\b(?:endpoints|urls|hosts|host\s*names|addresses|fqdns|domains|destinations|ranges)\b|"
                     r"\b(?:below|above|following|listed)\b", re.I)
_LIST_NOUN = re.compile(r"(?:endpoints|urls|hosts|host\s*names|addresses|fqdns|domains|destinations|ranges)$", re.I)
# what a list noun's qualifier says when the noun names machines ("the MSEE addresses", "the source
# endpoints", "the VPN gateway public IP addresses"), not a list of the page ("the required endpoints")
_QUALIFIER = re.compile(rf"(?-i:[A-Z]{{2,6}}s?)$|(?:{ROLE_HEAD}|source|target|sending|remote|peer|public|private|ip)$", re.I)


_LIST_ADJECTIVE = re.compile(r"(?:required|needed|necessary|following|listed|above|below|preceding|mentioned|allowed|approved|"
                             r"given|specified|relevant|additional|other|same|these|those|such|microsoft|azure|service|"
                             r"public|regional|global|dependent|optional)$", re.I)
_LISTED_WORDS = re.compile(r"\b(?:below|above|following|listed)\b", re.I)


def _list_reference(np: str) -> bool:
    """The phrase points at a list of the page ("the endpoints listed below", "these URLs"), not at
    machines it names with a list noun ("the MSEE addresses", "the source endpoints")."""
    if not _LISTED.search(np):
        return False
    words = _LEAD_DET_RX.sub("", np.strip()).split()
    if _LISTED_WORDS.search(np) or not _LIST_NOUN.search(np) or len(words) < 2:
        return True
    if words[-1].lower() == "hosts" and not any(_LIST_ADJECTIVE.match(w) for w in words[:-1]):
        return False  # "your operator jump hosts", "the session hosts": machines (not "the required hosts")
    return _LISTED.search(" ".join(words[:-1])) is not None or not any(_QUALIFIER.match(w) for w in words[:-1])


def _between_roles(sentence: str, own: dict[str | None, list[str]], ctx: _BlockCtx, origin: str) -> list[Rule]:
    """Ports a sentence opens between two roles it names ("Allow TCP port 179 between the
    on-premises BGP peer address and the Azure BGP peer IP address of the gateway", "… from the
    app servers to the database servers over TCP 1433"): a rule for the second, from the first."""
    sides = _lead_sides(sentence)
    if (not sides or not sides[0].role or not sides[1].role or _list_reference(sides[1].written)
            or len(sides[1].written.split()) < 2 and not _ACRONYMS.fullmatch(sides[1].written)):
        return []  # (one bare noun, "… and each subnet that …" cut to "subnet", names no one)
    source, dest = sides[0].written, sides[1].written
    direction = direction_of(_unnamed(sentence, (source, dest)))
    if direction == "both" and not _BOTH_WORDS.search(sentence):
        direction = None
    # "… from the cluster nodes to the bridge VM IP and to the control plane IP": each place it goes to
    dests = [dest] + [name for how, name in _side_names(sentence) if how == "to" and name not in (source, dest)]
    return [Rule(endpoint=d, endpoint_kind="role", source=source, destination=d, ports=sort_ports(plist),
                 protocol=proto, direction=direction, cloud=ctx.cloud,
                 tab=ctx.tab, required=ctx.required, section=list(ctx.section), origin=origin)
            for d in dests for proto, plist in own.items()]


_ACRONYMS = re.compile(r"(?-i:[A-Z]{2,6}s)")  # "the MSEEs", "your CPEs"
# "the domain controllers of the trusting domain", "… of each partner forest": which ones, part of the name
_OF_SCOPE = (r"(?:\s+of\s+(?:the|each|every|your|its|their|a|an|all)\s+(?:[\w'-]+\s+){0,2}?(?:domains?|forests?|sites?|"
             r"tenants?|subscriptions?|environments?|workspaces?|deployments?|organizations?)\b)?")
_ONE_SIDE = re.compile(rf"\b(?P<how>to|towards?|reach(?:es)?|quer(?:y|ies)|contacts?|from|with|between|among|through|(?:firewall|nsg)\s+(?:of|on))\s+(?:all\s+(?:of\s+)?the|the|your|its|their|each|every|all|an?|that|this|these|those)\s+(?!(?:\w*(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|teenth|tieth)|"
                       rf"next|last|\d+(?:st|nd|rd|th))\s)"
                       rf"(?P<np>(?:(?!(?:and|or|the|an?|your|its|their|this|that)\s){_LEAD_WORD}\s+){{0,6}}?{ROLE_HEAD}{_OF_SCOPE})"
                       rf"(?:{_LEAD_END}|(?=\s+(?:across|behind|inside|within|under|before|after|by|of|published|hosted|provided|managed|run|deployed|directly)\b)"
                       rf"|(?=\s+(?:the|you|we|it|they)\s+\w))", re.I)  # ("the NTP server the host uses": a contact clause)
# "The container subnet must allow …": the sentence's subject, the other side
_ADVERB = r"(?:also|then|only|always|still|first|additionally)\b"  # ("The appliance VM also needs …")
_MODAL = r"(?:must|should|needs?|can|could|will|would|may|be|to|is|are|has|have)\b"
_SUBJECT = re.compile(rf"^\s*(?:(?:make\s+sure|ensure|verify|check)\s+(?:that\s+)?)?{_LEAD_DET}(?!(?:the|your|a|an|each|every|all|any|its|their)\s)(?P<np>(?:(?!{_MODAL}|{_ADVERB}){_LEAD_WORD}\s+){{0,5}}(?!{_MODAL}|{_ADVERB}){_LEAD_WORD})\s+(?:{_ADVERB}\s+)?(?:must|should|need|needs|has\s+to|have\s+to|"
                      rf"requires?|connects?|sends?|uses?|accepts?|receives?|forwards?|relays?|can|keeps?|maintains?|opens?|"
                      rf"establish(?:es)?|initiates?)\b", re.I)
_REACH = re.compile(r"\b(?:reach(?:es)?|connects?\s+to|towards?|quer(?:y|ies)|contacts?)\b", re.I)
_PROXY = re.compile(r"\bprox(?:y|ies)\b", re.I)
_RULE_DEVICE = re.compile(r"\b(?:firewalls?|nsgs?|network\s+security\s+groups?|route\s+tables?)\b", re.I)
_EXAMPLE_TAIL = re.compile(r",?\s*(?:for\s+example|e\.g\.|such\s+as)\b.*$", re.I)
_ACCEPTS = re.compile(r"\b(?:accepts?|receives?|answers?|inbound|incoming|listens?)\b", re.I)


_ADDRESS_HEAD = re.compile(r"\b(?:ips?|vips?|ip\s+address(?:es)?|addresses)$", re.I)


def _one_role(phrase: str) -> bool:
    """The phrase names a machine or network as a role (a proxy that clients connect to is one, not
    a device that enforces rules)."""
    side = _lead_side(phrase)
    if side is None and (_PROXY.search(phrase) and not _RULE_DEVICE.search(phrase) or _ADDRESS_HEAD.search(phrase)):
        side = _side(None, _LEAD_DET_RX.sub("", phrase.strip()))  # (an appliance's addresses: "the NVA public IPs")
    return side is not None and side.role is not None and not side.parties


def _unnamed(sentence: str, names) -> str:
    """The sentence without the roles it names, so "the inbound endpoint" says no direction."""
    for name in names:
        if name:
            sentence = sentence.replace(name, " ")
    return sentence


_BACK_REFERENCE = re.compile(r"(?:same|other|former|latter|above)\b", re.I)  # ("from the same controllers": the ones before)


def _side_names(sentence: str) -> list[tuple[str, str]]:
    """The machines a sentence names as one side, as written without their determiner: ``to`` where it
    opens ports to, ``from`` where it accepts them from, ``origin`` where the traffic it opens comes
    from ("… to the gateway public IP addresses from the VPN device")."""
    sentence = _EXAMPLE_TAIL.sub("", sentence)  # ("… on TCP port 80, for example `http://crl.contoso.com/…`")
    found = []
    for m in _ONE_SIDE.finditer(sentence):
        np = m.group("np")
        where = _WHERE_THEY_ARE.match(sentence, m.end()) if len(np.split()) < 2 else None
        if where:  # "from the nodes in the system node pool": a bare noun made specific by where they are
            np = np + where.group(0)
        among = m.group("how").lower() in ("between", "among")  # ("between all provider addresses": machines, not a list)
        if (not _one_role(np) or (_LISTED_WORDS.search(np) if among else _list_reference(np))
                or len(np.split()) < 2 and not _ACRONYMS.fullmatch(np)
                or _TAG_WORDS.search(np) or _BACK_REFERENCE.match(np)):
            continue
        how = m.group("how").lower()
        if how == "with" and not _WITH_VERB.search(sentence, 0, m.start()):
            continue  # ("VMs with the agent"; "a BGP session … with the switches" is where it connects)
        if how in ("between", "among"):
            if _AND_AFTER.match(sentence, m.end()):
                continue  # ("between the A and the B": see _between_roles)
            how = "among"  # "UDP 4789 between all provider addresses": each of them, both ways
        elif how == "from":
            how = "from" if _ACCEPTS.search(sentence) else "origin"
        elif how != "among":
            how = "to"
        # ("download from the cache node", "reachable from the subnet": no side that connects)
        found.append((how, _LEAD_DET_RX.sub("", np.strip()), m.start()))
    # where traffic comes from only in the clause that says where it goes ("… to the gateway IP
    # addresses from the VPN device"; not "… download from the node, so … allow TCP 80 to the host");
    # with a place it goes to in its clause, "from" is where traffic comes from even in "inbound to
    # the gateway VIP from the VPN device"
    to_clauses = {_clause_at(sentence, at) for how, _, at in found if how == "to"}
    found = [("origin" if how == "from" and _clause_at(sentence, at) in to_clauses else how, name, at)
             for how, name, at in found]
    return [(how, name) for how, name, at in found
            if how != "origin" or not to_clauses or _clause_at(sentence, at) in to_clauses]


_WHERE_THEY_ARE = re.compile(r"\s+in\s+(?:the|each|every|your)\s+(?:[\w-]+\s+){0,2}?(?:pools?|clusters?|subnets?|networks?|sites?)\b", re.I)
_WITH_VERB = re.compile(r"\b(?:sessions?|connections?|connectivity|communicat\w*|peers?|peering|talks?|synchroni[sz]\w*|syncs?|"
                        r"handshakes?|tunnels?|exchanges?)\b", re.I)
_AND_AFTER = re.compile(r"\s+(?:and|&)\s")


def _clause_at(sentence: str, at: int) -> int:
    """Which comma/semicolon-separated part of the sentence position ``at`` lies in."""
    return sentence.count(",", 0, at) + sentence.count(";", 0, at)


_REACHABLE = re.compile(r"\b(?:reachable|accessible|available)\b", re.I)  # ("… must be reachable from X": X connects to them)
_ASKS = Gate(re.compile(r"\b(?:allow\w*|permit\w*|open|unblock\w*|must|needs?|requires?|required)\b", re.I), ("allow", "permit", "open", "unblock", "must", "need", "require"))


_SUBJECT_AFTER = re.compile(r":\s+|,\s+(?:so|and|but|then|which\s+means)\s+|;\s+", re.I)
_ACRONYM_ASIDE = re.compile(r"\s*\((?-i:[A-Za-z][A-Za-z0-9]{1,6})\)(?=\s)")



_MACHINE_HEAD = re.compile(rf"^\s*(?P<np>(?:{_LEAD_WORD}\s+){{0,4}}{ROLE_HEAD})\s*(?::|\s[-–—]\s)\s*(?P<rest>.+)$", re.I)
_LEAD_FLOW = re.compile(r"\b(?:connect\w*|reach\w*|talk\w*|sends?|communicat\w*|needs?|requires?|allow\w*|open|permit\w*|"
                        r"uses?|accepts?|listens?)\b", re.I)


def _machine_item(sentence: str, block: Block, ctx: _BlockCtx, origin: str) -> list[Rule]:
    """A list item naming a machine and its ports ("Windows VMs: WinRM on TCP 5985 and 5986") under a
    lead-in saying who connects ("… the resource bridge connects to each VM as follows:"): a role rule
    for that machine, the lead-in's subject the other side."""
    m = _MACHINE_HEAD.match(sentence)
    if not m or not _LEAD_FLOW.search(block.lead_in or "") or _NEG.search(block.lead_in or ""):
        return []
    own = port_phrases(m.group("rest"))
    if not own or text_parties(m.group("rest"), block.code) or not _one_role(m.group("np")):
        return []
    name = _LEAD_DET_RX.sub("", m.group("np").strip())
    lead = sentences(block.lead_in)[-1]  # (the sentence that introduces the list)
    other = _subject_name(lead)
    inbound = _ACCEPTS.search(lead) is not None and not _REACH.search(lead)
    said = direction_of(m.group("rest"))  # ("**Azure services:** outbound HTTPS, TCP port 443, …")
    inbound = said == "inbound" or said not in ("inbound", "outbound") and inbound
    direction = "inbound" if inbound else "outbound" if said == "outbound" or other and _REACH.search(lead) else None
    source, dest = (name, other) if inbound else (other, name)
    return [Rule(endpoint=name, endpoint_kind="role", source=source, destination=dest, ports=sort_ports(plist),
                 protocol=proto, direction=direction, cloud=ctx.cloud, tab=ctx.tab, required=ctx.required,
                 section=list(ctx.section), origin=origin)
            for proto, plist in own.items()]


def _subject_name(sentence: str) -> str | None:
    """The machine a sentence opens with as its subject ("The appliance VM also needs …"), if a role."""
    # ("To use it, your CE routers must …"; "Each top-of-rack (ToR) switch must …": the acronym aside;
    # "The gateway VMs peer the same way: the ToR switches must …"; "…, so Autopilot devices need …")
    for part in (sentence, *(p for p in _SUBJECT_AFTER.split(sentence)[1:] if p)):
        subject = _SUBJECT.match(_ACRONYM_ASIDE.sub("", OPENING_CLAUSE.sub("", part, count=1)))
        if subject and _one_role(subject.group("np")):
            return _LEAD_DET_RX.sub("", subject.group("np").strip())
    return None


_ACCEPT_VERB = re.compile(r"\b(?:must|should|needs?\s+to|has\s+to|have\s+to)\s+(?:also\s+)?(?:accept|allow|receive|listen|be\s+reachable)\w*\b"
                          r"|\b(?:accepts?|listens?)\b", re.I)
_FROM_INTERNET_WORDS = re.compile(r"\bfrom\s+(?:the\s+)?(?:public\s+)?internet\b", re.I)


def _accepting_subject(sentence: str, own: dict[str | None, list[str]], ctx: _BlockCtx, origin: str) -> list[Rule]:
    """"The Tunnel Gateway server must accept inbound TCP 443 and UDP 443 from the internet", "The host
    must allow inbound … traffic on TCP ports 80 and 443": the subject is where the ports are open, an
    inbound role rule (from the Internet when it says so)."""
    subject = _subject_name(sentence)
    if (not subject or not _ACCEPT_VERB.search(sentence) or direction_of(sentence) not in ("inbound", "both", None)
            or _EXAMPLE.search(sentence)):
        return []  # (… "for example TCP 443 from the agent's address": what you might configure)
    if direction_of(sentence) is None and not _ACCEPTS.search(sentence):
        return []  # ("The host must allow … on TCP 443": which way is not said)
    source = "Internet" if _FROM_INTERNET_WORDS.search(sentence) else None
    direction = "both" if direction_of(sentence) == "both" and _BOTH_WORDS.search(sentence) else "inbound"
    return [Rule(endpoint=subject, endpoint_kind="role", source=source, destination=subject, ports=sort_ports(plist),
                 protocol=proto, direction=direction, cloud=ctx.cloud, tab=ctx.tab, required=ctx.required,
                 section=list(ctx.section), origin=origin)
            for proto, plist in own.items()]


def _one_side_roles(sentence: str, own: dict[str | None, list[str]], ctx: _BlockCtx, origin: str,
                    lead: str | None = None, carried: tuple[bool, str | None, str | None] = (False, None, None)
                    ) -> list[Rule]:
    """Ports a sentence opens to (or from) one machine it names but that no table lists ("Your DNS
    servers need outbound TCP and UDP port 53 to the SAP-managed DNS servers"): a role rule, the
    sentence's subject its other side when that is a role too. Port and party are the sentence's own,
    not a statement for the page's hosts. Ports allowed "from" a machine, with nowhere they go ("Allow
    UDP 500 from the branch devices"), come in from it: to the place a list item's ``lead`` names
    ("Allow the following toward the NVA public IPs:"), else to the subject."""
    found = _side_names(sentence)
    headers = ctx.memo.get(_COLUMN_HEADERS, frozenset()) if isinstance(ctx, _LazyCtx) else frozenset()
    if headers:  # ("… to the whole **Gateway address subnets** of the region": a column of the table below)
        found = [(how, name) for how, name in found
                 if _WHOLE.sub("", name.split(" of ")[0]).lower() not in headers]
    if found and all(how == "origin" for how, _ in found) and (_ASKS.search(sentence) or lead) and not _REACHABLE.search(sentence):
        found = [("from", name) for _, name in found]
    if not any(how != "origin" for how, _ in found):
        return _accepting_subject(sentence, own, ctx, origin) if not found else []
    # (the place a lead-in asks for, for items saying only where traffic comes from: "Allow the following
    # toward the NVA public IPs:" / "- IKE: UDP port 500 from the branch devices")
    lead_to = next((name for how, name in _side_names(lead) if how == "to"), None) if (
        lead and all(how == "from" for how, _ in found) and not _NEG.search(lead)) else None
    other_name = (next((name for how, name in found if how == "origin"), None) or lead_to or _subject_name(sentence)
                  or carried[2])
    direction = direction_of(_unnamed(sentence, [name for _, name in found] + [other_name or ""])) or carried[1]
    rules = []
    for how, name in found:
        if how == "origin" or any(name == r.endpoint for r in rules):
            continue
        if how == "among":  # each of them to each other
            rules += [Rule(endpoint=name, endpoint_kind="role", source=name, destination=name, ports=sort_ports(plist),
                           protocol=proto, direction="both" if _BOTH_WORDS.search(sentence) else None, cloud=ctx.cloud,
                           tab=ctx.tab, required=ctx.required, section=list(ctx.section), origin=origin)
                      for proto, plist in own.items()]
            continue
        inbound = how == "from"
        d = "inbound" if inbound else direction
        if d is None and not inbound and (other_name or _REACH.search(sentence)):
            d = "outbound"  # "The child must reach the parent …", "Clients need TCP 53 to …": that side opens the connection
        if d == "both" and not _BOTH_WORDS.search(sentence):
            d = None
        source, dest = (name, other_name) if inbound else (other_name, name)
        rules += [Rule(endpoint=name, endpoint_kind="role", source=source, destination=dest, ports=sort_ports(plist),
                       protocol=proto, direction=d, cloud=ctx.cloud, tab=ctx.tab, required=ctx.required,
                       section=list(ctx.section), origin=origin)
                  for proto, plist in own.items()]
    return rules


def _placeholder_party(sentence: str, templates: dict[str, list[str]]) -> list[tuple[str, str]]:
    for m in _TO_THE.finditer(sentence):
        hosts = templates.get(m.group(1).lower().rstrip("s"), [])
        if len(hosts) == 1:
            return [("template", hosts[0])]
    return []


_HEADING_PORT = re.compile(r"^(?:(tcp|udp)\s+)?ports?\s+(\d{1,5}(?:\s*(?:-|–|,|/|and)\s*\d{1,5})*)\b(?!\.\d)", re.I)


def heading_defaults(doc: Document) -> list[SectionDefault]:
    """A section whose heading names its port ("Port 5986 - management using PowerShell
    remoting", "TCP port 3389"): the port of its bare hosts and addresses."""
    out: dict[tuple[str, ...], SectionDefault] = {}
    for item in [*doc.blocks, *doc.tables]:
        key = tuple(item.headings)
        m = _HEADING_PORT.match(key[-1]) if key and key not in out else None
        if m:
            ports = ports_in(m.group(2))
            if ports:
                out[key] = SectionDefault(key, {(m.group(1) or "").lower() or None: ports}, None)
    return list(out.values())


def section_order(doc: Document) -> dict[tuple[str, ...], float]:
    """Each section's place on the page: blocks come in page order (an include's spliced in where
    it is included); a section only tables are in sits just after the block before its table (by
    line, in the same file), else just after its parent."""
    order: dict[tuple[str, ...], float] = {}
    for b in doc.blocks:
        order.setdefault(tuple(b.headings), float(len(order)))
    for t in doc.tables:
        key = tuple(t.headings)
        if key in order:
            continue
        before = [b for b in doc.blocks if b.source == t.source and b.line is not None and t.line is not None
                  and b.line < t.line]
        if before:
            order[key] = order[tuple(before[-1].headings)] + 0.5
        else:
            order[key] = next((order[key[:n]] for n in range(len(key) - 1, -1, -1) if key[:n] in order), -1.0) + 0.5
    return order


def list_table_facts(doc: Document, known: list[Rule], read: list[Rule] | None = None) -> list[Rule]:
    """Lead-in facts for the code-host lists the parsers capture as one-column ``list`` tables.

    Their rules come from the table pass (``origin`` "list"); what only the list's lead-in says is
    added here: ports and protocol ("Allow outbound access on port 443 to:", "(TCP 443)", "over
    HTTPS") on the list's rules that state none (changed in place: they are this page's unmerged
    rules), and, under a lead-in or label naming service tags, CamelCase names the table pass set
    aside as unknown words (``GadgetHub``) as tag rules."""
    added: list[Rule] = []
    by_table: dict[int | None, list[Rule]] = {}
    for r in known:
        if r.origin == "list":
            by_table.setdefault(r.table, []).append(r)
    for index, t in enumerate(doc.tables):
        if t.kind != "list":
            continue
        ports = (port_phrases(t.lead_in) or implied_ports(t.lead_in) or _ports_of_table_before(doc, index, known)
                 or _ports_of_list_before(t, read or []))
        mine = by_table.get(index, [])
        sovereign = cloud_of_heading(t.lead_in or "") if t.lead_in and _INSTEAD.search(t.lead_in) else None
        if sovereign and sovereign != "public":
            # "Devices in Azure Government reach the sovereign counterparts instead, on the same port:": these
            # hosts are that cloud's, and the hosts listed just before are the public cloud's
            for r in mine:
                r.cloud = r.cloud or sovereign
            for r in _list_before(t, read or []):
                r.cloud = r.cloud or "public"
        for r in mine:  # "- `mcr.microsoft.com` (HTTPS)": the item's own application protocol
            if not r.ports and r.row is not None and r.row < len(t.rows):
                own = implied_ports(" ".join(c.text for c in t.rows[r.row]).replace(r.endpoint or "", " "))
                if own:
                    (r.protocol, r.ports), = ((r.protocol or p, list(v)) for p, v in own.items())
        if len(ports) == 1:
            (proto, plist), = ports.items()
            for r in mine:
                if not r.ports:
                    r.ports, r.protocol = list(plist), r.protocol or proto
        elif len(ports) > 1:  # (the ports of a port table before, several transports: a rule per transport)
            for r in [r for r in mine if not r.ports]:
                items = iter(ports.items())
                proto, plist = next(items)
                r.ports, r.protocol = list(plist), proto
                for proto, plist in items:
                    added.append(replace(r, ports=list(plist), protocol=proto))
        if not (_TAG_WORDS.search(t.lead_in or "") or _TAG_WORDS.search(" ".join(t.columns))):
            continue
        have = {r.party.lower() for r in mine}
        ctx: _BlockCtx | None = None
        for row in t.rows:
            for cell in row:
                for c in cell.code[:1]:
                    if c.lower() in have or not _CAMEL.match(c) or not is_tag(c):
                        continue
                    if ctx is None:
                        ctx = _block_ctx(Block("list_item", c, headings=list(t.headings), tabs=list(t.tabs),
                                               lead_in=t.lead_in), {})
                    have.add(c.lower())
                    for r in _rules_for([("tag", c)], ports, ctx, origin="list"):
                        r.table = index
                        added.append(r)
    return added


# "Allow the ports you use toward these hosts:", "Open the ports above to:", "… these ports to:"
_PORTS_BEFORE = re.compile(r"\b(?:the\s+(?:same\s+)?ports?\s+(?:you\s+use|above|listed\s+above|in\s+the\s+(?:table|list)\s+above|"
                           r"from\s+the\s+(?:table|list)\s+above)|(?:these|those|the\s+same)\s+ports?)\b", re.I)


_SAME_WORD = re.compile(r"\bthe\s+same\s+ports?\b", re.I)


def _list_before(t: Table, read: list[Rule]) -> list[Rule]:
    """The host rules of the list items just before a list table, in its section."""
    if t.line is None:
        return []
    items = [r for r in read if r.origin == "list" and r.table is None and r.section == t.headings
             and r.endpoint_kind in ("fqdn", "wildcard", "url", "template", "ip", "cidr")]
    return items


def _ports_of_list_before(t: Table, read: list[Rule]) -> dict[str | None, list[str]]:
    """"… instead, on the same port:" after a list of hosts that share one port: that port."""
    if not t.lead_in or not _SAME_WORD.search(t.lead_in):
        return {}
    shared = {(r.protocol, tuple(r.ports)) for r in _list_before(t, read) if r.ports}
    if len(shared) != 1:
        return {}
    (proto, plist), = shared
    return {proto: list(plist)}


def _ports_of_table_before(doc: Document, index: int, known: list[Rule]) -> dict[str | None, list[str]]:
    """The ports of the port table just before a host list whose lead-in points at them ("Allow the
    ports you use toward these hosts:" after "Protocol | Port | Notes"): that table's any-address rules."""
    t = doc.tables[index]
    if not t.lead_in or not _PORTS_BEFORE.search(t.lead_in) or index == 0:
        return {}
    before = doc.tables[index - 1]
    same_section = before.headings == t.headings
    sibling = len(t.headings) > 1 and before.headings[:-1] == t.headings[:-1] and _SAME_WORD.search(t.lead_in)
    if before.source != t.source or not (same_section or sibling):
        return {}
    ports: dict[str | None, list[str]] = {}
    for r in known:
        if r.table == index - 1 and r.endpoint == ANY_ADDRESS and r.ports:
            ports.setdefault(r.protocol, []).extend(p for p in r.ports if p not in ports.get(r.protocol, []))
    if not ports:  # ("Besides the domains above, open the same port to these hosts:": the one port the table's hosts share)
        shared = {(r.protocol, tuple(r.ports)) for r in known if r.table == index - 1 and r.ports}
        if len(shared) == 1:
            (proto, plist), = shared
            ports = {proto: list(plist)}
    return {k: sort_ports(v) for k, v in ports.items()}


_RANK = {"table": 0, "list": 1, "code": 2, "prose": 3}
_OPEN_FACTS = ("cloud", "tab", "protocol")


def reconcile(rules: list[Rule], known: list[Rule]) -> list[Rule]:
    """A sentence restating a requirement a table (or a code block) already gives must not make a
    second rule for the same party and direction: when exactly one better-placed rule (table >
    list > code > prose) with the same :attr:`Rule.identity` agrees on every fact both state, the
    text rule takes its cloud, tab and protocol, so the merge unions them into one rule (ports the
    better rule already covers, "29876 and 29877" against "29876-29877", are taken as it writes
    them). A port-only sentence (party ``*``) names no party, so it restates nothing."""
    anchors: dict[str, list[Rule]] = {}
    for r in [*known, *sorted(rules, key=lambda r: _RANK.get(r.origin, 9))]:
        anchors.setdefault(r.identity, []).append(r)
    for r in rules:
        if r.endpoint == ANY_ADDRESS:
            continue
        better = [a for a in anchors.get(r.identity, ()) if a is not r and _RANK.get(a.origin, 9) < _RANK.get(r.origin, 9)
                  and all(getattr(a, f) is None or getattr(r, f) is None or getattr(a, f) == getattr(r, f)
                          for f in _OPEN_FACTS)]
        variants = {tuple(getattr(a, f) for f in _OPEN_FACTS) for a in better}
        if len(variants) != 1:
            continue
        for f, v in zip(_OPEN_FACTS, variants.pop()):
            if getattr(r, f) is None:
                setattr(r, f, v)
        covering = next((a for a in better if a.ports and all(_covered(p, a.ports) for p in r.ports)), None)
        if covering is not None and r.ports:
            r.ports = list(covering.ports)
    return rules


def _bounds(port: str) -> tuple[int, int] | None:
    m = _PORT_BOUNDS.fullmatch(port)
    return (int(m.group(1)), int(m.group(2) or m.group(1))) if m else None


def _covered(port: str, ports: list[str]) -> bool:
    """``port`` (a number or range) lies within one of ``ports`` (``*`` covers everything)."""
    b = _bounds(port)
    for p in ports:
        if p == "*":
            return True
        c = _bounds(p)
        if b and c and c[0] <= b[0] and b[1] <= c[1]:
            return True
    return False


def _ports_for_lead_parties(block: Block, lead: str, ctx: _BlockCtx) -> list[Rule]:
    """A list item that states only ports ("V2 version: Ports 65200-65535") under a lead-in naming
    the party ("Allow incoming requests from the **GatewayManager** service tag"): the lead-in's
    parties on the item's ports and the lead-in's direction."""
    ports = port_phrases(block.text)
    if not ports or text_parties(block.text, block.code, bold=block.bold):
        return []
    stating = [s for s in sentences(lead) if _CUE.search(s) and not _NEG.search(s) and text_parties(s, [])]
    if len(stating) != 1:
        return []
    parties = text_parties(stating[0], [])
    d = direction_of(stating[0])
    return _rules_for(parties, ports, ctx, origin="list", direction=d if d in ("inbound", "outbound") else None)


_CONTRAST = re.compile(r",\s*(?:and\s+)?not\s+(?:the\s+|a\s+|an\s+|your\s+)?[\w'-]+(?:\s+[\w'-]+){0,2}\s*(?=[.:;]|$)", re.I)


@memo
def _lists_parties(lead: str) -> bool:
    """A list's lead-in (or heading) that says its items are parties to allow (asked once per list, not per item)."""
    # ("…, in the computer account's system context, not the user's:": a contrast, not a negated requirement)
    return bool(_CUE.search(lead) or _LIST_CUE.search(lead) or _TAG_WORDS.search(lead)) and not _NEG.search(_CONTRAST.sub("", lead))


def _block_rules(block: Block, ctx: _BlockCtx, listed: set, leads: set, leads_code: set,
                 defaults: list[SectionDefault]) -> list[Rule]:
    if block.kind != "code" and len(block.text) > MAX_PARAGRAPH:
        return []
    if block.kind == "code":
        if ctx.example:
            return []
        if has_rule_command(block.text):  # "az network nsg rule create … --source-address-prefixes X"
            return _command_rules(block, ctx)
        parties = _code_parties(block, ctx)
        if parties:
            if not ctx.lead_ports and block.lead_in and _INSTEAD.search(block.lead_in):
                # "… allow inbound HTTP (TCP 80) and HTTPS (TCP 443) from the X service tag." / "If your
                # firewall doesn't support service tags, allow the following address ranges instead:" —
                # the ranges stand in for the tag: its ports and direction
                before = ctx.memo.get(_PARAGRAPH_LEADS, {}).get(block.lead_in)
                ports = port_phrases(before) if before else {}
                if ports:
                    d = direction_of(before)
                    return _rules_for(parties, ports, ctx, origin="code", direction=d if d in ("inbound", "outbound") else None)
            return _rules_for(parties, ctx.lead_ports, ctx, origin="code")
        return _labelled_code_rules(block, ctx)
    if block.kind in ("list_item", "paragraph") and len(block.bold) >= 2 and not ctx.example:
        fielded = field_table_rules(labelled_fields(block.text, block.bold), block.code, block.headings, block.tabs,
                                    block.lead_in)
        if fielded:  # "**Destination**: `host` **Port**: 5671 **Protocol**: TCP": one rule, field by field
            for r in fielded:
                r.origin = "list" if block.kind == "list_item" else "prose"
            return fielded
    if block.kind == "list_item":
        if (tuple(block.headings), block.text) in listed or ctx.example:
            return []
        # the list's lead-in says what its items are; without one, the innermost heading does
        lead = block.lead_in or (block.headings[-1] if block.headings else "")
        allowlist = _lists_parties(lead)
        if allowlist and ctx.tag_context:
            tag = _bare_tag(block.text)
            if tag and not _NEG.search(block.text):
                extra = [(k, v) for k, v in text_parties(block.text, block.code) if v.lower() != tag.lower()]
                ports = port_phrases(block.text) or ctx.lead_ports
                return _rules_for([("tag", tag), *extra], ports, ctx, origin="list",
                                  direction=direction_of(block.text) if direction_of(block.text) != "both" else None)
        out: list[Rule] = []
        inherited = _ports_for_lead_parties(block, block.lead_in, ctx) if block.lead_in else []
        if inherited:
            return inherited
        return _joined_sentences(block, lambda s, carried=_NOT_CARRIED: _sentence_rules(
            s, block, ctx, origin="list", lead_in_of_next=block.text in leads, list_context=allowlist,
            leads_code=block.text in leads_code, defaults=defaults, carried=carried))
    if block.kind == "paragraph" and block.code and not ctx.example and _only_code(block):
        # a paragraph that is nothing but host names (a tab's "`<server>.mysql.database.azure.com`"):
        # a one-item list of parties, its ports from the page's statements
        parties = text_parties(block.text, block.code)
        if parties and all(k != "tag" for k, _ in parties):
            return _rules_for(parties, {}, ctx, origin="prose")
    is_lead, is_code_lead = block.text in leads, block.text in leads_code
    return _joined_sentences(block, lambda s, carried=_NOT_CARRIED: _sentence_rules(
        s, block, ctx, origin="prose", lead_in_of_next=is_lead, leads_code=is_code_lead, defaults=defaults,
        carried=carried))


_NOT_CARRIED = (False, None, None)
_CODE_GLUE = re.compile(r"^[\s,;.]*(?:(?:and|or)\s+)?[\s,;.]*$")


def _only_code(block: Block) -> bool:
    """The block's text is its code spans and the punctuation or "and"/"or" between them."""
    rest = block.text
    for c in sorted(block.code, key=len, reverse=True):
        rest = rest.replace(c, " ")
    return all(_CODE_GLUE.match(piece) for piece in rest.split(" and ")) if rest.strip() else True


_THOSE_PARTIES = re.compile(r"\b(?:those|these|the\s+same|both)\s+(?:address(?:es)?|ranges?|ips?|ip\s+addresses|hosts?|endpoints?|"
                            r"prefixes|subnets?|fqdns?|urls?|cidrs?|blocks?)\b", re.I)
_PREPOSITIONS = frozenset({"on", "over", "through", "using", "via", "in"})
_SAME_PORTS = re.compile(r"\b(?:the\s+same|those|these|both)\s+ports?\b|"
                         r"\b(?:on|over|through|using|via|in)\s+(?:that|this|these|those|the\s+same)\s+(?:port\s+)?ranges?\b", re.I)
# "… from the **AzureTrafficManager** service tag on the port you set …. For a default profile, that's TCP
# port 443.": the port of the rules before, which named none
_THATS = re.compile(r"\b(?:that's|that\s+is|which\s+is|this\s+is|that\s+means)\s+(?:tcp\s+|udp\s+)?(?:ports?\s+)?\d", re.I)
_ACCEPT_FROM = re.compile(r"\b(?:must|should|needs?\s+to|has\s+to|have\s+to)\s+(?:also\s+)?(?:accept|receive)\w*\s+(?:[\w-]+\s+){0,4}?from\b", re.I)
_STILL = re.compile(r"\b(?:also|still|too|as\s+well)\b", re.I)
_PRONOUN_SUBJECT = re.compile(r"^\s*(?:it|they)\s+(?:also\s+)?(?:must|should|needs?|requires?|can|will|accepts?|receives?|"
                              r"listens?|sends?|connects?|uses?|has\s+to|have\s+to)\b", re.I)
_OPENING_MACHINE = re.compile(rf"^\s*{_LEAD_DET}(?P<np>(?:{_LEAD_WORD}\s+){{0,4}}{ROLE_HEAD})\s+(?!(?:and|or|of)\b)[a-z]\w*", re.I)


def _with_subject(found: list[Rule], before: str, connecting: str | None = None) -> list[Rule]:
    """Role rules of a sentence whose subject is "it"/"they": the side it left open is the machine
    that connects in the sentence before (``connecting``), else the one that sentence opened with."""
    m = _OPENING_MACHINE.match(before)
    name = connecting or (_LEAD_DET_RX.sub("", m.group("np").strip()) if m and _one_role(m.group("np")) else None)
    if not name:
        return found
    out = []
    for r in found:
        if r.endpoint_kind == "role" and r.source and not r.destination and r.endpoint == r.source:
            r = replace(r, destination=name)
        elif r.endpoint_kind == "role" and r.destination and not r.source and r.endpoint == r.destination:
            r = replace(r, source=name, direction=r.direction or "outbound")  # (as when the subject is named)
        out.append(r)
    return out


def _joined_sentences(block: Block, read: Callable[..., list[Rule]]) -> list[Rule]:
    """The rules of a block's sentences, where one sentence finishes the one before: a party's
    ports in the next sentence ("… use the **X** service tag. The tag must cover ports …"), the
    party of the ports before ("… needs port 443 inbound. The source can be the Internet …"), or
    the hosts a sentence asks for without naming them ("allow the gateway hosts" / "Gateway host
    names have the form …")."""
    out: list[Rule] = []
    prev: list[Rule] = []
    bare: list[Rule] = []  # the previous sentence's any-address rules: ports still looking for a party
    asked: tuple[bool, str | None] | None = None  # "… allow the gateway hosts of the namespace instead."
    ported: dict[str | None, list[str]] = {}  # the last ports a sentence of the block stated ("… on that port")
    before = ""  # the sentence before
    last: list[Rule] = []  # the rules of the sentence before
    for s in sentences(block.text):
        found = read(s)
        if (before and all(r.endpoint == ANY_ADDRESS for r in found) and _THOSE_PARTIES.search(s) and _STRONG_CUE.search(s)
                and not _NEG.search(s)):
            # "… resolve to addresses in `52.114.0.0/15` and `52.122.0.0/15`. Allow those ranges on the same
            # port.": the addresses the sentence before named
            named = [v for k, v in text_parties(before, block.code) if k != "tag"]
            if named:
                found = read(f"{s.rstrip('. ')} ({', '.join(named)}).") or found
        if (ported and (not found or not any(r.ports for r in found)) and _SAME_PORTS.search(s) and not port_phrases(s)
                and (_STRONG_CUE.search(s) or _TAG_WORDS.search(s)) and not _NEG.search(s) and not _NONE_NEEDED.match(s)):
            # "It also needs the same ports to the domain controllers of each trusted domain": the ports
            # the sentence before stated, written in
            written = _spelled_ports(ported)
            found = read(_SAME_PORTS.sub(lambda m: (m.group(0).split()[0] + " " if m.group(0).split()[0].lower() in _PREPOSITIONS
                                                    else "") + written, s)) or found
        if last and not found and NO_RULE_NEEDED.search(s) and _BACK_TO_IT.search(s):
            # "… by sending them to `168.63.129.16`. That traffic is always allowed; you don't need an
            # NSG rule for it.": the sentence before named what needs no rule
            out = [r for r in out if not any(r is x for x in last)]
        if ported and found and _SAME_PORT.search(s) and len(ported) == 1:
            # "… through TDS on TCP port 1433. … so allow `*.x.net` on that port."
            (proto, plist), = ported.items()
            found = [replace(r, ports=sort_ports(plist), protocol=r.protocol or proto) if not r.ports else r
                     for r in found]
        if bare and _NONE_NEEDED.match(s):
            # "… on TCP port 7680. … on UDP 3544 … Neither is required: …": those ports stand for nothing
            out = [r for r in out if not (r.endpoint == ANY_ADDRESS and r.ports)]
        if before and found and _IT_REF.search(s) and any(r.ports for r in found):
            # "… of the form `<workspace>.grafana.azure.com`. Browsers need HTTPS (TCP 443) to it, and to `x`":
            # the first host the sentence before named
            named = [p for p in text_parties(before, block.code) if p[0] != "tag"]
            if named:
                model = next(r for r in found if r.ports)
                e, k, t, _, _ = _party_fields(*named[0])
                if e and e.lower() not in {(r.endpoint or "").lower() for r in found}:
                    found = [r for r in found if r.endpoint != ANY_ADDRESS] + [
                        replace(model, endpoint=e, endpoint_kind=k, service_tag=t, source=None, destination=None)]
        if before and found and _PRONOUN_SUBJECT.match(s):
            # "The relay appliance sits in front of the firewall. It must accept TCP 8080 from the X.":
            # "it" is the machine the sentence before opened with, or the one it said connects
            found = _with_subject(found, before, next((r.source for r in last if r.endpoint_kind == "role" and r.source
                                                        and r.destination == r.endpoint), None))
        before = s
        if not found and asked and (_HOST_NOUN.search(s) or _NAME_FORM.search(s)):
            found = read(s, asked)  # "Gateway host names have the form `g<n>-prod-….net`": the hosts asked for
        asked = None
        if not found and _STRONG_CUE.search(s) and _HOST_NOUN.search(s) and not _NEG.search(_LEADING_IF.sub("", s)):
            direction = direction_of(s)
            asked = (True, direction if direction in ("inbound", "outbound") else None)
        if prev and not found and _THATS.search(s) and not any(p.ports for p in prev):
            found = [replace(p, ports=sort_ports(plist), protocol=proto or p.protocol)
                     for p in prev for proto, plist in port_phrases(s).items()]  # (a port statement with no cue word)
        if prev and found and all(r.endpoint == ANY_ADDRESS for r in found) and (
                _ANAPHORA.search(s) or _THATS.search(s) and not any(p.ports for p in prev)
                or block.kind == "list_item" and not _PURPOSE.search(s, _first_digit(s))):
            # (a bullet is about one thing: "**X:** use the **Tag** tag. Allow inbound TCP 443.")
            found = [replace(p, ports=list(r.ports), protocol=r.protocol or p.protocol, direction=p.direction or r.direction)
                     for p in prev for r in found]
        elif bare and found and not any(r.ports for r in found) and _PARTY_OF_PREVIOUS.search(s):
            found = [replace(p, ports=list(r.ports), protocol=p.protocol or r.protocol, direction=p.direction or r.direction)
                     for p in found for r in bare]
            out = [r for r in out if not any(r is b for b in bare)]
        if not found and last and _INSTEAD.search(s) and not port_phrases(s):
            named = [p for p in text_parties(s, block.code) if p[0] != "tag"]
            model = next((r for r in last if r.ports and r.endpoint_kind in _NAMED_KINDS), None)
            if named and model is not None:  # (a sentence with no cue word: "… sign in at `x.us` instead")
                cloud = cloud_of_heading(s)
                for k, v in named:
                    e, ek, t, _, _ = _party_fields(k, v)
                    found.append(replace(model, endpoint=e, endpoint_kind=ek, service_tag=t, cloud=cloud or model.cloud))
        if found and last and not any(r.ports for r in found) and _INSTEAD.search(s):
            # "Clients get a token from `login.microsoftonline.com` first; they need TCP port 443 to it as well.
            # Clients in Azure Government sign in at `login.microsoftonline.us` instead.": the same ports
            model = next((r for r in last if r.ports), None)
            if model is not None:
                found = [replace(r, ports=list(model.ports), protocol=r.protocol or model.protocol,
                                 direction=r.direction or model.direction) for r in found]
        said = {r.direction for r in last if r.direction in ("inbound", "outbound")}
        if len(said) == 1 and _STILL.search(s):
            # "… allow the **AzureKeyVault** service tag outbound on TCP 443. For sign-in, also allow the
            # **AzureActiveDirectory** service tag.": the same way as the sentence before
            d = next(iter(said))
            found = [replace(r, direction=d) if r.direction is None and r.endpoint_kind != "role" else r for r in found]
        out += found
        last = found
        ported = port_phrases(s) or ported  # (what the sentence says, whether or not it made a rule)
        bare = [r for r in found if r.endpoint == ANY_ADDRESS and r.ports] or (bare if not found else [])
        prev = [r for r in found if r.endpoint != ANY_ADDRESS] or prev
    return out
