"""Parsed tables → normalized network rules (see ../shared/DESIGN.md, "Normalized rule").

Pure: a :class:`~parsers.model.Document` in, a sorted list of :class:`~docwatch.model.Rule`
out. Tables are recognised by what their columns *mean* (hosts/URLs/FQDNs/addresses,
service tags, source/destination, ports, protocol, direction, purpose, "when required",
environment), never by page, so new pages work without code changes. Context the row does
not state comes from the table: cloud from cloud tabs / an environment column / a heading
naming one cloud; direction from the lead-in or the heading path; the variant from the
innermost non-cloud tab.

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
    cloud_of_heading,
    cloud_of_label,
    cloud_of_tab,
    direction_of,
    endpoint_kind,
    is_virtual_network,
    parse_ports,
    parse_protocol,
    parties_in_cell,
    sort_ports,
    split_endpoint_port,
    tag_in_text,
)
from parsers.model import Cell, Document, Table, clean_text

log = logging.getLogger(__name__)

# Column roles
ENDPOINT, TAG, PAIR, SOURCE, DEST = "endpoint", "tag", "pair", "source", "dest"
PORTS, PAIR_PORTS, PROTO_PORTS, PROTOCOL, DIRECTION = "ports", "pair_ports", "proto_ports", "protocol", "direction"
PURPOSE, WHEN, REQUIRED, CLOUD, CLOUD_HOSTS, REGION, IGNORE = "purpose", "when", "required", "cloud", "cloud_hosts", "region", "ignore"
_NAMED_KINDS = {"fqdn", "wildcard", "url", "template"}
PARTY_ROLES = {ENDPOINT, TAG, PAIR, SOURCE, DEST, CLOUD_HOSTS}

_NOT_A_PARTY = {"any", "*", "all", "n/a", "na", "none", "yes", "no", "dynamic", "global", "regional", "-"}
_PURPOSE_WORDS = (
    ("purpose", 0), ("description", 1), ("required for", 2), ("used for", 2), ("usage", 3), ("use", 3),
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
    if "source" in h and "destination" in h:
        if has_ports:
            return Column(PAIR_PORTS)
        return Column(PAIR)
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
            return Column(SOURCE)
        if h.startswith("destination"):
            return Column(DEST)
        return Column(TAG)
    if h.startswith("source"):
        return Column(SOURCE)
    if h.startswith("destination") and not _ENDPOINT_RX.search(h.replace("destination", "", 1)):
        return Column(DEST)
    if _ENDPOINT_RX.search(h):
        return Column(ENDPOINT, direction=_single_direction(h))
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


def _roles(table: Table) -> list[Column]:
    return [classify_column(c) for c in table.columns]


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
    if ctx.tab:
        t = ctx.tab.lower()
        ctx.required = True if t in ("required", "mandatory") else False if t in ("optional",) else None
    return ctx


# ---------------------------------------------------------------- rows


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


def _side(cell: Cell, text: str | None = None) -> tuple[str | None, tuple[str, str] | None]:
    """One source/destination side: (text as written, party (kind, value) or None)."""
    written = clean_text(text if text is not None else cell.text) or None
    if not written:
        return None, None
    if text is None:
        parties = parties_in_cell(cell)
        if parties:
            return written, parties[0]
    tag = tag_in_text(written)
    if tag and tag.lower() not in _NOT_A_PARTY:
        return written, ("tag", tag)
    kind_parties = [p for p in parties_in_cell(Cell.from_items([written])) if p[0] != "tag"]
    return written, (kind_parties[0] if kind_parties else None)


def _pick_side(src, dst, direction: str | None):
    """The remote party of a source/destination pair: not ``VirtualNetwork`` (unless both are)."""
    (_, sp), (_, dp) = src, dst
    cands = [(name, p) for name, p in (("source", sp), ("dest", dp)) if p]
    if not cands:
        return None
    non_vnet = [(n, p) for n, p in cands if not (p[0] == "tag" and is_virtual_network(p[1]))]
    if not non_vnet:
        return ("tag", "VirtualNetwork")
    if len(non_vnet) == 1:
        return non_vnet[0][1]
    if direction == "inbound":
        return sp
    return dp


def _purpose(row: list[Cell], cols: list[Column]) -> tuple[str | None, Cell | None]:
    parts = sorted(((c.rank, i) for i, c in enumerate(cols) if c.role == PURPOSE and i < len(row) and row[i].text), key=lambda x: x)
    texts: list[str] = []
    for _, i in parts:
        t = clean_text(row[i].text)
        if t and t not in texts:
            texts.append(t)
    main = row[parts[0][1]] if parts else None
    return (" — ".join(texts) or None), main


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
    ports: dict[str | None, list[str]] = {}
    for role, kw in ((PORTS, {}), (PAIR_PORTS, {"source_dest": True}), (PROTO_PORTS, {})):
        for i in by_role.get(role, []):
            cell = cells[i]
            items = [_drop_marks(it, cell.footnotes) for it in (cell.items or [cell.text])]
            for proto, plist in parse_ports(items, default_protocol=protocol, **kw).items():
                ports.setdefault(proto, []).extend(plist)

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
    if purpose_cell is not None and (REQUIRED not in by_role or required is None):
        r = _required_from_purpose(purpose_cell)
        required = r if r is not None else required

    # parties: (kind, value, cloud override)
    parties: list[tuple[str, str, str | None]] = []
    for i in by_role.get(ENDPOINT, []):
        parties += [(k, v, None) for k, v in parties_in_cell(cells[i])]
    for i in by_role.get(CLOUD_HOSTS, []):
        parties += [(k, v, cols[i].cloud) for k, v in parties_in_cell(cells[i])]
    for i in by_role.get(TAG, []):
        found = parties_in_cell(cells[i])
        if not found:
            tag = tag_in_text(cells[i].text)
            found = [("tag", tag)] if tag and tag.lower() not in _NOT_A_PARTY else []
        parties += [(k, v, None) for k, v in found]

    source = destination = None
    sides = None
    if PAIR in by_role:
        pair_text = text(PAIR)
        if "/" in pair_text:
            s, d = pair_text.split("/", 1)
            sides = (_side(Cell(), s), _side(Cell(), d))
    elif SOURCE in by_role or DEST in by_role:
        src = _side(cells[by_role[SOURCE][0]]) if SOURCE in by_role else (None, None)
        dst = _side(cells[by_role[DEST][0]]) if DEST in by_role else (None, None)
        sides = (src, dst)
    if sides:
        source, destination = sides[0][0], sides[1][0]
        if not parties:
            picked = _pick_side(sides[0], sides[1], direction)
            if picked:
                parties.append((picked[0], picked[1], None))

    if not parties:
        if ports and sides and (source or destination):
            parties.append(("", "", None))  # a port rule between parties the table names only in prose
        else:
            return []

    rules: list[Rule] = []
    for kind, value, cloud_override in parties:
        endpoint = service_tag = ekind = None
        extra: list[str] = []
        if kind == "tag":
            service_tag = value
        elif kind:
            endpoint, extra = split_endpoint_port(value)
            ekind = endpoint_kind(endpoint) or kind
        groups = {k: list(v) for k, v in ports.items()} or {protocol: []}
        if extra:
            if not any(groups.values()):
                groups = {protocol: extra}
            else:
                for k in groups:
                    groups[k] = groups[k] + extra
        rule_direction = direction
        if rule_direction is None and ekind in _NAMED_KINDS:
            rule_direction = "outbound"  # DNS names are only ever destinations a client resolves
        for proto, plist in groups.items():
            rules.append(Rule(
                endpoint=endpoint, endpoint_kind=ekind, service_tag=service_tag,
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
            for kind, value in parties_in_cell(cell):
                endpoint, extra = (None, []) if kind == "tag" else split_endpoint_port(value)
                rules.append(Rule(
                    endpoint=endpoint, endpoint_kind=None if kind == "tag" else (endpoint_kind(endpoint) or kind),
                    service_tag=value if kind == "tag" else None, ports=sort_ports(extra),
                    direction=ctx.direction or ("both" if ctx.direction_both else None)
                    or ("outbound" if kind in _NAMED_KINDS else None),
                    cloud=ctx.cloud, tab=ctx.tab, required=ctx.required,
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


def normalize(doc: Document) -> list[Rule]:
    """All rules of a document, merged by key and sorted by key. Never raises on odd tables."""
    rules: list[Rule] = []
    for index, table in enumerate(doc.tables):
        try:
            rules.extend(table_rules(table, index))
        except Exception:  # a malformed table must not hide the others
            log.warning("could not normalize table %d (%s)", index, " › ".join(table.headings), exc_info=True)
    return merge_rules(rules)
