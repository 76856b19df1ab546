"""Parsed tables → normalized network rules (see ../shared/DESIGN.md, "Normalized rule").

Pure: a :class:`~parsers.model.Document` in, a sorted list of :class:`~docwatch.model.Rule`
out. Tables are recognised by what their columns *mean* (hosts/URLs/FQDNs/addresses,
service tags, source/destination, ports, protocol, direction, purpose, "when required",
environment), never by page, so new pages work without code changes. Context the row does
not state comes from the table: cloud from cloud tabs / an environment column / a heading
naming one cloud; direction from the lead-in or the heading path; the variant from the
innermost non-cloud tab.

Choices for shapes the pages leave open (see also :mod:`docwatch.normalize_values`):

* A row with an address column *and* a service-tag column ("Address | … | Service tag", AVD)
  gives one rule per address with ``service_tag`` set to the tag covering it, not extra
  tag-only rules; a row with only a tag gives a tag rule.
* Source/Destination (or From/To) rows key on the remote side; ``Any``/``*`` there is the
  any-address endpoint ``*``. A row whose remote side is only prose ("Cluster servers",
  "Source IP addresses for remote access") gives no rule: every rule names a host, URL, IP,
  CIDR, template or service tag.
* ``required`` comes from a Required/When-required column, a "Required"/"Optional" item in a
  category cell, bold/"(optional)" purposes, a Required/Optional tab, or else a lead-in or
  innermost heading that plainly says so ("Azure Global required network rules",
  "…aren't required, but are recommended"); conditional wording leaves it ``None``.

Rules are merged by :attr:`Rule.key` so cosmetic edits (row/column order, ``<br>`` vs
``</br>``, whitespace, a row split in two) give identical facts. When a page says nothing
about the cloud, ``cloud`` is ``None`` ("not cloud-specific"), not ``public``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from docwatch.model import Rule
from docwatch.normalize_values import (
    ANY_ADDRESS,
    cloud_annotations,
    cloud_of_heading,
    cloud_of_label,
    cloud_of_tab,
    direction_of,
    endpoint_kind,
    is_tag,
    is_virtual_network,
    parse_ports,
    parse_protocol,
    parties_in_cell,
    ports_in,
    scheme_port,
    sort_ports,
    split_endpoint_port,
    split_tag_port,
    tag_in_text,
    tags_in_text,
)
from parsers.model import Cell, Diagnostic, Document, Table, clean_text

log = logging.getLogger(__name__)

# Column roles
ENDPOINT, TAG, PAIR, SOURCE, DEST = "endpoint", "tag", "pair", "source", "dest"
PORTS, PAIR_PORTS, PROTO_PORTS, PROTOCOL, DIRECTION = "ports", "pair_ports", "proto_ports", "protocol", "direction"
PURPOSE, WHEN, REQUIRED, CLOUD, CLOUD_HOSTS, REGION, IGNORE = "purpose", "when", "required", "cloud", "cloud_hosts", "region", "ignore"
_NAMED_KINDS = {"fqdn", "wildcard", "url", "template"}
PARTY_ROLES = {ENDPOINT, TAG, PAIR, SOURCE, DEST, CLOUD_HOSTS}

_NOT_A_PARTY = {"any", "*", "all", "n/a", "na", "none", "yes", "no", "dynamic", "global", "regional", "-"}
_PURPOSE_WORDS = (
    ("purpose", 0), ("description", 1), ("desc", 1), ("required for", 2), ("used for", 2), ("usage", 3), ("use", 3),
    ("scenario", 4), ("feature", 4), ("category", 4), ("service", 5), ("notes", 6), ("note", 6),
    ("comment", 6), ("details", 6), ("reason", 6),
)
_ENDPOINT_RX = re.compile(
    r"\b(hosts?|host ?names?|urls?|uris?|fqdns?|endpoints?|address(es)?|ip|ips|ip ranges?|domains?( names?)?|"
    r"dns names?|agent resources?|servers?|destination hosts?)\b"
)


@dataclass
class Column:
    role: str
    rank: int = 0  # purpose priority (lower first)
    cloud: str | None = None  # CLOUD_HOSTS: the cloud the header names
    direction: str | None = None  # e.g. "Outbound Port(s)"
    when: bool = False  # REQUIRED column whose text is kept in ``when``
    tagged: bool = False  # SOURCE/DEST/PAIR header that says it holds service tags


def _header(text: str) -> str:
    h = clean_text(re.sub(r"[*_`]", " ", text or "")).lower()
    h = h.replace("(s)", "s")
    h = re.sub(r"(destination|source)(ports?)", r"\1 \2", h)
    return h


def classify_column(header: str) -> Column:
    """What a column header means; unknown headers are ``IGNORE``."""
    h = _header(header)
    if not h:
        return Column(IGNORE)
    if "private link" in h or "example" in h:
        return Column(IGNORE)
    has_ports = re.search(r"\bports?\b|\bport ranges?\b", h) is not None
    if h in ("from", "source", "to", "destination"):
        return Column(SOURCE if h in ("from", "source") else DEST)  # "Use | From | To" (App Service)
    if "source" in h and "destination" in h:
        if has_ports:
            return Column(PAIR_PORTS)
        return Column(PAIR, tagged="tag" in h)
    if has_ports:
        if h.startswith("source"):
            return Column(IGNORE)  # source ports say nothing about the remote party
        if "protocol" in h or "transport" in h:
            return Column(PROTO_PORTS)
        return Column(PORTS, direction=_single_direction(h))
    if "protocol" in h or "transport" in h:
        return Column(PROTOCOL)
    if "direction" in h or ("inbound" in h and "outbound" in h):
        return Column(DIRECTION)
    if "when required" in h or h in ("required", "required?", "mandatory", "optional", "required or optional") or (
        "required" in h and h.endswith("?")
    ):
        return Column(REQUIRED, when="when" in h)
    if "environment" in h or h in ("cloud", "azure cloud", "clouds", "national cloud"):
        return Column(CLOUD)
    if "tag" in h:
        if h.startswith("source"):
            return Column(SOURCE, tagged=True)
        if h.startswith("destination"):
            return Column(DEST, tagged=True)
        return Column(TAG)
    if h.startswith("source"):
        return Column(SOURCE)
    if h.startswith("destination") and not _ENDPOINT_RX.search(h.replace("destination", "", 1)):
        return Column(DEST)
    if _ENDPOINT_RX.search(h):  # "Destination Endpoint", "Destination FQDN": where traffic goes
        toward = "outbound" if h.startswith(("destination", "target")) else None
        return Column(ENDPOINT, direction=_single_direction(h) or toward)
    if re.fullmatch(r"regions?|azure regions?|location", h):
        return Column(REGION)
    for word, rank in _PURPOSE_WORDS:
        if re.search(rf"\b{word}", h):
            return Column(PURPOSE, rank=rank)
    cloud = cloud_of_label(header)
    if cloud and len(h.split()) <= 6:
        return Column(CLOUD_HOSTS, cloud=cloud)
    return Column(IGNORE)


def _single_direction(text: str) -> str | None:
    d = direction_of(text)
    return d if d in ("inbound", "outbound") else None


_PROTO_CELL = re.compile(r"(tcp|udp|icmp\w*|n/a)(\s*[/,&]\s*(tcp|udp|icmp\w*))*", re.I)


def _roles(table: Table) -> list[Column]:
    """Column roles from headers; a column whose every cell is a protocol word is the protocol
    column whatever its header says ("Service: TCP" in Azure Stack HCI port tables)."""
    cols = [classify_column(c) for c in table.columns]
    if not any(c.role in (PROTOCOL, PROTO_PORTS) for c in cols):
        for i, c in enumerate(cols):
            if c.role not in (IGNORE, PURPOSE) or re.search(r"\bports?\b", _header(table.columns[i])):
                continue
            texts = [row[i].text for row in table.rows if i < len(row) and row[i].text]
            if texts and all(_PROTO_CELL.fullmatch(t.strip()) for t in texts) and any(parse_protocol(t) for t in texts):
                cols[i] = Column(PROTOCOL)
                break
    return cols


def _looks_like_rule_columns(cols: list[Column]) -> bool:
    roles = {c.role for c in cols}
    if roles & PARTY_ROLES:
        return True
    return bool(roles & {PORTS, PAIR_PORTS, PROTO_PORTS}) and bool(roles & {PROTOCOL, DIRECTION})


def is_rule_table(table: Table) -> bool:
    """True when the table (or code-formatted bulleted list) lists network rules."""
    try:
        if table.kind == "list":
            return any(parties_in_cell(cell) for row in table.rows for cell in row)
        cols = _roles(table)
        if not _looks_like_rule_columns(cols):
            return False
        return any(_row_rules(table, cols, _context(table), i, row) for i, row in enumerate(table.rows))
    except Exception:  # pragma: no cover - never let an odd table break a run
        log.debug("is_rule_table failed on a table", exc_info=True)
        return False


# ---------------------------------------------------------------- table context


@dataclass
class _Ctx:
    cloud: str | None = None
    tab: str | None = None
    direction: str | None = None  # from lead-in / headings, single direction
    direction_both: bool = False  # the lead-in/heading named both directions
    required: bool | None = None  # tab labelled "Required" / "Optional"
    section: list[str] = field(default_factory=list)
    ports: dict[str | None, list[str]] = field(default_factory=dict)  # "… uses **port 443**." in the lead-in


def _context(table: Table) -> _Ctx:
    ctx = _Ctx(section=list(table.headings))
    for tab in reversed(table.tabs):
        cloud = cloud_of_tab(tab.label, tab.id)
        if cloud:
            ctx.cloud = ctx.cloud or cloud
        elif ctx.tab is None:
            ctx.tab = clean_text(tab.label) or tab.id
    if ctx.cloud is None:
        for heading in reversed(table.headings):
            ctx.cloud = cloud_of_heading(heading)
            if ctx.cloud:
                break
    # a single direction anywhere (innermost first); "both" only from the lead-in or the
    # innermost heading: page titles like "Configure inbound and outbound traffic" say nothing
    texts = [table.lead_in, *reversed(table.headings)]
    for pos, text in enumerate(texts):
        d = direction_of(text)
        if d == "both":
            ctx.direction_both = ctx.direction_both or pos <= 1
            continue
        if d:
            ctx.direction = d
            break
    if ctx.direction is None and not ctx.direction_both:  # "IP address dependencies": what the service calls out to
        if any(re.search(r"\bdependenc(y|ies)\b", t or "", re.I) for t in texts[:2]):
            ctx.direction = "outbound"
    ctx.ports = ports_of_lead_in(table.lead_in)
    if ctx.tab:
        t = ctx.tab.lower()
        ctx.required = True if t in ("required", "mandatory") else False if t in ("optional",) else None
    if ctx.required is None:  # "Azure Global required network rules", "…aren't required, but are recommended"
        # a variant tab ("Situational") sits between the heading and the table: the heading no longer speaks for it
        for text in (table.lead_in, table.headings[-1] if table.headings and not ctx.tab else None):
            ctx.required = _required_of_context(text)
            if ctx.required is not None:
                break
    return ctx


_REQUIRED_CONTEXT = re.compile(
    r"^required\b|\b(are|is|be)\s+(also\s+)?required\b|\brequired\s+(outbound\s+|inbound\s+|network\s+|firewall\s+|"
    r"application\s+|fqdn\s*/?\s*)*(fqdns?|endpoints?|urls?|rules?|ports?|addresses|hosts?|domains?|dependencies|firewall)\b")


_LEAD_IN_PORTS = re.compile(
    r"\b(?:(tcp|udp)\s+)?ports?\s+(\d{1,5}(?:\s*(?:,|and|or|,\s*and)\s*\d{1,5})*)\b(?:\s*\((tcp|udp)\))?", re.I)


def ports_of_lead_in(text: str | None) -> dict[str | None, list[str]]:
    """Ports a lead-in states for a table that has no port column ("Communication to these
    addresses uses port 443.", "over TCP port 443", "on ports 80 and 443"). Only a single
    mention counts: a lead-in naming several port phrases is too loose to apply to every row."""
    found = list(_LEAD_IN_PORTS.finditer(clean_text(text or "")))
    if len(found) != 1:
        return {}
    m = found[0]
    proto = (m.group(1) or m.group(3) or "").lower() or None
    ports = [p for p in re.findall(r"\d{1,5}", m.group(2)) if 0 < int(p) <= 65535]
    return {proto: ports} if ports else {}


def _required_of_context(text: str | None) -> bool | None:
    """Required-ness a heading or lead-in states for a whole table; ``None`` when it is not that plain.

    "Azure Global required network rules", "… are required" → True; "Optional …", "… aren't
    required, but are recommended" → False; "required based on scenario", "packages required by
    your project" → None (a condition or a different sense of the word).
    """
    t = clean_text(text or "").lower()
    if not t:
        return None
    if re.search(r"(\bnot|n't|\bnever)\s+(strictly\s+)?required\b|\boptional\b", t):
        return None if _REQUIRED_CONTEXT.search(re.sub(r"(\bnot|n't)\s+required", "", t)) else False
    if re.search(r"\b(based on|depending on|depends on|if|when|situational)\b", t):
        return None
    return True if _REQUIRED_CONTEXT.search(t) else None


def _required_of(text: str) -> bool | None:
    t = clean_text(text).lower().strip(" .")
    if not t or t in ("-", "n/a"):
        return None
    if re.match(r"^(no\b|optional|not required|not needed|never)", t):
        return False
    if re.match(r"^(yes\b|always|required|mandatory|✓|✔|&check;|x$)", t):
        return True
    return None


def _required_from_purpose(cell: Cell) -> bool | None:
    text = cell.text
    if cell.bold:
        first = clean_text(cell.bold[0])
        if len(first) >= 3 and text.startswith(first[: min(len(first), 30)]):
            return True
    if re.search(r"\(\s*optional\s*\)|^optional\b", text, re.I):
        return False
    return None


_ANY_WORDS = {"any", "*", "all", "any source", "any destination", "any address", "any ip", "internet (any)"}
# "database.windows.net: 1433", "Internet: 53", "App Service Environment subnet: All ports"
_SIDE_PORTS = re.compile(
    r"^(?P<who>.+?):\s*(?P<ports>all ports|any port|\d{1,5}(?:\s*[-–]\s*\d{1,5})?(?:\s*,\s*\d{1,5}(?:\s*[-–]\s*\d{1,5})?)*)"
    r"(?P<rest>\s*(?:\(.*\))?\s*\.?)$", re.I)


@dataclass
class _Side:
    written: str | None = None
    parties: list[tuple[str, str]] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)

    @property
    def rank(self) -> int:
        """0 nothing, 1 only VirtualNetwork, 2 only any-address, 3 a specific party."""
        kinds = {"vnet" if p[0] == "tag" and is_virtual_network(p[1]) else "any" if p[1] == ANY_ADDRESS else "x"
                 for p in self.parties}
        return 3 if "x" in kinds else 2 if "any" in kinds else 1 if kinds else 0

    def specific(self) -> list[tuple[str, str]]:
        keep = 3 if self.rank == 3 else 2
        return [p for p in self.parties if keep == 2 or not (p[1] == ANY_ADDRESS or p[0] == "tag" and is_virtual_network(p[1]))]


def _side(cell: Cell | None, text: str | None = None, *, tagged: bool = False) -> _Side:
    """One source/destination side: its text as written, its parties and the ports it names.

    ``Any``/``*`` is the any-address party; free text ("Cluster servers", "Management machine")
    gives no party. Names with spaces count as tags only in a column whose header says "tag".
    """
    cell = cell if text is None and cell is not None else Cell.from_items([text or ""])
    written = clean_text(cell.text) or None
    side = _Side(written)
    if not written:
        return side
    who = written
    first = clean_text(cell.items[0]) if cell.items else written
    m = _SIDE_PORTS.match(written)
    if m and not cell.code:
        who = m.group("who").strip()
        side.ports = ["*"] if re.match(r"all|any", m.group("ports"), re.I) else ports_in(m.group("ports"))
    if who.lower().strip(" .") in _ANY_WORDS or first.lower().strip(" .") in _ANY_WORDS or re.match(
            r"^(\*|any)(\s+or\b|\s*[,;(]|$)", first, re.I):  # "* or, for more security, the Batch IPs"
        side.parties = [("cidr", ANY_ADDRESS)]
        return side
    source_cell = cell if who == written else Cell.from_items([who])
    side.parties = [p for p in parties_in_cell(source_cell, tag_column=tagged and bool(source_cell.code))
                    if p[1] != ANY_ADDRESS]
    if not side.parties:
        tags = tags_in_text(who) if tagged else [t for t in [tag_in_text(who)] if t and is_tag(t)]
        side.parties = [("tag", t) for t in tags if t.lower() not in _NOT_A_PARTY]
    return side


def _pick_side(src: _Side, dst: _Side, direction: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """The remote parties of a source/destination pair (and the ports written on that side).

    The side the direction points at wins when it names a party; a specific party beats the
    any-address, which beats ``VirtualNetwork``. When the remote side is free text ("Source IP
    addresses for remote access") there is no party to key a rule on: nothing is returned.
    """
    preferred, other = (src, dst) if direction == "inbound" else (dst, src) if direction == "outbound" else (None, None)
    if preferred is not None:
        if preferred.rank >= 2:
            return preferred.specific(), preferred.ports or other.ports
        if other.rank == 3:
            return other.specific(), other.ports or preferred.ports
        if preferred.rank == 1 and other.rank <= 1:
            return [("tag", "VirtualNetwork")], preferred.ports or other.ports
        return [], []
    best = max((dst, src), key=lambda s: s.rank)  # dst first: ties go to the destination
    if best.rank == 0:
        return [], []
    if best.rank == 1:
        return [("tag", "VirtualNetwork")], best.ports
    return best.specific(), best.ports or (src if best is dst else dst).ports


def _purpose(row: list[Cell], cols: list[Column]) -> tuple[str | None, Cell | None]:
    parts = sorted(((c.rank, i) for i, c in enumerate(cols) if c.role == PURPOSE and i < len(row) and row[i].text), key=lambda x: x)
    texts: list[str] = []
    for _, i in parts:
        t = clean_text(row[i].text)
        if t and t not in texts:
            texts.append(t)
    main = row[parts[0][1]] if parts else None
    return (" — ".join(texts) or None), main


def _party_fields(kind: str, value: str) -> tuple[str | None, str | None, str | None, list[str], str | None]:
    """(endpoint, endpoint_kind, service_tag, ports written on the party, protocol it implies)."""
    if kind == "tag":
        tag, extra = split_tag_port(value)
        return None, None, tag, extra, None
    endpoint, extra = split_endpoint_port(value)
    implied = scheme_port(endpoint)
    if not extra and implied:
        extra = [implied]
    proto = "tcp" if implied or re.match(r"^https?://", endpoint, re.I) else None
    return endpoint, endpoint_kind(endpoint) or kind, None, extra, proto


def _cell_required(cells: dict[int, Cell], cols: list[Column]) -> bool | None:
    """A standalone "Required"/"Optional" item in a category-like cell ("Allow<br>Required", Intune)."""
    for i, cell in cells.items():
        if cols[i].role in (PURPOSE, IGNORE):
            for item in cell.items:
                t = item.strip(" .*").lower()
                if t in ("required", "optional"):
                    return t == "required"
    return None


def _row_rules(table: Table, cols: list[Column], ctx: _Ctx, index: int, row: list[Cell]) -> list[Rule]:
    cells = {i: row[i] for i in range(min(len(row), len(cols)))}
    by_role: dict[str, list[int]] = {}
    for i, c in enumerate(cols):
        if i in cells:
            by_role.setdefault(c.role, []).append(i)

    def text(role: str) -> str:
        return " ".join(cells[i].text for i in by_role.get(role, []) if cells[i].text)

    # direction: column > port header > single-direction context > table shape > "both" context
    direction = direction_of(text(DIRECTION)) if DIRECTION in by_role else None
    if direction is None:
        direction = next((cols[i].direction for i in cells if cols[i].direction), None)
    if direction is None:
        direction = ctx.direction
    if direction is None and (SOURCE in by_role) != (DEST in by_role) and PAIR not in by_role:
        direction = "inbound" if SOURCE in by_role else "outbound"
    if direction is None and ctx.direction_both:
        direction = "both"

    protocol = parse_protocol(text(PROTOCOL)) if PROTOCOL in by_role else None
    if protocol is None and DIRECTION in by_role:  # "…need outbound connection on UDP"
        m = re.search(r"\b(tcp|udp)\b", text(DIRECTION), re.I)
        protocol = m.group(1).lower() if m else None
    ports: dict[str | None, list[str]] = {}
    for role, kw in ((PORTS, {}), (PAIR_PORTS, {"source_dest": True}), (PROTO_PORTS, {})):
        for i in by_role.get(role, []):
            cell = cells[i]
            items = [_drop_marks(it, cell.footnotes) for it in (cell.items or [cell.text])]
            for proto, plist in parse_ports(items, default_protocol=protocol, **kw).items():
                ports.setdefault(proto, []).extend(plist)

    if not ports and ctx.ports and not ({PORTS, PAIR_PORTS, PROTO_PORTS} & by_role.keys()):
        ports = {(p or protocol): list(v) for p, v in ctx.ports.items()}
        protocol = protocol or next(iter(ports))
    purpose, purpose_cell = _purpose(row, cols)
    cloud = ctx.cloud
    if CLOUD in by_role:
        cloud = cloud_of_label(text(CLOUD)) or cloud
    if cloud is None:  # "Azure China: MCR" in a scenario/purpose cell
        for i in by_role.get(PURPOSE, []):
            m = re.match(r"^([^:]{3,40}):", cells[i].text)
            cloud = cloud_of_label(m.group(1)) if m else None
            if cloud:
                break
    if purpose is None and REGION in by_role:
        purpose = clean_text(text(REGION)) or None

    required, when = ctx.required, None
    if REQUIRED in by_role:
        rtext = clean_text(text(REQUIRED))
        r = _required_of(rtext)
        if r is None and rtext and any(cols[i].when for i in by_role[REQUIRED]):
            r = True  # "When required: At installation time" = required, under the condition kept in `when`
        required = r if r is not None else required
        if rtext and (any(cols[i].when for i in by_role[REQUIRED]) or r is None):
            when = rtext
    else:
        r = _cell_required(cells, cols)
        required = r if r is not None else required
    if purpose_cell is not None and (REQUIRED not in by_role or required is None):
        r = _required_from_purpose(purpose_cell)
        required = r if r is not None else required

    # parties: (kind, value, cloud override)
    parties: list[tuple[str, str, str | None]] = []
    for i in by_role.get(ENDPOINT, []):
        found = parties_in_cell(cells[i])
        notes = cloud_annotations(cells[i])
        implicit = "public" if cloud is None and notes and "public" not in notes.values() else None
        parties += [(k, v, notes.get(v.lower(), implicit)) for k, v in found]
    for i in by_role.get(CLOUD_HOSTS, []):
        parties += [(k, v, cols[i].cloud) for k, v in parties_in_cell(cells[i])]
    row_tags: list[tuple[str, str]] = []
    for i in by_role.get(TAG, []):
        cell = cells[i]
        if cell.code:
            found = parties_in_cell(cell, tag_column=True)
        else:  # "WindowsUpdate and HDInsight" > items of CamelCase tags > "Azure Monitor", "Storage tag"
            named = [t for t in tags_in_text(cell.text) if t.lower() not in _NOT_A_PARTY]
            found = [("tag", t) for t in named] if len(named) > 1 else parties_in_cell(cell)
            found = found or [("tag", t) for t in named]
        row_tags += found
    if parties:  # "Address | … | Service tag": the tag is the one that covers this address
        attach = next((v for k, v in row_tags if k == "tag"), None)
        parties += [(k, v, None) for k, v in row_tags if k != "tag"]
    else:
        attach = None
        parties += [(k, v, None) for k, v in row_tags]

    source = destination = None
    sides: tuple[_Side, _Side] | None = None
    if PAIR in by_role:
        pair_text = text(PAIR)
        tagged = any(cols[i].tagged for i in by_role[PAIR])
        if "/" in pair_text:
            s, d = pair_text.split("/", 1)
            sides = (_side(None, s, tagged=tagged), _side(None, d, tagged=tagged))
    elif SOURCE in by_role or DEST in by_role:
        src = _side(cells[by_role[SOURCE][0]], tagged=cols[by_role[SOURCE][0]].tagged) if SOURCE in by_role else _Side()
        dst = _side(cells[by_role[DEST][0]], tagged=cols[by_role[DEST][0]].tagged) if DEST in by_role else _Side()
        sides = (src, dst)
    if sides:
        source, destination = sides[0].written, sides[1].written
        if not parties:
            picked, side_ports = _pick_side(sides[0], sides[1], direction)
            parties += [(k, v, None) for k, v in picked]
            if side_ports and not ports:
                ports = {protocol: sort_ports(side_ports)}

    # a cell listing hosts and IP ranges together lists destinations: the IPs go the same way
    named_row = any(k in _NAMED_KINDS for k, _, _ in parties) and not sides
    rules: list[Rule] = []
    for kind, value, cloud_override in parties:
        endpoint, ekind, service_tag, extra, implied_proto = _party_fields(kind, value)
        groups = {k: list(v) for k, v in ports.items()} or {protocol or implied_proto: []}
        if extra:
            if not any(groups.values()):
                groups = {protocol or implied_proto: extra}
            else:
                for k in groups:
                    groups[k] = groups[k] + extra
        if implied_proto and None in groups:
            groups.setdefault(implied_proto, []).extend(groups.pop(None))
        rule_direction = direction
        if rule_direction is None and (ekind in _NAMED_KINDS or named_row):
            rule_direction = "outbound"  # DNS names are only ever destinations a client resolves
        for proto, plist in groups.items():
            rules.append(Rule(
                endpoint=endpoint, endpoint_kind=ekind, service_tag=service_tag or attach,
                source=source, destination=destination, ports=sort_ports(plist),
                protocol=proto, direction=rule_direction, cloud=cloud_override or cloud, tab=ctx.tab,
                required=required, when=when, purpose=purpose,
                section=list(ctx.section), table=None, row=index,
            ))
    return rules


def _drop_marks(item: str, footnotes: list[str]) -> str:
    for f in footnotes or []:
        if f and item.endswith(f) and len(item) > len(f):
            item = item[: -len(f)].rstrip()
    return item


def _list_rules(table: Table, ctx: _Ctx) -> list[Rule]:
    rules = []
    for index, row in enumerate(table.rows):
        for cell in row:
            notes = cloud_annotations(cell)
            for kind, value in parties_in_cell(cell):
                endpoint, ekind, tag, extra, proto = _party_fields(kind, value)
                rules.append(Rule(
                    endpoint=endpoint, endpoint_kind=ekind, service_tag=tag, ports=sort_ports(extra), protocol=proto,
                    direction=ctx.direction or ("both" if ctx.direction_both else None)
                    or ("outbound" if ekind in _NAMED_KINDS else None),
                    cloud=notes.get(value.lower()) or ctx.cloud, tab=ctx.tab, required=ctx.required,
                    section=list(ctx.section), row=index,
                ))
    return rules


def table_rules(table: Table, index: int | None = None) -> list[Rule]:
    """Unmerged rules of one table (empty for a table that is not a rule table)."""
    ctx = _context(table)
    if table.kind == "list":
        rules = _list_rules(table, ctx)
    else:
        cols = _roles(table)
        if not _looks_like_rule_columns(cols):
            return []
        rules = [r for i, row in enumerate(table.rows) for r in _row_rules(table, cols, ctx, i, row)]
    for r in rules:
        r.table = index
    return rules


# ---------------------------------------------------------------- merge


def _join(values) -> str | None:
    distinct = sorted({v for v in values if v})
    return " / ".join(distinct) or None


def merge_rules(rules: list[Rule]) -> list[Rule]:
    """One rule per :attr:`Rule.key`; ports unioned, texts distinct+sorted, required if any."""
    groups: dict[str, list[Rule]] = {}
    for r in rules:
        groups.setdefault(r.key, []).append(r)
    merged = []
    for key in sorted(groups):
        rs = groups[key]
        first = min(rs, key=lambda r: (r.table if r.table is not None else -1, r.row if r.row is not None else -1))
        req = [r.required for r in rs]
        merged.append(Rule(
            endpoint=min((r.endpoint for r in rs if r.endpoint), default=None),
            endpoint_kind=min((r.endpoint_kind for r in rs if r.endpoint_kind), default=None),
            service_tag=min((r.service_tag for r in rs if r.service_tag), default=None),
            source=_join(r.source for r in rs),
            destination=_join(r.destination for r in rs),
            ports=sort_ports(p for r in rs for p in r.ports),
            protocol=first.protocol, direction=first.direction, cloud=first.cloud, tab=first.tab,
            required=True if True in req else False if False in req else None,
            when=_join(r.when for r in rs),
            purpose=_join(r.purpose for r in rs),
            section=list(first.section), table=first.table, row=first.row,
        ))
    return merged


def normalize_checked(doc: Document) -> tuple[list[Rule], list[Diagnostic]]:
    """All rules of a document (merged and sorted by key) plus one ``normalize-failed``
    diagnostic per table that could not be normalized. A malformed table never hides the
    others; callers that feed the catalog add the diagnostics to the document so the
    false-alarm guard sees that rules are missing, rather than reading them as removed."""
    rules: list[Rule] = []
    failures: list[Diagnostic] = []
    for index, table in enumerate(doc.tables):
        try:
            rules.extend(table_rules(table, index))
        except Exception as exc:
            log.warning("could not normalize table %d (%s)", index, " › ".join(table.headings), exc_info=True)
            failures.append(Diagnostic("normalize-failed", f"table {index} ({' › '.join(table.headings)}): "
                                       f"{type(exc).__name__}: {exc}", table.line, "error"))
    from docwatch.coverage import coverage_diagnostics  # the coverage pass (tokens seen → rules)
    from docwatch.textrules import text_rules  # code blocks, lists, alerts and sentences

    rules.extend(text_rules(doc))
    merged = merge_rules(rules)
    return merged, failures + coverage_diagnostics(doc, merged, failures)


def normalize(doc: Document) -> list[Rule]:
    """All rules of a document, merged by key and sorted by key. Never raises on odd tables."""
    return normalize_checked(doc)[0]
