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
  any-address endpoint ``*``. A row whose sides name no address or tag ("Admin workstation" →
  "Cluster nodes") gives a ``role`` rule keyed on the remote role (by direction; else the side
  that is not the table's hub, the role it names on both sides of its rows; else the side that
  does not name the page's own service), so changes to it are tracked. A counterpart column
  ("Peers", "Remote end") is the remote side, an initiator column ("Who connects") the source.
* A port table with no address column takes its party from the lead-in: the one host it names,
  else the sides it names ("from the X to each Y", "between X and Y") or where the ports are
  ("ports on your X", "only inside the X"; never a firewall or proxy), else any address ``*``.
* Columns mean what their header says, else what their cells hold: a column of host/URL/IP
  tokens is a host column whatever its header; a host-named column holding no party is a
  purpose. Region/geography columns name no party but may imply a cloud ("China East 2").
* Not rules (``not-a-rule`` diagnostics instead): ranges the table calls reserved / not to
  overlap, proxy-bypass lists, example hosts (contoso-style always; example.com-style and
  documentation IPs only when the page calls them examples), route-table next hops and the
  default route, tag-looking words that are no known tag name outside a tag column.
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
from dataclasses import dataclass, field, replace

from docwatch.memo import memo
from docwatch.model import ORIGINS, Rule
from docwatch.tagnames import canonical_tag, is_known_tag
from docwatch.normalize_values import (
    ANY_ADDRESS,
    TCP_AND_UDP,
    Folded,
    Gate,
    cloud_annotations,
    cloud_of_heading,
    cloud_of_label,
    cloud_of_tab,
    direction_of,
    endpoint_kind,
    is_tag,
    is_virtual_network,
    parse_ports,
    cloud_labels,
    normalize_endpoint,
    normalize_tag,
    cloud_of_host,
    documentation_address,
    private_address,
    parse_protocol,
    port_note,
    parties_in_cell,
    ports_in,
    ports_in_sentence,
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
ENDPOINT, TAG, PAIR, SOURCE, DEST, MACHINE = "endpoint", "tag", "pair", "source", "dest", "machine"
PORTS, PAIR_PORTS, PROTO_PORTS, PROTOCOL, DIRECTION = "ports", "pair_ports", "proto_ports", "protocol", "direction"
PURPOSE, WHEN, REQUIRED, CLOUD, CLOUD_HOSTS, REGION, IGNORE = "purpose", "when", "required", "cloud", "cloud_hosts", "region", "ignore"
# "Inbound | Outbound" columns of marks (✓, Yes, Open): the row's direction is the marked one(s);
# an "Action"/"Access" column: a Deny row is no requirement
DIRECTION_MARK, ACTION = "direction_mark", "action"
_NAMED_KINDS = {"fqdn", "wildcard", "url", "template"}
PARTY_ROLES = {ENDPOINT, TAG, PAIR, SOURCE, DEST, CLOUD_HOSTS, MACHINE}

_NOT_A_PARTY = {"any", "*", "all", "n/a", "na", "none", "yes", "no", "dynamic", "global", "regional", "-"}
_PURPOSE_WORDS = (
    ("purpose", 0), ("description", 1), ("desc", 1), ("required for", 2), ("used for", 2), ("usage", 3), ("use", 3),
    ("scenario", 4), ("feature", 4), ("category", 4), ("service", 5), ("notes", 6), ("note", 6),
    ("comment", 6), ("details", 6), ("reason", 6),
)
_ENDPOINT_RX = re.compile(
    r"\b(hosts?|host ?names?|urls?|uris?|fqdns?|endpoints?|address(es)?|ip|ips|ip ranges?|domains?( names?)?|"
    r"dns names?|agent resources?|servers?|destination hosts?|dns|(?:dns |host |a |cname )?records?|targets?)\b"
)
# "Region name", "Azure Government region", "Geography", "Location": where, not who
_REGION_RX = re.compile(
    r"(?:azure\s+)?(?:(?:us\s+)?gov(?:ernment)?\s+|china\s+)?(?:data\s*cent(?:er|re)\s+)?"
    r"(?:regions?|locations?|geograph(?:y|ies)|data\s*cent(?:er|re)s?)(?:\s+names?)?")


@dataclass(frozen=True)
class Column:
    role: str
    rank: int = 0  # purpose priority (lower first)
    cloud: str | None = None  # CLOUD_HOSTS: the cloud the header names
    direction: str | None = None  # e.g. "Outbound Port(s)"
    when: bool = False  # REQUIRED column whose text is kept in ``when``
    tagged: bool = False  # SOURCE/DEST/PAIR header that says it holds service tags
    known: bool = False  # IGNORE on purpose (examples, next hops): never promoted by its content
    relative: bool = False  # SOURCE = "Local …", DEST = "Remote …": the sides swap on inbound rows
    protocol: str | None = None  # PORTS header naming the transport: "Outbound TCP Ports"
    aside: str | None = None  # IGNORE: why the addresses in this column are not rules ("Retired gateway IP addresses")


_MARKS = re.compile(r"[*_`]")
_GLUED_PORTS = Gate(re.compile(r"(destination|source)(ports?)"), ("destination", "source"))
_PORTS_WORD = re.compile(r"\bports?\b|\bport ranges?\b")
_PURPOSE_RX = tuple((re.compile(rf"\b{word}"), rank) for word, rank in _PURPOSE_WORDS)
_SAYS_NO = re.compile(r"^(no\b|optional|not required|not needed|never)")
_SAYS_YES = re.compile(r"^(yes\b|always|required|mandatory|✓|✔|&check;|x$)")


@memo
def _header(text: str) -> str:
    h = clean_text(_MARKS.sub(" ", text or "")).lower()
    h = h.replace("(s)", "s")
    h = _GLUED_PORTS.sub(r"\1 \2", h)
    return h


# a header naming who opens the connections ("Who connects", "Initiated by", "Caller"): the source side
_INITIATOR_HEADER = re.compile(
    r"who\s+(?:connects|initiates|calls|opens\s+(?:the\s+)?connections?)(?:\s+(?:to\s+it|from))?|"
    r"(?:connection\s+)?initiators?|initiated\s+(?:by|from)|(?:connection\s+)?(?:opened|made)\s+(?:by|from)|called\s+by|callers?|"
    r"connects?\s+from|connections?\s+from|(?:open|allow)(?:ed)?\s+from|traffic\s+from")
# a header naming the other end of the row's traffic ("Peers", "Remote", "Counterpart", "Connects to"):
# the remote side, where traffic comes from on an inbound row and goes to otherwise
_COUNTERPART_HEADER = re.compile(
    r"(?:remote|other|peer)(?:\s+(?:side|end|party|parties|peers?|systems?|machines?|computers?|devices?))?|peers|"
    r"counterparts?|communicates?\s+with|(?:connection\s+)?partners?")
_TARGET_HEADER = re.compile(r"(?:connects?|connected|connections?|talks?|calls?|sends?(?:\s+data)?)\s+to|"
                            r"(?:peers?|pairs?|paired|peered|sessions?)\s+with|opened\s+on|listens?\s+on|(?:runs|open)\s+on|"
                            r"(?:open|allow)(?:ed)?\s+to|traffic\s+to|towards?|(?:initiated|opened|sent)\s+(?:to|towards?)")
_RETIRED_HEADER = re.compile(r"\b(?:retired|decommissioned|deprecated|legacy|former|previous|old)\b")
_HOST_AND_PORT_HEADER = re.compile(r"\b(?:endpoints?|hosts?|host\s*names?|urls?|fqdns?|address(?:es)?|ips?|domains?)\s*"
                                   r"(?::|/|\band\b|&|\+|\(\s*and)\s*ports?\b")
_MACHINE_HEADERS = frozenset("device devices machine machines computer computers component components node nodes "
                             "role roles appliance".split())


@memo
def classify_column(header: str) -> Column:
    """What a column header means; unknown headers are ``IGNORE``."""
    h = _header(header)
    if not h:
        return Column(IGNORE)
    if "private link" in h or "example" in h or "sample" in h or "next hop" in h:
        return Column(IGNORE, known=True)
    if _RETIRED_HEADER.search(h) and _ENDPOINT_RX.search(h):
        return Column(IGNORE, known=True, aside="a retired address (listed so it can be removed, not allowed)")
    if re.search(r"\w\s+(types?|kinds?)$", h):  # "Address type": what kind of address, not an address
        return Column(IGNORE, known=True)
    has_ports = _PORTS_WORD.search(h) is not None
    if h in _MACHINE_HEADERS:  # "Device | Connection": the machine that takes or makes the connections
        return Column(MACHINE)
    if h in ("from", "source", "to", "destination"):
        return Column(SOURCE if h in ("from", "source") else DEST)  # "Use | From | To" (App Service)
    if _INITIATOR_HEADER.fullmatch(h):  # "Endpoint | Default port | Who connects": the side that opens the connection
        return Column(SOURCE)
    if _COUNTERPART_HEADER.fullmatch(h):  # "Port | Direction | Peers": the other end, whichever way the row goes
        return Column(DEST, relative=True)
    if _TARGET_HEADER.fullmatch(h):  # "Component | Connects to | Port": where the connections go
        return Column(DEST)
    if "source" in h and "destination" in h:
        if has_ports:
            return Column(PAIR_PORTS)
        return Column(PAIR, tagged="tag" in h)
    if has_ports and _HOST_AND_PORT_HEADER.search(h) and not h.startswith("source"):
        return Column(ENDPOINT)  # "Endpoint:port", "Host/Port": hosts written with their ports
    if has_ports:
        if h.startswith(("source", "client")) or re.search(r"\b(?:source|client|ephemeral)\s+ports?\b", h):
            return Column(IGNORE, known=True)  # source ports ("Client source port range") say nothing about the remote party
        if "protocol" in h or "transport" in h:
            return Column(PROTO_PORTS)
        transports = set(_TCP_UDP.findall(h))
        return Column(PORTS, direction=_single_direction(h), protocol=transports.pop() if len(transports) == 1 else None)
    if "protocol" in h or "transport" in h:
        return Column(PROTOCOL)
    if "direction" in h or ("inbound" in h and "outbound" in h):
        return Column(DIRECTION)
    if _MARK_HEADER.fullmatch(h):
        return Column(DIRECTION_MARK, direction=_single_direction(h))
    if h in ("action", "access", "allow/deny", "allow or deny", "permission"):
        return Column(ACTION)
    if "when required" in h or h in ("required", "required?", "mandatory", "optional", "required or optional",
                                     "requirement", "requirements", "requirement level") or (
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
    if h.startswith(("local ", "remote ")) and _ENDPOINT_RX.search(h):
        # "Local IP | Remote IP": the service's own side and the party it talks to
        return Column(SOURCE if h.startswith("local") else DEST, relative=True)
    if h.startswith("destination") and not _ENDPOINT_RX.search(h.replace("destination", "", 1)):
        return Column(DEST)
    if _REGION_RX.fullmatch(h):
        return Column(REGION, cloud=cloud_of_label(header))
    if _ENDPOINT_RX.search(h):  # "Destination Endpoint", "Destination FQDN": where traffic goes
        toward = "outbound" if h.startswith(("destination", "target")) else None
        # "Public cloud endpoint | Azure Government endpoint": each column's hosts are its cloud's
        return Column(ENDPOINT, direction=_single_direction(h) or toward, cloud=cloud_of_label(header))
    for rx, rank in _PURPOSE_RX:
        if rx.search(h):
            return Column(PURPOSE, rank=rank)
    cloud = cloud_of_label(header)
    if cloud and len(h.split()) <= 6:
        return Column(CLOUD_HOSTS, cloud=cloud)
    return Column(IGNORE)


_MARK_HEADER = re.compile(r"(?:inbound|outbound|incoming|outgoing|ingress|egress)(?:\s+(?:traffic|connections?|access|rules?))?")
_MARKED = re.compile(r"^\s*(?:[✓✔✅☑]|(?:x|yes|y|required|open|opened|allow(?:ed)?|enabled?|needed)\b)", re.I)
_DENIED = re.compile(r"^\s*(?:deny|denied|block(?:ed)?|drop)\b", re.I)


def _single_direction(text: str) -> str | None:
    d = direction_of(text)
    return d if d in ("inbound", "outbound") else None


_PORTS_HEADER = re.compile(r"\bports?\b")
_PROTO_CELL = re.compile(r"(tcp|udp|icmp\w*|n/a)(\s*(?:[/,&]|\band\b)\s*(tcp|udp|icmp\w*))*", re.I)


def _column_cells(table: Table, i: int) -> list[Cell]:
    return [row[i] for row in table.rows if i < len(row) and row[i].text]


_TLDS = frozenset("com net org io ms us cn de gov mil edu uk fr jp info biz co dev app cloud azure windows".split())


def _surely_host(kind: str, value: str) -> bool:
    """A token that can only be an address: a URL, IP, CIDR, range, template or wildcard, or a
    lower-case DNS name with three labels or a common top-level domain ("Calendars.Read",
    "outlook.timezone" are not); never the any-address ``*``."""
    if value == ANY_ADDRESS or kind == "tag":
        return False
    if kind == "url" and "://" not in value:  # "Microsoft.Network/virtualNetworks/read" is a permission
        kind, value = "fqdn", value.split("/", 1)[0]
    if kind != "fqdn":
        return True
    labels = value.split(".")
    return value == value.lower() and (len(labels) >= 3 or labels[-1] in _TLDS)


def _host_cell(cell: Cell) -> bool:
    """The cell is mostly host/URL/IP tokens (prose words around them at most as many as hosts)."""
    words = cell.text.split()
    if 2 * sum(1 for w in words if "." in w or ":" in w) < len(words):
        return False  # cheap: not enough dotted tokens to be hosts
    hosts = [p for p in parties_in_cell(cell, want_tags=False) if _surely_host(*p)]
    if not hosts:
        return False
    return len(cell.text.split()) <= 2 * len(hosts)


def _roles_by_content(table: Table, cols: list[Column]) -> list[Column]:
    """Column meaning from what the cells hold, whatever the header says: an unnamed column of
    host/URL/IP tokens is a host column; a host-named column ("Endpoint name") holding no party
    at all while another column holds them is a purpose column."""
    cols = list(cols)
    has_party = any(c.role in PARTY_ROLES for c in cols)
    for i, c in enumerate(cols):
        if c.known or c.role not in (IGNORE, PURPOSE):
            continue
        cells = _column_cells(table, i)
        hosty = sum(1 for cell in cells if _host_cell(cell))
        if cells and (hosty == len(cells) if c.role == PURPOSE or has_party else 2 * hosty >= len(cells) and hosty):
            cols[i] = Column(ENDPOINT)
        elif cells and c.role == IGNORE and sum(len(cell.text.split()) for cell in cells) >= 5 * len(cells):
            cols[i] = Column(PURPOSE, rank=6)  # "What it covers": sentences describe the row
    named = [i for i, c in enumerate(cols) if c.role == ENDPOINT]
    others = {c.role for c in cols} & (PARTY_ROLES - {ENDPOINT})
    if others == {SOURCE} and len(named) == 1 and not any(c.relative for c in cols):
        # "Endpoint | Default port | Who connects": the one endpoint column is where the source's
        # connections go, whatever it holds (a role: "Data controller API")
        others = set()
    if len(named) > 1 or named and others:
        empty = [i for i in named if not any(parties_in_cell(cell) for cell in _column_cells(table, i))]
        if len(empty) < len(named) or others:
            for i in empty:
                cols[i] = Column(PURPOSE, rank=3)
    return cols


_REACHES_THE = re.compile(r"\b(?:reach(?:es)?|connects?\s+to|connect\s+to|access(?:es)?|calls?)\s+(?:the|each|every|your)\s+(\w+)", re.I)


_COVERED = re.compile(r"\balready\s+(?:included|covered|inside)\b", re.I)  # (or NO_RULE_NEEDED)


def _column_asked_for(table: Table, cols: list[Column]) -> int | None:
    """The one address column a lead-in asks for by its header when it says the others need no rule
    ("allow … to the whole **Gateway IP address subnets** …; the current addresses are inside those
    subnets already, so they don't need a separate rule")."""
    lead = (table.lead_in or "").lower()
    hosts = [i for i, c in enumerate(cols) if c.role == ENDPOINT]
    if len(hosts) < 2 or not (NO_RULE_NEEDED.search(lead) or _COVERED.search(lead)):
        return None
    named = [i for i in hosts if len(_header(table.columns[i])) >= 8 and _header(table.columns[i]) in lead]
    named = [i for i in named if not any(j != i and _header(table.columns[i]) in _header(table.columns[j]) for j in named)]
    return named[0] if len(named) == 1 else None  # ("Gateway IP address" is inside "Gateway IP address subnets")


def _roles(table: Table) -> list[Column]:
    """Column roles from headers, then from content (:func:`_roles_by_content`); a column whose
    every cell is a protocol word is the protocol column whatever its header says ("Service: TCP"
    in Azure Stack HCI port tables)."""
    cols = [classify_column(c) for c in table.columns]
    heads = [_header(c) for c in table.columns]
    if "client" in heads and "server" in heads:  # "Data flow | Client | Server | Protocol/Port": who calls whom
        cols = [Column(SOURCE) if h == "client" else Column(DEST) if h == "server" else c for h, c in zip(heads, cols)]
    cols = _roles_by_content(table, cols)
    reached = _REACHES_THE.search(table.lead_in or "")
    if reached and not any(c.role == DEST for c in cols):
        # "The migration subnet must be able to reach the source on the ports of its engine:" over
        # "Source engine | Default port": the column the lead-in reaches is where traffic goes
        word = reached.group(1).lower()
        cols = [Column(DEST) if c.role == SOURCE and _header(h).split()[:1] == [word] else c
                for h, c in zip(table.columns, cols)]
    if any(c.role == DEST and not c.relative for c in cols) and not any(c.role == SOURCE for c in cols):
        # "Peer | Peers with": beside the column the traffic goes to, the other end is where it comes from
        cols = [Column(SOURCE) if c.role == DEST and c.relative else c for c in cols]
        first = cols[0] if cols else None
        if (first is not None and first.role in (IGNORE, PURPOSE) and not first.known and not any(c.role == SOURCE for c in cols)
                and _machine_word(_header(table.columns[0]))
                and all(role_name(cell.text, max_words=5) for cell in _column_cells(table, 0))):
            # "RADIUS client | Sends to | Port": the machines that send, row by row
            cols[0] = Column(SOURCE)
    named = _column_asked_for(table, cols)
    if named is not None:
        cols = [Column(IGNORE, known=True, aside="an address column the lead-in says needs no rule of its own")
                if c.role == ENDPOINT and i != named else c for i, c in enumerate(cols)]
    flow = _flow_column(table, cols)
    if flow is not None:  # "Between | Port | Protocol": each row's two ends
        cols[flow] = Column(PAIR)
    elif not any(c.role == DIRECTION for c in cols):
        for i, c in enumerate(cols):  # "Traffic | Port": "Outbound to Azure", "Inbound from clients"; "Allow | Outgoing"
            if c.role == IGNORE and not c.known:
                texts = [cell.text for cell in _column_cells(table, i)]
                flow = _FLOW_HEADER.fullmatch(_header(table.columns[i]))
                if texts and all(_single_direction(t if not flow else t.split(None, 1)[0]) and (flow or len(t.split()) <= 2)
                                 for t in texts):
                    cols[i] = Column(DIRECTION)
                    break
    if not any(c.role in (PROTOCOL, PROTO_PORTS) for c in cols):
        for i, c in enumerate(cols):
            if c.role not in (IGNORE, PURPOSE) or _PORTS_HEADER.search(_header(table.columns[i])):
                continue
            texts = [row[i].text for row in table.rows if i < len(row) and row[i].text]
            if texts and all(_PROTO_CELL.fullmatch(t.strip()) or "/" in t and len(t) <= 20 and parse_protocol(t)
                             for t in texts) and any(parse_protocol(t) for t in texts):  # (… or "SIP/TLS", "UDP/SRTP")
                cols[i] = Column(PROTOCOL)
                break
    return cols


def _transposed(table: Table) -> Table | None:
    """A "Setting | Value" table describing one rule a row per field ("Destination | `host`",
    "Destination port | 1433", "Protocol | TCP"), as the one-row table it stands for; ``None`` for
    any other table."""
    if len(table.columns) != 2 or len(table.rows) < 2 or any(len(row) < 2 for row in table.rows):
        return None
    if any(c.role in PARTY_ROLES or c.role in _PORT_ROLES for c in (classify_column(h) for h in table.columns)):
        return None
    roles = [classify_column(row[0].text).role for row in table.rows]
    if not _fields_of_one_rule(set(roles)):
        return None
    if len([r for r in roles if r != IGNORE]) < 2 or len(set(roles) - {IGNORE}) != len([r for r in roles if r != IGNORE]):
        return None  # (a field named twice: a list of settings, not one rule)
    return Table(headings=list(table.headings), tabs=list(table.tabs), lead_in=table.lead_in,
                 columns=[row[0].text for row in table.rows], rows=[[row[1] for row in table.rows]],
                 line=table.line, kind=table.kind, source=table.source)


def labelled_fields(text: str, labels: list[str]) -> dict[str, str]:
    """The value after each label of a block written as labelled fields ("Destination: `host`
    Port: 5671 Protocol: TCP"), in the order the block gives them."""
    found = sorted((text.find(f"{label}:"), label) for label in dict.fromkeys(labels) if f"{label}:" in text)
    return {label: text[at + len(label) + 1: found[k + 1][0] if k + 1 < len(found) else len(text)].strip()
            for k, (at, label) in enumerate(found)}


def field_table_rules(fields: dict[str, str], code: list[str], headings: list[str], tabs: list, lead_in: str | None
                      ) -> list[Rule]:
    """Labelled fields (:func:`labelled_fields`) read as the one-row table they stand for; ``[]``
    unless the labels name a party and its ports or protocol."""
    if len(fields) < 2:
        return []
    table = Table(headings=list(headings), tabs=list(tabs), lead_in=lead_in, columns=list(fields),
                  rows=[[Cell.from_items([v], code=[c for c in code if c in v]) for v in fields.values()]])
    return table_rules(table) if _fields_of_one_rule({c.role for c in _roles(table)}) else []


def _fields_of_one_rule(roles: set[str]) -> bool:
    """Field names that describe one rule: a party and its ports or protocol."""
    return bool(roles & (PARTY_ROLES - {MACHINE})) and bool(roles & (_PORT_ROLES | {PROTOCOL}))


def _looks_like_rule_columns(cols: list[Column], lead_in: str | None = None) -> bool:
    """A party column, or ports with their protocol or direction, or ports whose party the lead-in
    names ("The following ports are used only inside the virtual network": "Port | Use")."""
    roles = {c.role for c in cols}
    if roles & PARTY_ROLES:
        return True
    if not roles & {PORTS, PAIR_PORTS, PROTO_PORTS}:
        return False
    return bool(roles & {PROTOCOL, DIRECTION}) or _lead_sides(_affirmed(lead_in)) is not None


def is_rule_table(table: Table) -> bool:
    """True when the table (or code-formatted bulleted list) lists network rules."""
    try:
        if table.kind == "list":
            return any(parties_in_cell(cell) for row in table.rows for cell in row)
        cols = _roles(table)
        if not _looks_like_rule_columns(cols, table.lead_in):
            return False
        ctx = _context(table)
        ctx.hubs = _hub_roles(table, cols)
        return any(_row_rules(table, cols, ctx, i, row) for i, row in enumerate(table.rows))
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
    not_required_ports: list[str] = field(default_factory=list)  # "ports 9000-9100 aren't required"
    set_aside: str | None = None  # why no party of this table is a rule (reserved ranges, proxy bypass)
    example: bool = False  # the table's heading/lead-in calls its values examples
    example_list: bool = False  # a list under "Example: …" / "For example, …": instances, not the requirement
    next_hops: list[int] = field(default_factory=list)  # "Next hop (IP)" columns of a route table
    lead_in: str | None = None  # the lead-in as read (clauses saying what is not needed dropped)
    hubs: frozenset = frozenset()  # roles a From/To table names on both sides (the machine the page sets up)


_ONLY_FOR = Gate(re.compile(r"\bcustomers\s+only\b|\bonly\s+(?:in|for)\b", re.I), ("only",))
_CLAUSES = re.compile(r"(?<=[.!?;])\s+")
_DIRECTION_WORD = Gate(re.compile(r"\b(inbound|outbound|incoming|outgoing|ingress|egress)\b", re.I), ("inbound", "outbound", "incoming", "outgoing", "ingress", "egress"))
_NEGATED = Gate(re.compile(r"n't\b|\b(not|never|no need)\b", re.I), ("n't", "not", "never"))


def _affirmed(text: str | None) -> str | None:
    """The lead-in without clauses that say what is *not* needed in a direction ("Inbound
    connections are not required"; "you don't need to open inbound ports"): such a clause names
    neither the table's direction nor its required-ness."""
    if not text or not _NEGATED.search(text) or not _DIRECTION_WORD.search(text):
        return text
    # "… don't block outbound TCP port 443 to …", "isn't filtering outbound …": a requirement, said twice negated
    text = _DOUBLE_NEGATIVE.sub("allow", text)
    if not _NEGATED.search(text):
        return text
    kept = []
    for c in _CLAUSES.split(text):
        if _NEGATED.search(c) and _DIRECTION_WORD.search(c):
            # "when the instance can't use service tags, allow inbound TCP 3443": the clause that
            # is negated is not the one naming the direction
            c = ", ".join(p for p in _COMMA_PARTS.split(c) if not (_NEGATED.search(p) and _DIRECTION_WORD.search(p)))
            if not _DIRECTION_WORD.search(c):
                c = ""
        if c:
            kept.append(c)
    return " ".join(kept)


_COMMA_PARTS = re.compile(r",\s+")
_DOUBLE_NEGATIVE = re.compile(r"\b(?:(?:do|does|must|should)\s*n't|(?:do|does|must|should)\s+not|never|(?:is|are)\s*n't|(?:is|are)\s+not)\s+"
                              r"(?:block(?:s|ing|ed)?|filter(?:s|ing|ed)?|den(?:y|ies|ying)|restrict(?:s|ing)?|drop(?:s|ping)?)\b", re.I)


def _context(table: Table) -> _Ctx:
    ctx = _Ctx(section=list(table.headings))
    for tab in reversed(table.tabs):
        cloud = cloud_of_tab(tab.label, tab.id)
        if cloud:
            ctx.cloud = ctx.cloud or cloud
        elif ctx.tab is None:
            ctx.tab = tab.label or tab.id
    if ctx.cloud is None and table.lead_in and (len(table.lead_in.split()) <= 6 or _ONLY_FOR.search(table.lead_in)):
        # a label line above a list ("**US Government**"), or "… for U.S. Government customers only"
        ctx.cloud = cloud_of_label(table.lead_in)
    if ctx.cloud is None:
        for heading in reversed(table.headings):
            ctx.cloud = cloud_of_heading(heading)
            if ctx.cloud:
                break
    # a single direction anywhere (innermost first); "both" only from the lead-in or the
    # innermost heading: page titles like "Configure inbound and outbound traffic" say nothing
    texts = [_affirmed(table.lead_in), *reversed(table.headings)]
    for pos, text in enumerate(texts):
        d = direction_of(text)
        if d == "both":
            ctx.direction_both = ctx.direction_both or pos <= 1
            continue
        if d:
            ctx.direction = d
            break
    if ctx.direction is None and not ctx.direction_both:  # "IP address dependencies": what the service calls out to
        if any(_DEPENDENCIES.search(t or "") for t in texts[:2]):
            ctx.direction = "outbound"
    lead_in = _without_not_required_ports(_affirmed(table.lead_in), ctx)
    ctx.ports = ports_of_lead_in(lead_in)
    ctx.lead_in = lead_in
    _set_aside_context(table, ctx)
    if ctx.tab:
        t = ctx.tab.lower()
        ctx.required = True if t in ("required", "mandatory") else False if t in ("optional",) else None
    if ctx.required is None:  # "Azure Global required network rules", "…aren't required, but are recommended"
        # a variant tab ("Situational") sits between the heading and the table: the heading no longer speaks for it
        # (nor does the lead-in of its tab group, which introduces every variant)
        for text in (lead_in if not ctx.tab else None, table.headings[-1] if table.headings and not ctx.tab else None):
            ctx.required = _required_of_context(text)
            if ctx.required is not None:
                break
    return ctx


_DEPENDENCIES = Gate(re.compile(r"\bdependenc(y|ies)\b", re.I), ("dependenc",))
_PORT_NUMBER = re.compile(r"\d{1,5}")
# heading / lead-in wording, read lower-cased
_SAYS_NOT_REQUIRED = re.compile(r"(\bnot|n't|\bnever)\s+(strictly\s+)?required\b|\boptional\b")
_NOT_REQUIRED_WORDS = re.compile(r"(\bnot|n't)\s+required")
_CONDITIONAL = re.compile(r"\b(based on|depending on|depends on|if|when|situational)\b")
_NOT_REQUIRED = Folded(r"(?:\bnot|n't|\bnever)\s+(?:strictly\s+)?(?:required|needed)\b|\boptional\b",
                       needles=("required", "needed", "optional"))
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _without_not_required_ports(text: str | None, ctx: _Ctx) -> str | None:
    """A lead-in sentence "ports 9000-9100 aren't required" concerns those ports only: they go to
    ``ctx.not_required_ports`` and the sentence no longer speaks for the whole table."""
    if not text or not _NOT_REQUIRED.search(text):
        return text
    kept = []
    for sentence in _SENTENCE_END.split(text):
        ports = ports_in_sentence(sentence) if _NOT_REQUIRED.search(sentence) else {}
        if ports:
            ctx.not_required_ports += [p for plist in ports.values() for p in plist]
        else:
            kept.append(sentence)
    return " ".join(kept) or None


# what the table's own words say its addresses are: not destinations to allow
RESERVED = "reserved or internal address range (not a destination to allow)"
BYPASS = "proxy-bypass list (traffic that skips the proxy, not a destination to allow)"
_SET_ASIDE = (
    (RESERVED,
     Folded(r"\breserved\b[^.|]{0,40}\b(?:ranges?|address(?:es)?|ips?|cidrs?|subnets?|spaces?|prefix(?:es)?|networks?)\b|"
            r"\b(?:ranges?|address(?:es)?|cidrs?|subnets?|prefix(?:es)?)\s+(?:are|is)\s+reserved\b|"
            r"\b(?:must|should|can|do|does)\s*(?:not|n't)\s+overlap|\bnot\s+overlap|\bno\s+overlap|"
            r"\b(?:do\s+not|don't|never|cannot|can't)\s+(?:re)?use\s+(?:these|this|them|the following)\b|"
            r"\baddress\s+spaces?\s+to\s+avoid|\bavoid\s+(?:these|the following)\s+(?:ranges?|address)",
            needles=("reserved", "overlap", "use", "avoid"))),
    (BYPASS,
     Folded(r"\bproxy\b[^.|]{0,30}\b(?:bypass|exclusions?|exceptions?)\b|\bbypass(?:es|ing)?\b[^.|]{0,30}\bprox(?:y|ies)\b|"
            # ("Add these to NO_PROXY", "the no_proxy list"; not "an HTTP proxy, with or without no_proxy")
            r"\b(?:add|list|put|include|set|append)\w*\b[^.|]{0,40}\bno_?proxy\b|\bno_?proxy\b[^.|]{0,20}\b(?:lists?|variables?|settings?|entr(?:y|ies)|values?)\b|"
            r"^\s*no_?proxy\b|\bexclude\b[^.|]*\bfrom\b[^.|]*\bproxy\b", needles=("proxy", "bypass"))),
)
# in a proxy-bypass list, what stays internal: private/loopback/link-local addresses, domain
# suffixes written with a leading dot, single-label and cluster-local names
_PRIVATE = re.compile(r"^(?:10\.|127\.|169\.254\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.)|^localhost$|"
                      r"\.(?:local|svc|internal|lan|corp|home)$|^[^.]+$", re.I)
_EXAMPLE_CONTEXT = Folded(r"(?<![\w.-])(?:examples?|samples?)(?![\w.-])|\be\.g\.|\bfor instance\b|\billustrat",
                          needles=("example", "sample", "e.g.", "for instance", "illustrat"))


def _own_words(table: Table) -> list[str]:
    """What a table says about itself: its innermost heading, lead-in and column headers."""
    return [table.headings[-1] if table.headings else "", table.lead_in or "", " | ".join(table.columns)]


def set_aside_reason(table: Table) -> str | None:
    """Why none of the table's parties is a rule (reserved ranges, a proxy-bypass list), if its own words say."""
    texts = _own_words(table)
    return next((reason for reason, rx in _SET_ASIDE if any(rx.search(t) for t in texts)), None)


# what a page says needs no rule: "you don't need an NSG rule for it", "so you don't add a rule for them",
# "no extra rule is needed", "always allowed by the default NSG rules" (text rules, table lead-ins, coverage)
NO_RULE_NEEDED = re.compile(r"\b(?:(?:is|are)\s+(?:already\s+|always\s+)?allowed\s+by\s+(?:the\s+|a\s+)?default\b|already\s+allowed\b|(?:do|does|don't|doesn't|do\s+not|does\s+not|never)\s*n?'?t?\s*(?:need|have|add|create|open)\s+(?:to\s+(?:add|create|configure|open)\s+)?"
                             r"(?:an?|any)\s+(?:[\w-]+\s+){0,3}?rules?|no\s+(?:[\w-]+\s+){0,2}?rules?\s+(?:is|are)\s+(?:needed|required))\b", re.I)
# a clause before a sentence's subject: "To use it, your CE routers must …", "By default, the gateway must …"
_OPENING = (r"(?:(?:to|for|in|on|if|when|unless|once|after|before|with)\b[^,]{0,100}|by\s+default|"
            r"also|however|then|otherwise|in\s+addition|next|finally|later|meanwhile|now|first|second|"
            r"[a-z]+ly|[a-z]+wards),\s+")  # (… "Optionally,", "Afterwards,", "Typically,": one adverb)
OPENING_CLAUSE = re.compile(r"^\s*" + _OPENING, re.I)


# a lead-in saying the whole table's leg needs no rule of yours ("Notification Hubs connects to each PNS
# from Azure's own network, so you don't need a rule on your network for this leg."): narrower than
# NO_RULE_NEEDED, which a lead-in also says of some rows ("… so they don't need a separate rule")
_NO_RULE_HERE = re.compile(r"\b(?:don't|do\s+not|doesn't|does\s+not)\s+need\s+(?:a|an|any)\s+(?:[\w-]+\s+){0,2}?rules?\s+"
                           r"(?:on|in|for)\s+(?:your|this)\b", re.I)


def _set_aside_context(table: Table, ctx: _Ctx) -> None:
    """Reserved ranges, proxy-bypass lists, examples and route tables, from the innermost heading,
    the lead-in and the column headers."""
    texts = _own_words(table)
    ctx.set_aside = set_aside_reason(table) or (
        "the page says these need no rule" if _NO_RULE_HERE.search(table.lead_in or "") else None)
    # a DNS record table ("Name | Type | Value" with A/CNAME types): the private addresses it resolves
    # names to are the reader's own (a private endpoint's), like an example's
    ctx.example = any(_EXAMPLE_CONTEXT.search(t) for t in texts[:2]) or _dns_record_table(table)
    ctx.example_list = table.kind == "list" and _EXAMPLE_LABEL.match(table.lead_in or "") is not None
    ctx.next_hops = [i for i, c in enumerate(table.columns) if "next hop" in _header(c)]


_RECORD_TYPES = frozenset({"a", "aaaa", "cname", "txt", "mx", "srv", "ns", "ptr", "soa"})


def _dns_record_table(table: Table) -> bool:
    """A column whose every cell is a DNS record type (A, CNAME, …)."""
    if not table.rows:
        return False
    width = max(len(row) for row in table.rows)
    return any(all(i < len(row) and row[i].text.strip().lower() in _RECORD_TYPES for row in table.rows)
               for i in range(width))


_REQUIRED_CONTEXT = re.compile(
    r"^required\b|\b(are|is|be)\s+(also\s+)?required\b|\brequired\s+(outbound\s+|inbound\s+|network\s+|firewall\s+|"
    r"application\s+|fqdn\s*/?\s*)*(fqdns?|endpoints?|urls?|rules?|ports?|addresses|hosts?|domains?|dependencies|firewall)\b")


_LEAD_IN_PORTS = Gate(re.compile(
    r"\b(?:(tcp|udp)\s+)?ports?\s+(\d{1,5}(?:\s*(?:,|and|or|,\s*and)\s*\d{1,5})*)\b(?:\s*\((tcp|udp)\))?|"
    r"\b(tcp|udp)\s+(\d{1,5}(?:-\d{1,5})?)\b(?![.\d])", re.I), ("port", "tcp", "udp"))  # "allow inbound TCP 3443 from …"


_SCHEME_PORT = re.compile(r"\bhttps?://[^\s`'\"]*?:(\d{1,5})\b", re.I)


def ports_of_lead_in(text: str | None) -> dict[str | None, list[str]]:
    """Ports a lead-in states for a table that has no port column ("Communication to these
    addresses uses port 443.", "over TCP port 443", "on ports 80 and 443"). Only a single
    mention counts: a lead-in naming several port phrases is too loose to apply to every row."""
    found = list(_LEAD_IN_PORTS.finditer(clean_text(text or "")))
    if not found:  # "the following URLs on https://:443"
        schemed = {m.group(1) for m in _SCHEME_PORT.finditer(clean_text(text or ""))}
        return {"tcp": sorted(schemed)} if len(schemed) == 1 else {}
    if len(found) != 1:
        return {}
    m = found[0]
    if m.group(4):
        lo, _, hi = m.group(5).partition("-")
        if not (0 < int(lo) <= 65535 and (not hi or int(lo) < int(hi) <= 65535)):
            return {}
        return {m.group(4).lower(): [m.group(5)]}
    proto = (m.group(1) or m.group(3) or "").lower() or None
    ports = [p for p in _PORT_NUMBER.findall(m.group(2)) if 0 < int(p) <= 65535]
    return {proto: ports} if ports else {}


def _required_of_context(text: str | None) -> bool | None:
    """Required-ness a heading or lead-in states for a whole table; ``None`` when it is not that plain.

    "Azure Global required network rules", "… are required" → True; "Optional …", "… aren't
    required, but are recommended" → False; "required based on scenario", "packages required by
    your project" → None (a condition or a different sense of the word).
    """
    t = clean_text(text or "").lower()
    if not t or "required" not in t and "optional" not in t:
        return None  # (both patterns below need one of the words: the conditional check alone gives None)
    if _SAYS_NOT_REQUIRED.search(t):
        return None if _REQUIRED_CONTEXT.search(_NOT_REQUIRED_WORDS.sub("", t)) else False
    if _CONDITIONAL.search(t):
        return None
    return True if _REQUIRED_CONTEXT.search(t) else None


def _required_of(text: str) -> bool | None:
    t = clean_text(text).lower().strip(" .")
    if not t or t in ("-", "n/a"):
        return None
    if _SAYS_NO.match(t):
        return False
    if _SAYS_YES.match(t):
        return True
    return None


_BOLD_SAYS = Folded(r"\b(?:required|mandatory|optional|not\s+required|not\s+needed)\b",
                    needles=("required", "mandatory", "optional", "needed"))
_BOLD_CONDITION = re.compile(r"\b(?:if|when|unless|only|based on|depending)\b", re.I)
_CONDITION = re.compile(r"^(?:only\b|if\b|when\b|for\b|used\s+(?:only\s+)?(?:for|when|if)\b)", re.I)


def _required_from_purpose(cell: Cell, cols_rank: int = 0, *, bold_means_required: bool = False) -> bool | None:
    """``required`` from a purpose cell's bold text: when the bold text itself says required or
    optional; when the page's legend says bold marks required rows; or when the whole purpose
    (the main purpose column, not a category label) is bold and is not a condition. "(optional)"
    anywhere says optional."""
    text = cell.text
    if _OPTIONAL_NOTE.search(text):
        return False
    if cell.bold:
        first = cell.bold[0]
        said = _BOLD_SAYS.search(first)
        if said:  # "**Required**", "**Optional**"; "**Required if you use RStudio**" is a condition
            return None if _BOLD_CONDITION.search(first) else False if _NOT_REQUIRED.search(first) else True
        leading = len(first) >= 3 and text.startswith(first[: min(len(first), 30)])
        if leading and bold_means_required:
            return True
    return None


_OPTIONAL_NOTE = Folded(r"\(\s*optional\s*\)|^optional\b", needles=("optional",))
_LABEL_PREFIX = Gate(re.compile(r"^([^:]{3,40}):"), (":",))  # "Azure China: MCR"
_TCP_UDP = Gate(re.compile(r"\b(tcp|udp)\b", re.I), ("tcp", "udp"))
_HTTP_SCHEME = re.compile(r"^https?://", re.I)
_WORD3 = re.compile(r"[a-z0-9]{3,}")
_PORT_SPAN = re.compile(r"(\d+)(?:-(\d+))?")
_ANY_WORDS = {"any", "*", "all", "any source", "any destination", "any address", "any ip", "internet (any)"}
# "database.windows.net: 1433", "Internet: 53", "App Service Environment subnet: All ports"
_MARKED_TAG = re.compile(r"([A-Z][\w.]*)\s*\(\s*service\s*tags?\s*\)", re.I)
_SIDE_PORTS = re.compile(
    r"^(?P<who>.+?):\s*(?P<ports>all ports|any port|\d{1,5}(?:\s*[-–]\s*\d{1,5})?(?:\s*,\s*\d{1,5}(?:\s*[-–]\s*\d{1,5})?)*)"
    r"(?P<rest>\s*(?:\(.*\))?\s*\.?)$", re.I)
# a role a reader maps to their own addresses: "Admin workstation", "Customer networks"
_ALL_OR_ANY = re.compile(r"all|any", re.I)
_ANY_FIRST = re.compile(r"^(\*|any)(\s+or\b|\s*[,;(]|\s+\d{1,2}$|$)", re.I)  # "* <sup>4</sup>": a footnote mark
_ROLE_RX = re.compile(r"^[A-Za-z][\w'()&/+ -]{1,80}$")
_NOT_ROLE = re.compile(r"^(?:see|refer|use|same as|depends|varies|optional|required|not applicable|n/?a|none|tbd)\b", re.I)


def _is_link_text(cell: Cell) -> bool:
    """The cell is a link ("[East US endpoints](…)"): it points at a list, it names no party."""
    linked = " ".join(clean_text(link.get("text", "")) for link in cell.links)
    return bool(linked) and len(linked) >= len(cell.text) - 2


def role_name(text: str, max_words: int = 8) -> str | None:
    """The role a cell names, if it names one: "Admin workstation"; a parenthesized placeholder
    for the reader's own machine or network ("(Redis subnet)", "(IP of the NTP server provided
    for deployment)") without its parentheses."""
    t = text.strip()
    if t.endswith(")") and t.count("(") == 1:
        if t.startswith("("):  # a placeholder: "(Redis subnet)"
            t, max_words = t[1:-1].strip(), 10
        else:  # a trailing note: "Public IPs of the NAT gateway (provided by the STUN endpoint)"
            t, max_words = t[:t.index("(")].strip(), max(max_words, 10)
    return t if _is_role(t, max_words=max_words) else None


def _is_role(text: str, max_words: int = 6) -> bool:
    """A short name of a machine, network or person ("Admin workstation"), not a sentence or note."""
    t = text.strip()
    return (t.lower() not in _NOT_A_PARTY and not t.endswith(".") and len(t.split()) <= max_words
            and _ROLE_RX.match(t) is not None and _NOT_ROLE.match(t) is None)


_STOP = frozenset("the a an and or of for to from in on your you its their all any with by via".split())


@dataclass
class _Side:
    written: str | None = None
    parties: list[tuple[str, str]] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    role: str | None = None  # the side names a role, not an address or tag
    sends: bool = False  # a lead-in says traffic comes from this side ("… must accept these from the X")

    @property
    def rank(self) -> int:
        """0 nothing, 1 only VirtualNetwork, 2 only any-address, 3 a specific party."""
        kinds = {"vnet" if p[0] == "tag" and is_virtual_network(p[1]) else "any" if p[1] == ANY_ADDRESS else "x"
                 for p in self.parties}
        return 3 if "x" in kinds else 2 if "any" in kinds else 1 if kinds else 0

    def specific(self) -> list[tuple[str, str]]:
        """The side's parties without the any-address when it names others; VirtualNetwork stays
        when the side lists it beside other tags ("Virtual Network, Azure Load Balancer")."""
        if self.rank != 3:
            return list(self.parties)
        tags = sum(1 for p in self.parties if p[0] == "tag")
        return [p for p in self.parties
                if not (p[1] == ANY_ADDRESS or p[0] == "tag" and is_virtual_network(p[1]) and tags < 2)]


_FOOTNOTE_MARK = re.compile(r"(?:\s+\d{1,2})+$")


def _side(cell: Cell | None, text: str | None = None, *, tagged: bool = False) -> _Side:
    """One source/destination side: its text as written, its parties and the ports it names.

    ``Any``/``*`` is the any-address party. Names with spaces count as tags only in a column whose
    header says "tag"; elsewhere a word is a tag only when it is a known Azure tag name. Free text
    with no party ("Admin workstation", "Cluster servers") is a role.
    """
    cell = cell if text is None and cell is not None else Cell.from_items([text or ""])
    written = cell.text or None
    side = _Side(written)
    if not written:
        return side
    who = written
    first = cell.items[0] if cell.items else written
    m = _SIDE_PORTS.match(written)
    if m and not cell.code:
        who = m.group("who").strip()
        side.ports = ["*"] if _ALL_OR_ANY.match(m.group("ports")) else ports_in(m.group("ports"))
        side.written = who  # ("ADX subnet: All ports" is the ADX subnet, on every port)
    marked = _MARKED_TAG.findall(who)
    if marked:  # "[ADX management addresses](#…)/AzureDataExplorerManagement(ServiceTag)": the tag it names
        side.parties = [("tag", t) for t in dict.fromkeys(canonical_tag(x) or x for x in marked)]
        return side
    if who.lower().strip(" .") in _ANY_WORDS or first.lower().strip(" .") in _ANY_WORDS or _ANY_FIRST.match(first):  # "* or, for more security, the Batch IPs"
        side.parties = [("cidr", ANY_ADDRESS)]
        return side
    source_cell = cell if who == written else Cell.from_items([who])
    side.parties = [p for p in parties_in_cell(source_cell, tag_column=tagged and bool(source_cell.code))
                    if p[1] != ANY_ADDRESS]
    if not side.parties:
        tags = tags_in_text(who) if tagged else [t for t in [tag_in_text(who)] if t and is_tag(t) and is_known_tag(t)]
        side.parties = [("tag", t) for t in tags if t.lower() not in _NOT_A_PARTY]
    if not side.parties and "," in who:
        # "(Redis subnet), (Virtual Network), Azure Load Balancer <sup>1</sup>": the tags among the
        # items of a list (a lone spaced name, "Windows Admin Center", is a machine: a role)
        items = [_FOOTNOTE_MARK.sub("", i).strip().strip("()").strip() for i in who.split(",")]
        side.parties = [("tag", t) for t in dict.fromkeys(canonical_tag(i.replace(" ", "")) for i in items if i) if t]
    if not side.parties:
        side.role = role_name(who)
    return side


def _pick_side(src: _Side, dst: _Side, direction: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """The remote parties of a source/destination pair (and the ports written on that side).

    The side the direction points at wins when it names a party; a specific party beats the
    any-address, which beats ``VirtualNetwork`` (``*`` → ``VirtualNetwork`` is a VirtualNetwork
    rule). When the remote side names no party there is nothing to key an address rule on
    (a role rule may still be made, see :func:`_role_party`).
    """
    preferred, other = (src, dst) if direction == "inbound" else (dst, src) if direction == "outbound" else (None, None)
    if preferred is not None:
        if preferred.rank >= 2:
            return preferred.specific(), preferred.ports or other.ports
        if other.rank == 3:
            return other.specific(), other.ports or preferred.ports
        if preferred.rank == 1 and other.rank <= 2:
            return [("tag", "VirtualNetwork")], preferred.ports or other.ports
        return [], []
    best = max((dst, src), key=lambda s: s.rank)  # dst first: ties go to the destination
    if best.rank == 0:
        return [], []
    if best.rank == 1:
        return [("tag", "VirtualNetwork")], best.ports
    return best.specific(), best.ports or (src if best is dst else dst).ports


def _role_party(src: _Side, dst: _Side, direction: str | None, headings: list[str],
                hubs: frozenset = frozenset()) -> _Side | None:
    """The role-named remote side when no side names an address: by direction, else the side that
    is not the table's hub (the role it names as a source in one row and a destination in another:
    "Devices → Log forwarder", "Log forwarder → Azure Monitor endpoints"), else the side that does
    not name the page's own service (its words do not appear in the headings), else the
    destination. The any-address ``*`` is never a role."""
    if direction == "inbound":
        order = (src, dst)
    elif direction == "outbound":
        order = (dst, src)
    else:
        words = {w for h in headings for w in _WORD3.findall(h.lower())} - _STOP

        def local(side: _Side) -> bool:
            return bool(side.role) and bool(set(_WORD3.findall(side.role.lower())) & words)

        def hub(side: _Side) -> bool:
            return bool(side.role) and side.role.lower() in hubs
        # the side naming the page's own service is never the remote one, unless the table has no
        # other side ("Source | Ports" under "Admin access": "Admin jump hosts" is the party)
        both = bool(src.written) and bool(dst.written)
        if both and hub(dst) != hub(src):
            order = (src,) if hub(dst) else (dst,)
        else:
            order = tuple(side for side in (dst, src) if not local(side)) if both and local(dst) != local(src) else (dst, src)
    for side in order:
        if side.role and side.rank == 0:
            return side
        if side.rank:
            return None  # the remote side names an address or the any-address
    return None


def _purpose(row: list[Cell], cols: list[Column]) -> tuple[str | None, Cell | None, int]:
    parts = sorted(((c.rank, i) for i, c in enumerate(cols) if c.role == PURPOSE and i < len(row) and row[i].text), key=lambda x: x)
    texts: list[str] = []
    for _, i in parts:
        t = row[i].text
        if t and t not in texts:
            texts.append(t)
    main = row[parts[0][1]] if parts else None
    return (" — ".join(texts) or None), main, (parts[0][0] if parts else 0)


def _party_fields(kind: str, value: str) -> tuple[str | None, str | None, str | None, list[str], str | None]:
    """(endpoint, endpoint_kind, service_tag, ports written on the party, protocol it implies)."""
    endpoint, ekind, tag, extra, proto = _fields_of(kind, value)
    return endpoint, ekind, tag, list(extra), proto


@memo
def _fields_of(kind: str, value: str) -> tuple[str | None, str | None, str | None, tuple[str, ...], str | None]:
    """:func:`_party_fields`, once per party and page (tables and sentences name the same hosts)."""
    if kind == "tag":
        tag, extra = split_tag_port(value)
        return None, None, normalize_tag(tag), tuple(extra), None
    if kind == "role":
        return value, "role", None, (), None
    endpoint, extra = split_endpoint_port(value)
    implied = scheme_port(endpoint)
    if not extra and implied:
        extra = [implied]
    proto = "tcp" if implied or _HTTP_SCHEME.match(endpoint) else None
    endpoint = normalize_endpoint(endpoint)
    return endpoint, endpoint_kind(endpoint) or kind, None, tuple(extra), proto


def _cell_required(cells: dict[int, Cell], cols: list[Column]) -> bool | None:
    """A standalone "Required"/"Optional" item in a category-like cell ("Allow<br>Required", Intune)."""
    for i, cell in cells.items():
        if cols[i].role in (PURPOSE, IGNORE):
            for item in cell.items:
                t = item.strip(" .*").lower()
                if t in ("required", "optional"):
                    return t == "required"
    return None


# ---------------------------------------------------------------- one row


@dataclass
class _Row:
    """One table row with its cells grouped by column role."""

    cells: dict[int, Cell]
    cols: list[Column]
    by_role: dict[str, list[int]]

    @classmethod
    def of(cls, row: list[Cell], cols: list[Column]) -> "_Row":
        cells = {i: row[i] for i in range(min(len(row), len(cols)))}
        by_role: dict[str, list[int]] = {}
        for i, c in enumerate(cols):
            if i in cells:
                by_role.setdefault(c.role, []).append(i)
        return cls(cells, cols, by_role)

    def has(self, role: str) -> bool:
        return role in self.by_role

    def text(self, role: str) -> str:
        return " ".join(self.cells[i].text for i in self.by_role.get(role, []) if self.cells[i].text)


_EXPLICIT_DIRECTION = Gate(re.compile(
    r"\((inbound|outbound)\)|\b(inbound|outbound)\s+(?:traffic|connections?|calls?|communication|access|rules?)\b"
    r"|^(inbound|outbound)\b", re.I), ("inbound", "outbound"))


def _row_direction(r: _Row, ctx: _Ctx, purpose: str | None) -> str | None:
    """Direction column > port header > single-direction context > the purpose/description cell
    ("(inbound)", "inbound traffic from") > "both" context. The table *shape* (a lone Source
    column) is applied later, and only to parties read from that side."""
    direction = direction_of(r.text(DIRECTION)) if r.has(DIRECTION) else None
    if direction is None and r.has(DIRECTION_MARK):
        marked = {r.cols[i].direction for i in r.by_role[DIRECTION_MARK] if _MARKED.match(r.cells[i].text)} - {None}
        direction = marked.pop() if len(marked) == 1 else "both" if len(marked) == 2 else None
    if direction is None:
        direction = next((r.cols[i].direction for i in r.cells if r.cols[i].direction), None)
    if direction is None:
        direction = ctx.direction
    if direction is None and purpose:
        found = {next(g for g in m.groups() if g).lower() for m in _EXPLICIT_DIRECTION.finditer(purpose)}
        direction = found.pop() if len(found) == 1 else None
    if direction is None and ctx.direction_both:
        direction = "both"
    return direction


def _row_protocol(r: _Row) -> str | None:
    protocol = parse_protocol(r.text(PROTOCOL)) if r.has(PROTOCOL) else None
    if protocol is None:
        protocol = next((r.cols[i].protocol for i in r.by_role.get(PORTS, []) if r.cols[i].protocol), None)
    if protocol is None and r.has(DIRECTION):  # "…need outbound connection on UDP"
        m = _TCP_UDP.search(r.text(DIRECTION))
        protocol = m.group(1).lower() if m else None
    return protocol


_PORT_ROLES = {PORTS, PAIR_PORTS, PROTO_PORTS}
# a tag column cell that is one identifier ("Widget.ChinaNorth2", "Storage.<region>"), not "Storage tag" prose
_TAGGY = re.compile(r"^\s*[A-Z][A-Za-z0-9]*(?:\.\S+)?\s*$")


def _row_ports(r: _Row, ctx: _Ctx, protocol: str | None, purpose: str | None) -> tuple[dict[str | None, list[str]], str | None]:
    """``{protocol: ports}`` from the port columns; with no port column, from the lead-in's single
    port phrase, else from the description ("plain HTTP on TCP 80 and TLS on TCP 443")."""
    ports: dict[str | None, list[str]] = {}
    for role, kw in ((PORTS, {}), (PAIR_PORTS, {"source_dest": True}), (PROTO_PORTS, {})):
        for i in r.by_role.get(role, []):
            cell = r.cells[i]
            items = [_drop_marks(it, cell.footnotes) for it in (cell.items or [cell.text])]
            for proto, plist in parse_ports(items, default_protocol=protocol, **kw).items():
                ports.setdefault(proto, []).extend(plist)
    if ports and purpose and "lso" in purpose:  # ("Also listens on port 9435")
        m = _ALSO_PORTS.search(purpose)
        extra = ports_in(_SENTENCE_PUNCT_END.split(purpose[m.end():], 1)[0]) if m else []
        if extra and len(ports) == 1:  # "1433 | Redirect connections also use 11000-11999."
            (proto, plist), = ports.items()
            ports[proto] = plist + [p for p in extra if p not in plist]
    if ports or _PORT_ROLES & r.by_role.keys():
        return ports, protocol
    if r.has(PROTOCOL):
        # "Transport protocol: TCP 25": the port the protocol cell writes; "Domain(s) | Protocols": a
        # cell that is only "https" (no port column) is TCP 443, "http" TCP 80 ("SMTP/TLS" says nothing)
        texts = [r.cells[i].text for i in r.by_role[PROTOCOL] if r.cells[i].text]
        written: dict[str | None, list[str]] = {}
        for text in texts:
            for proto, plist in ports_in_sentence(text).items():
                written.setdefault(proto or protocol, []).extend(plist)
        if written:
            return written, protocol or (next(iter(written)) if len(written) == 1 else None)
        items = [x.strip() for t in texts for x in re.split(r"[,/&]|\band\b", t.lower()) if x.strip()]
        found = [_APP_ITEM.fullmatch(x) for x in items]
        if found and all(found):  # ("https", "http, https", "Https:443")
            return {"tcp": sorted({m.group(2) or _APP_PORTS[m.group(1)] for m in found}, key=int)}, "tcp"
    stated = ctx.ports or ports_in_sentence(purpose)
    if stated and not ctx.ports and _names_parties(r):
        stated = {}
    if stated:
        ports = {(p or protocol): list(v) for p, v in stated.items()}
        protocol = protocol or (next(iter(ports)) if len(ports) == 1 else None)
    return ports, protocol


_ALSO_PORTS = re.compile(r"\balso\s+(?:use|uses|need|needs|requires?|opens?|listens?\s+on)\s+(?:tcp\s+|udp\s+)?(?:ports?\s+)?(?=\d)", re.I)
_SENTENCE_PUNCT_END = re.compile(r"[.;:]\s|\s(?:for|when|if|to)\s")
_APP_ITEM = re.compile(r"(https|http|wss|ws)(?:\s*:\s*(\d{1,5}))?")
_APP_PORTS = {"https": "443", "wss": "443", "http": "80", "ws": "80"}


def _names_parties(r: _Row) -> bool:
    """A purpose cell naming hosts or tags of its own ("AzureFrontDoor.FirstParty: TCP, port 80")
    states ports for those, not for the row."""
    return any(parties_in_cell(r.cells[i]) for i in r.by_role.get(PURPOSE, []))


def _row_cloud(r: _Row, ctx: _Ctx) -> str | None:
    """Tab/heading cloud < an environment column; else "Azure China: MCR" in a purpose cell or a
    region/geography that implies a cloud ("China East 2", "US Gov Virginia", "Azure Government")."""
    cloud = ctx.cloud
    if r.has(CLOUD):
        cloud = cloud_of_label(r.text(CLOUD)) or cloud
    if cloud is None:
        for i in r.by_role.get(PURPOSE, []):
            m = _LABEL_PREFIX.match(r.cells[i].text)
            cloud = cloud_of_label(m.group(1)) if m else None
            if cloud:
                break
    if cloud is None:
        for i in r.by_role.get(REGION, []):
            cloud = cloud_of_label(r.cells[i].text) or r.cols[i].cloud
            if cloud:
                break
    if cloud is None and 0 in r.cells and r.cols[0].role in (IGNORE, PURPOSE):  # a row label: "US Gov Virginia"
        label = r.cells[0].text
        cloud = cloud_of_label(label) if label and len(label.split()) <= 5 else None
    return cloud


def _row_required(r: _Row, ctx: _Ctx, purpose_cell: Cell | None, rank: int,
                  bold_means_required: bool) -> tuple[bool | None, str | None]:
    required, when = ctx.required, None
    if r.has(REQUIRED):
        rtext = r.text(REQUIRED)
        req = _required_of(rtext)
        is_when = any(r.cols[i].when for i in r.by_role[REQUIRED])
        if req is None and rtext and is_when:
            req = True  # "When required: At installation time" = required, under the condition kept in `when`
        required = req if req is not None else required
        if rtext and (is_when or req is None):
            when = rtext
    else:
        req = _cell_required(r.cells, r.cols)
        required = req if req is not None else required
    if purpose_cell is not None and (not r.has(REQUIRED) or required is None):
        req = _required_from_purpose(purpose_cell, rank, bold_means_required=bold_means_required)
        required = req if req is not None else required
    return required, when


def _tag_cell_parties(cell: Cell) -> list[tuple[str, str]]:
    if cell.code:
        return parties_in_cell(cell, tag_column=True)
    # "WindowsUpdate and HDInsight" > items of CamelCase tags > "Azure Monitor", "Storage tag"
    named = [t for t in tags_in_text(cell.text) if t.lower() not in _NOT_A_PARTY]
    found = [("tag", t) for t in named] if len(named) > 1 else parties_in_cell(cell, tag_column=_TAGGY.match(cell.text) is not None)
    return found or [("tag", t) for t in named]


# "MySQL", "ControlPlaneUri", "Q7R": identifiers that look like tags (mixed case, or capitals and digits)
_TAG_LOOKING = re.compile(r"(?<![\w.:/<{-])([A-Z][a-z0-9]*[A-Z][A-Za-z0-9]*|[A-Z]+\d[A-Z0-9]*)(?![\w.:/>}-])")


def _tag_lookalikes(cell: Cell, found: list[tuple[str, str]]) -> list[str]:
    """Tag-looking words in a host cell that are not known tag names, so became no party."""
    if cell.text.islower():
        return []  # no capital letter: nothing looks like a tag (most host cells)
    named = {v.lower() for _, v in found}
    return [w for w in dict.fromkeys(_TAG_LOOKING.findall(cell.text)) if w.lower() not in named and not is_known_tag(w)]


def _item_ports(cell: Cell) -> dict[str, str]:
    """``{host: "host:port"}`` for a cell's items that give their one host its own port
    ("`**.servicebus.windows.net` - Port: 5671 (…)", :func:`port_note`), so the port stays with that host."""
    out: dict[str, str] = {}
    for item in cell.items:
        noted, _ = port_note(item)
        ports = next(iter(noted.values()), [])
        if len(ports) == 1:
            hosts = [v for k, v in parties_in_cell(Cell.from_items([item])) if k != "tag"]
            if len(hosts) == 1 and ":" not in hosts[0].split("://")[-1]:
                out[hosts[0]] = f"{hosts[0]}:{ports[0]}"
    return out


_TAG_LABEL = re.compile(r"(?:service\s*|fqdn\s*)?tags?", re.I)


def _row_parties(r: _Row, ctx: _Ctx, cloud: str | None,
                 lookalikes: list[str] | None = None) -> tuple[list[tuple[str, str, str | None]], str | None]:
    """(kind, value, cloud override) of the parties named in host/tag columns, and the service tag
    that covers the row's addresses ("Address | … | Service tag"). Tag-looking words that are no
    known tag go to ``lookalikes``."""
    parties: list[tuple[str, str, str | None]] = []
    # "Type | Destination endpoint": a row labelled "ServiceTag" / "FQDN tag" names a tag there
    labelled = any(_TAG_LABEL.fullmatch(r.cells[j].text.strip()) for j in r.cells if r.cols[j].role in (IGNORE, PURPOSE))
    for i in r.by_role.get(ENDPOINT, []):
        cell = r.cells[i]
        found = parties_in_cell(cell, tag_column=bool(ctx.next_hops) or labelled)
        if lookalikes is not None:
            lookalikes += _tag_lookalikes(cell, found)
        notes = cloud_annotations(cell)
        notes.update(cloud_labels(cell))
        implicit = "public" if cloud is None and notes and "public" not in notes.values() else r.cols[i].cloud
        ported = _item_ports(cell) if "port" in cell.text.lower() else {}
        # a host listed under several clouds' labels ("public,usgov") is one party per cloud
        parties += [(k, ported.get(v, v), c or None) for k, v in found
                    for c in (notes.get(v.lower(), implicit) or "").split(",")]
    for i in r.by_role.get(CLOUD_HOSTS, []):
        parties += [(k, v, r.cols[i].cloud) for k, v in parties_in_cell(r.cells[i])]
    row_tags = [p for i in r.by_role.get(TAG, []) for p in _tag_cell_parties(r.cells[i])]
    if parties:  # "Address | … | Service tag": the tag is the one that covers this address
        attach = next((v for k, v in row_tags if k == "tag"), None)
        parties += [(k, v, None) for k, v in row_tags if k != "tag"]
        return parties, attach
    return parties + [(k, v, None) for k, v in row_tags], None


def _side_of(r: _Row, role: str) -> _Side:
    """A side from its first column that says something: "Source IP addresses | Source service tag"
    rows fill one of the two and write N/A in the other."""
    cols = r.by_role.get(role, [])
    said = [i for i in cols if r.cells[i].text.strip().lower() not in _EMPTY_SIDE]
    if len(said) > 1:  # "Source: Service Tag | Source service tag: X": the column that names a party
        sides = [_side(r.cells[i], tagged=r.cols[i].tagged) for i in said]
        return next((x for x in sides if x.parties), sides[0])
    i = said[0] if said else cols[0] if cols else None
    return _side(r.cells[i], tagged=r.cols[i].tagged) if i is not None else _Side()


_EMPTY_SIDE = {"", "n/a", "na", "-", "none", "—"}


def _row_sides(r: _Row, direction: str | None) -> tuple[_Side, _Side] | None:
    if r.has(PAIR):
        pair_text = r.text(PAIR)
        tagged = any(r.cols[i].tagged for i in r.by_role[PAIR])
        if "/" in pair_text:
            s, d = pair_text.split("/", 1)
            return _side(None, s, tagged=tagged), _side(None, d, tagged=tagged)
        return _flow_sides(pair_text)
    if r.has(SOURCE) or r.has(DEST):
        src, dst = _side_of(r, SOURCE), _side_of(r, DEST)
        if direction == "inbound" and any(r.cols[i].relative for i in r.by_role.get(DEST, [])):
            return dst, src  # an inbound row: the remote side is where traffic comes from
        return src, dst
    return None


# a cell naming the two ends of a row's traffic: "From the appliance VM IPs to the VMM server",
# "VMM server to Hyper-V host agent (control)", "Customer edge router and MSEE peer IP", "A → B"
_FLOW_CELL = (
    re.compile(r"^\s*from\s+(?:the\s+|your\s+|each\s+|every\s+|all\s+)?(?P<a>.+?)\s+(?:to|towards?)\s+"
               r"(?:the\s+|your\s+|each\s+|every\s+|all\s+)?(?P<b>.+?)\s*(?:\(.*\))?[.]?\s*$", re.I),
    re.compile(r"^\s*(?:between\s+)?(?:the\s+|your\s+|each\s+|every\s+|all\s+)?(?P<a>.+?)\s+(?:to|towards?|→|->|⇒|⟶|and|&|<->|↔)\s+"
               r"(?:the\s+|your\s+|each\s+|every\s+|all\s+)?(?P<b>.+?)\s*(?:\(.*\))?[.]?\s*$", re.I),
)
_END_IS_DIRECTION = re.compile(r"^(?:inbound|outbound|ingress|egress|incoming|outgoing|both|bidirectional)$", re.I)
_FLOW_HEADER = re.compile(r"(?:data\s+|traffic\s+|network\s+)?(?:flows?|paths?|between|connections?|links?|traffic|"
                          r"communications?|sessions?|hops?|legs?)")


@memo
def _flow_sides(text: str) -> tuple[_Side, _Side] | None:
    """The two ends a flow cell names, each a role, address or tag; None when it names no two."""
    t = clean_text(text)
    for rx in _FLOW_CELL:
        m = rx.match(t)
        if m:
            if _END_IS_DIRECTION.match(m.group("a")) or _END_IS_DIRECTION.match(m.group("b")):
                return None  # ("Outbound to Azure": a direction, not an end)
            a, b = _lead_side(m.group("a")), _lead_side(m.group("b"))
            if a and b:
                return a, b
    return None


def _flow_column(table: Table, cols: list[Column]) -> int | None:
    """A "Between"/"Connection"/"Flow" column whose cells name both ends of each row, in a table
    with no other party column: the row's sides."""
    if any(c.role in PARTY_ROLES for c in cols):
        return None
    for i, c in enumerate(cols):
        if c.known or not _FLOW_HEADER.fullmatch(_header(table.columns[i])):
            continue
        cells = _column_cells(table, i)
        if cells and 2 * sum(1 for cell in cells if _flow_sides(cell.text)) > len(cells):
            return i
    return None


def _repair_row(table: Table, cols: list[Column], row: list[Cell]) -> tuple[list[Cell], str | None]:
    """A row where a missing pipe merged a party and its port ("VirtualNetwork 6391" in the tag
    column, the protocol in the port column, the last cell empty): the cells shifted back and the
    port recovered. Only when unambiguous; returns the row and what was mended."""
    if not row or row[-1].text:
        return row, None
    for i, c in enumerate(cols[:-1]):
        if c.role not in PARTY_ROLES or i + 1 >= len(row) or cols[i + 1].role not in _PORT_ROLES:
            continue
        m = _MERGED_PORT.match(row[i].text)
        nxt = row[i + 1].text
        if m and not ports_in(nxt) and parse_protocol(nxt) and (is_tag(m.group(1)) or endpoint_kind(m.group(1))):
            fixed = row[:i] + [Cell.from_items([m.group(1)]), Cell.from_items([m.group(2)])] + row[i + 1:-1]
            return fixed, (f"cell {row[i].text!r} under {table.columns[i]!r} holds the next cell's port "
                           f"(a missing '|'); read as {m.group(1)!r} with port {m.group(2)}")
    return row, None


_MERGED_PORT = re.compile(r"^(\S+)\s+(\d{1,5}(?:\s*-\s*\d{1,5})?)$")
# a fictitious company's name starting a label ("contoso.com", "contosodata.blob…", "fabrikam-app")
_CONTOSO = Folded(r"(?:^|[./@-])(contoso|fabrikam|adventure-?works|northwind(?:traders)?|wingtip(?:toys)?|"
                  r"woodgrove(?:bank)?|litware|tailspin(?:toys)?|proseware|treyresearch|fourthcoffee|adatum|relecloud|"
                  r"lucernepublishing|wideworldimporters|alpineskihouse|cohowinery|humongousinsurance|lamnahealthcare|"
                  r"margiestravel|vanarsdel|southridgevideo|blueyonderairlines)[a-z0-9]*(?:[.-]|$)",
                  needles=("contoso", "fabrikam", "adventure", "northwind", "wingtip", "woodgrove", "litware", "tailspin",
                           "proseware", "treyresearch", "fourthcoffee", "adatum", "relecloud", "lucerne", "wideworld",
                           "alpineski", "coho", "humongous", "lamna", "margie", "vanarsdel", "southridge", "blueyonder"))
_EXAMPLE_HOST = Folded(r"(?:^|[./])example\.(?:com|net|org)(?:[/:]|$)|\.example$|\.test$|\.invalid$",
                       needles=("example", ".test", ".invalid"))
_EXAMPLE_ITEM = Folded(r"\be\.g\.|(?<![\w.-])(?:examples?|samples?)(?![\w.-])", needles=("e.g.", "example", "sample"))


_EXAMPLE_LABEL = re.compile(r"^\W*(?:for\s+)?(?:an?\s+)?examples?\b", re.I)


def _not_a_rule(kind: str, value: str, ctx: _Ctx, cell_text: str, party_text: str | None = None) -> str | None:
    """Why a party is not a destination to allow (``None`` when it is one)."""
    if ctx.example_list:
        return "in a list the page introduces as an example"
    if ctx.set_aside == BYPASS and kind != "tag":
        # public service endpoints a page tells you to bypass the proxy for must still be allowed
        if _PRIVATE.search(value) or f".{value}" in cell_text or kind in ("cidr", "ip_range"):
            return BYPASS
    elif ctx.set_aside and kind != "tag":
        return ctx.set_aside
    if bool(ctx.next_hops) and value.strip() in ("0.0.0.0/0", "::/0"):
        return "default route of a route table (not a destination to allow)"
    if kind == "tag":
        return None
    if _CONTOSO.search(value):
        return "example domain (fictitious company name)"
    address = split_endpoint_port(value)[0] if kind in ("ip", "fqdn") else value  # ("192.0.2.53:53")
    # the page's word for it first: parsing the value as an address (documentation_address) is the dear test
    # (the cells naming the party call it an example; "User (for example, `ava@contoso.com`)" in another
    # cell of the row speaks of that cell)
    said = cell_text if party_text is None else party_text
    if (ctx.example or _EXAMPLE_ITEM.search(said)) and (_EXAMPLE_HOST.search(value) or documentation_address(address)):
        return "example address (the page calls it an example)"
    if endpoint_kind(address) in ("ip", "cidr", "ip_range") and private_address(address) and _CONTOSO.search(cell_text):
        # "corp.adatum.com. | 192.168.10.5:53": a sample ruleset's forwarding target, the reader's own server
        return "example address (a private address beside a fictitious company's domain)"
    if ctx.example and kind in ("ip", "cidr", "ip_range") and private_address(value):
        # "For example:" | "AD DS site | Subnet | Domain controllers" | "10.10.0.0/24": the reader's own addresses
        return "example address (a private address in a table the page calls an example)"
    return None


def _row_notes(table: Table, ctx: _Ctx, r: _Row, row: list[Cell], lookalikes: list[str]) -> list[Diagnostic]:
    """``not-a-rule`` notes for what a row shows but does not require: route next hops, category
    labels that are tag names, tag-looking words that are no known tag."""
    def note(why: str, token: str) -> Diagnostic:
        return Diagnostic("not-a-rule", why, table.line, "info", token=token, section=list(ctx.section))
    notes = [note("next hop of a route (where traffic is sent, not a destination to allow)", v)
             for i in ctx.next_hops if i < len(row) for _, v in parties_in_cell(row[i])]
    notes += [note(f"a label in the {table.columns[i]!r} column, not a party", r.cells[i].text)
              for i in r.by_role.get(PURPOSE, []) if is_tag(r.cells[i].text) and is_known_tag(r.cells[i].text)]
    notes += [note("looks like a service tag but is no known tag name and stands in no tag column", w) for w in lookalikes]
    notes += [note(c.aside, v) for i, c in enumerate(r.cols) if c.aside and i in r.cells
              for _, v in parties_in_cell(r.cells[i], want_tags=False)]
    return notes


def _side_parties(r: _Row, sides: tuple[_Side, _Side], direction: str | None, headings: list[str],
                  hubs: frozenset = frozenset()) -> tuple[list[tuple[str, str]], list[str], str | None]:
    """Parties read from the Source/Destination sides (an address, else a role), the ports written
    on them, and the direction the table shape implies (a lone Source column: inbound; traffic
    into the table's hub: inbound, out of it: outbound)."""
    picked, side_ports = _pick_side(sides[0], sides[1], direction)
    if not picked:
        role = _role_party(sides[0], sides[1], direction, headings, hubs)
        picked = [("role", role.role)] if role else []
        side_ports = (role.ports or next(x.ports for x in sides if x is not role)) if role else []
        other = sides[1] if role is sides[0] else sides[0]
        if role and direction is None and other.role and other.role.lower() in hubs and role.role.lower() not in hubs:
            direction = "inbound" if role is sides[0] else "outbound"
    if direction is None and picked and r.has(SOURCE) != r.has(DEST) and not r.has(PAIR):
        direction = "inbound" if r.has(SOURCE) else "outbound"  # the lone side is the remote one
    elif direction is None and picked and r.has(SOURCE) and r.has(DEST):
        # "Source: BatchNodeManagement | Destination: Any": traffic from the named party in
        src, dst = sides
        if src.rank == 3 and dst.rank <= 2:
            direction = "inbound"
        elif dst.rank == 3 and src.rank <= 2:
            direction = "outbound"
    return picked, side_ports, direction


def _port_groups(ports: dict[str | None, list[str]], protocol: str | None, implied_proto: str | None,
                 extra: list[str]) -> dict[str | None, list[str]]:
    """``{protocol: ports}`` of one party: the row's ports plus those written on the party."""
    groups = {k: list(v) for k, v in ports.items()} or {protocol or implied_proto: []}
    if extra:
        if not any(groups.values()):
            groups = {protocol or implied_proto: extra}
        else:
            for k in groups:
                groups[k] = groups[k] + extra
    if implied_proto and None in groups:
        groups.setdefault(implied_proto, []).extend(groups.pop(None))
    return groups


@memo
def _lead_host(lead_in: str | None) -> tuple[tuple[str, str], ...]:
    """The one host a lead-in names ("… to reach your hub, `<hub>.azure-devices.net`:"), if exactly one."""
    if not lead_in or "." not in lead_in:
        return ()
    named = [p for p in parties_in_cell(Cell.from_items([lead_in]), want_tags=False) if _surely_host(*p)]
    return tuple(named) if len(named) == 1 else ()


def _machine_word(text: str) -> bool:
    """The text ends with a machine noun ("RADIUS client", "Source server")."""
    return _MACHINE_WORD.search(text) is not None


# the head noun of a machine, network or service part a sentence names as one side ("to the
# SAP-managed DNS servers", "from the Gateway Load Balancer", "reach the parent connected registry")
ROLE_HEAD = (r"(?:servers?|controllers?|endpoint|gateways?|appliances?|registry|registries|balancers?|forwarders?|"
             r"nodes?|vms?|instances?|peers?|prox(?:y|ies)|clusters?|brokers?|collectors?|relays?|agents?|"
             r"workers?|clients?|subnets?|devices?|hosts?|points?|routers?|switch(?:es)?|machines?|computers?|"
             r"workstations?|ips?|vips?|address(?:es)?|endpoints|resolvers?|databases?|ranges?|services?|shares?|listeners?|"
             r"caches?|repositor(?:y|ies)|arrays?|systems?|consoles?|sensors?|cameras?|phones?|printers?|units?|pods?|containers?|"
             r"targets?|"
             r"(?-i:[A-Z]{2,6}s))")
_MACHINE_WORD = re.compile(rf"\b{ROLE_HEAD}$", re.I)
_LEAD_DET = r"(?:(?:the|your|a|an|each|every|all|any|its|their)\s+)?"
_LEAD_WORD = r"[\w<*](?:[\w.'/&+<>*-]*[\w>*])?(?:(?<=s)'(?=\s))?"  # ("the tenants' routers")
# ("the certificate revocation list (CRL) endpoints": an acronym aside is part of the name)
_ACRONYM_TOKEN = r"\((?-i:[A-Z][A-Za-z0-9]{1,6})\)"
_LEAD_PHRASE = rf"{_LEAD_WORD}(?:\s+(?:{_LEAD_WORD}|{_ACRONYM_TOKEN})){{0,7}}?"
_LEAD_END = (r"(?=\s+(?:in|on|at|over|for|through|via|with|using|if|when|that|which|where|so|because|must|should|"
             r"and|or|is|are|to|from|allows?|needs?|requires?|uses?|as\s+well|too|also)\b|\s*[.,;:)]|"
             rf"\s*\((?!(?-i:[A-Z][A-Za-z0-9]{{1,6}})\)\s+\w)|\s*$)")
# "… must be open from the Azure NetApp Files delegated subnet to every AD DS domain controller in …";
# "… between the gateway and the managed nodes"
_LEAD_FROM_TO = re.compile(rf"\bfrom\s+{_LEAD_DET}(?P<a>{_LEAD_PHRASE})\s+to\s+{_LEAD_DET}(?P<b>{_LEAD_PHRASE}){_LEAD_END}", re.I)
# "Clients on the internet connect to the Web Application Proxy.": the subject, then where it connects
_LEAD_SUBJECT_TO = re.compile(rf"^\s*(?:{_OPENING})?{_LEAD_DET}(?P<a>{_LEAD_PHRASE})\s+"
                              rf"(?:(?:also|must|can|need\s+to|needs\s+to|then|(?:must|should|needs?\s+to)\s+be\s+able\s+to)\s+)?"
                              rf"(?:connect|connects|talk|talks|send|sends|reach|reaches|communicate|communicates|"
                              rf"(?:send|sends|push|pushes|forward|forwards)\s+(?:[\w-]+\s+){{1,3}}?)\s*"
                              rf"(?:(?:inbound|outbound|directly|only)\s+)?to\s+{_LEAD_DET}(?P<b>{_LEAD_PHRASE}){_LEAD_END}", re.I)
_THE_TABLE = re.compile(r"\b(?:the\s+following\s+table|the\s+table\s+below|this\s+table|in\s+the\s+table)\b", re.I)
_LEAD_BETWEEN = re.compile(rf"\bbetween\s+{_LEAD_DET}(?P<a>{_LEAD_PHRASE})\s+and\s+{_LEAD_DET}(?P<b>{_LEAD_PHRASE}){_LEAD_END}",
                           re.I)
# "The protection server needs the following ports open to the domain controllers:", "… must accept
# these from the collectors:": one side the lead-in names, its subject the other
_LEAD_ONE = re.compile(rf"(?:\b(?:ports?|open(?:ed)?|allow(?:ed)?|permit(?:ted)?|connections?|outbound|inbound|following|these|"
                       rf"needed|required|reach(?:es)?)\s+(?:\w+\s+){{0,2}}?|\b(?:be\s+able\s+to|must|needs?\s+to)\s+)"
                       rf"(?P<how>to|towards?|from|reach(?:es)?)\s+"
                       rf"(?P<b>(?:the|your|each|every|all)\s+(?:{_LEAD_WORD}\s+){{0,4}}?{ROLE_HEAD}){_LEAD_END}", re.I)
_LEAD_SUBJECT = re.compile(rf"^\s*{_LEAD_DET}(?P<a>{_LEAD_PHRASE})\s+(?:also\s+)?(?:must|needs?|requires?|should|has\s+to|have\s+to|uses?)\b", re.I)
# "… these ports on your storage system allow …", "… used only inside the virtual network": where the ports are
_LEAD_PLACE = re.compile(rf"\bports?\b[^.]*?\b(?:open\s+)?on\s+(?P<on>(?:the|your|each|every|all)\s+{_LEAD_PHRASE}){_LEAD_END}|"
                         rf"\b(?:inside|within)\s+(?P<in>(?:the|your|each|every|all)\s+{_LEAD_PHRASE}){_LEAD_END}", re.I)
_LEAD_DET_RX = re.compile(r"^(?:the|your|a|an|each|every|all|any|its|their)\s+", re.I)
# where rules are configured, not a party: "open these ports on your firewall"
_ENFORCER = Gate(re.compile(r"\b(?:firewalls?|prox(?:y|ies)|nsgs?|network security groups?|security groups?|route tables?|"
                       r"network virtual appliances?|nvas?)\b", re.I), ("firewall", "prox", "nsg", "group", "table", "appliance", "nva"))
_FROM_INTERNET = Gate(re.compile(r"\binternet\b", re.I), ("internet",))
# a proxy that serves clients ("the Web Application Proxy", "a reverse proxy") is where they connect, a party
_SERVING_PROXY = Gate(re.compile(r"\b(?:application|reverse)\s+prox(?:y|ies)\b", re.I), ("prox",))
# "the direction from which incoming requests …": a clause, not a party
_NOT_A_NOUN = re.compile(r"(?:which|where|what|whom?|whose|that|this|these|those|there|here|it|they|them|then|now|one|"
                         r"another|each other|outside|inside|anywhere|everywhere)\b", re.I)
# the lead-in sentence speaks of the table's traffic
_FLOW_WORDS = Gate(re.compile(r"\b(?:ports?|traffic|connections?|connectivity|flows?|communicat\w*|access|requests|"
                         r"connect(?:s|ed|ing)?|reach(?:es|ed)?|sends?|tcp|udp)\b", re.I), ("port", "traffic", "connect", "flow", "communicat", "access", "request", "reach", "send", "tcp", "udp"))  # ("clients connect outbound from X to Y")
_PORTISH = re.compile(r"\b(?:ports?|tcp|udp)\b|(?<![\w.])\d+(?![\w./])", re.I)


# a part that runs on a machine ("the protection agent", "the agent coordinator", "the Browser service")
_COMPONENT = re.compile(r"\b(?:agents?|services?|coordinators?|process(?:es)?|daemons?|listeners?|components?|"
                        r"runtimes?|modules?|extensions?)$", re.I)
_ON_MACHINE = re.compile(rf"^[^.;]*?\b(?:on|running\s+on|installed\s+on|hosted\s+on)\s+(?:the|each|every|your)\s+"
                         rf"(?P<m>(?:{_LEAD_WORD}\s+){{0,4}}?{ROLE_HEAD})\b", re.I)


def _host_of(side: _Side, rest: str) -> _Side:
    """A component's side moved to the machine it runs on, which is where the port is opened ("… to
    the agent coordinator (5718) and the protection agent (5719) on the protected computer")."""
    if not _COMPONENT.search(side.role or ""):
        return side
    m = _ON_MACHINE.match(rest)
    host = _lead_side(m.group("m")) if m and not _COMPONENT.search(m.group("m")) else None
    return host if host is not None and host.role else side


def _lead_side(text: str) -> _Side | None:
    """One side a lead-in names, if it names an address, a tag or a role (never port words or a
    rule-enforcing device)."""
    t = _LEAD_DET_RX.sub("", text.strip())
    enforcer = _ENFORCER.search(t) is not None and not _SERVING_PROXY.search(t)
    if not t or _PORTISH.search(t) or enforcer or t.lower() in _STOP or _NOT_A_NOUN.match(t):
        return None
    side = _side(None, t)
    return side if side.parties or side.role else None


@memo
def _lead_sides(lead_in: str | None, *, row: bool = False) -> tuple[_Side, _Side] | None:
    """The sides a port table's lead-in names when the table has no address column ("… open from
    the **delegated subnet** to **every domain controller**", "… between X and Y"), or that a row's own
    description names (``row``: "Lookups from the sync appliance to the domain controllers."); for a lead-in
    naming only where the ports are ("… ports on your storage system", "… only inside the virtual
    network") that place as the destination, with no source. Sentences nearest the table first;
    negated ones ("shouldn't be reachable from the internet") say nothing."""
    if not lead_in:
        return None
    clauses = _CLAUSES.split(clean_text(lead_in))
    # (the subject of a one-sentence lead-in is the table's source: "Clients on the internet connect to
    # the Web Application Proxy."; in a longer one it describes the architecture, not this table)
    forms = (_LEAD_FROM_TO, _LEAD_BETWEEN, _LEAD_SUBJECT_TO) if len(clauses) == 1 or row else (_LEAD_FROM_TO, _LEAD_BETWEEN)
    for sentence in reversed(clauses):
        # (a sentence that speaks of "the following table" speaks for it, whatever surrounds it)
        forms_here = (_LEAD_FROM_TO, _LEAD_BETWEEN, _LEAD_SUBJECT_TO) if _THE_TABLE.search(sentence) else forms
        if _NEGATED.search(sentence):  # "If you can't run rpcinfo, make sure …": only the negated part goes
            sentence = ", ".join(p for p in _COMMA_PARTS.split(sentence) if not _NEGATED.search(p))
        if not row and not _FLOW_WORDS.search(sentence):
            continue  # (a port table row's own description speaks of its flow whatever its words)
        for rx in forms_here:
            for m in rx.finditer(sentence):
                a, b = _lead_side(m.group("a")), _lead_side(m.group("b"))
                if a and b:
                    return a, _host_of(b, sentence[m.end("b"):]) if b.role else b
        for m in _LEAD_PLACE.finditer(sentence):
            place = _lead_side(m.group("on") or m.group("in"))
            if place:
                return _Side(), place
        if not row:
            for m in _LEAD_ONE.finditer(sentence):
                place = _lead_side(m.group("b"))
                if place is None or not place.role and not place.parties:
                    continue
                subject = _LEAD_SUBJECT.match(sentence)
                here = (_lead_side(subject.group("a")) if subject else None) or _Side()
                if m.group("how").lower() == "from":
                    return replace(place, sends=True), here
                return here, place
    return None


def _machine_rules(r: _Row, ctx: _Ctx, index: int) -> list[Rule]:
    """"**Appliance** | Inbound connections on TCP port 3389 … Outbound connections on port 443":
    the machine is a role, and each sentence of the description gives its own ports, transport
    and direction (the page's direction when the sentence names none)."""
    name = role_name(clean_text(r.text(MACHINE)).strip("* "), max_words=8)
    if not name:
        return []
    texts = [r.cells[i].text for i in r.cells if r.cols[i].role in (PURPOSE, IGNORE) and r.cells[i].text]
    groups: dict[tuple[str | None, str | None], list[str]] = {}
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            found = ports_in_sentence(sentence)
            if not found:
                continue
            d = _single_direction(sentence) or ctx.direction
            for proto, plist in found.items():
                groups.setdefault((d, proto or parse_protocol(sentence)), []).extend(plist)
    return [Rule(endpoint=name, endpoint_kind="role", ports=sort_ports(plist), protocol=proto, direction=d,
                 cloud=ctx.cloud, tab=ctx.tab, required=ctx.required, purpose=clean_text(" ".join(texts)) or None,
                 section=list(ctx.section), row=index, origin="table")
            for (d, proto), plist in groups.items()]


def _row_rules(table: Table, cols: list[Column], ctx: _Ctx, index: int, row: list[Cell],
               set_aside: list[Diagnostic] | None = None, bold_means_required: bool = False) -> list[Rule]:
    """The rules of one row: one per party × protocol. Parties the table calls reserved, bypassed,
    examples or default routes go to ``set_aside`` as ``not-a-rule`` diagnostics instead."""
    r = _Row.of(row, cols)
    if r.has(ACTION) and _DENIED.match(r.text(ACTION)):
        return []  # a deny rule ("DenyAllInbound"): what the page blocks, not what to allow
    if r.has(MACHINE) and not (_PORT_ROLES & r.by_role.keys()) and not any(
            c.role in PARTY_ROLES - {MACHINE} for c in cols):
        return _machine_rules(r, ctx, index)
    purpose, purpose_cell, rank = _purpose(row, cols)
    direction = _row_direction(r, ctx, purpose)
    ports, protocol = _row_ports(r, ctx, _row_protocol(r), purpose)
    cloud = _row_cloud(r, ctx)
    if purpose is None and r.has(REGION):
        purpose = r.text(REGION) or None
    required, when = _row_required(r, ctx, purpose_cell, rank, bold_means_required)
    if required is None and any(_OPTIONAL_NOTE.search(r.cells[i].text) for i in r.by_role.get(ENDPOINT, [])):
        required = False  # "*.services.visualstudio.com (optional)"
    lookalikes: list[str] = []
    parties, attach = _row_parties(r, ctx, cloud, lookalikes)
    if set_aside is not None:
        set_aside += _row_notes(table, ctx, r, row, lookalikes)

    if not parties and any(ports.values()):  # "Destination URL: (IP of the NTP server …)" | "UDP 123"
        parties = [("role", name, None) for i in r.by_role.get(ENDPOINT, [])
                   if not r.cells[i].code and not _is_link_text(r.cells[i])
                   and (name := role_name(r.cells[i].text, max_words=10))]
    source = destination = None
    sides = _row_sides(r, direction)
    if sides:
        source, destination = sides[0].written, sides[1].written
        if not parties:
            picked, side_ports, direction = _side_parties(r, sides, direction, table.headings, ctx.hubs)
            parties += [(k, v, None) for k, v in picked]
            if side_ports and not ports:
                ports = {protocol: sort_ports(side_ports)}

    if not parties and not sides and any(ports.values()) and not any(c.role in PARTY_ROLES for c in cols):
        # "Protocol | Port" with no address column: the ports of the one host the lead-in names
        # ("… to reach your hub, `<hub>.azure-devices.net`:"), else of the sides it names ("… from
        # the delegated subnet to every domain controller", "… ports on your storage system"), else
        # of the machine a variant tab names ("# [Managed nodes](#tab/nodes)"), else open to any
        # address, as in prose
        parties = [(k, v, None) for k, v in _lead_host(ctx.lead_in)]
        # (a row's description naming its own sides, "Lookups from the sync appliance to the domain
        # controllers.", speaks before the lead-in)
        lead = None if parties else purpose and _lead_sides(purpose, row=True) or _lead_sides(ctx.lead_in)
        if lead:
            if lead[0].written:
                source, destination = lead[0].written, lead[1].written
                if direction is None and lead[0].sends:
                    direction = "inbound"  # "… must accept these from the X": X is the remote side
                picked, _, direction = _side_parties(r, lead, direction, table.headings)
                if direction is None and _FROM_INTERNET.search(source):
                    direction = "inbound"  # "Clients on the internet connect to the X": into X, from outside
            else:
                picked = lead[1].specific() or [("role", lead[1].role)]
            parties = [(k, v, None) for k, v in picked]
        parties = parties or (
            [("role", ctx.tab, None)] if ctx.tab and len(ctx.tab.split()) >= 2 and role_name(ctx.tab) else []
        ) or [("cidr", ANY_ADDRESS, None)]
    # a cell listing hosts and IP ranges together lists destinations: the IPs go the same way
    named_row = any(k in _NAMED_KINDS for k, _, _ in parties) and not sides
    cell_text = " ".join(c.text for c in row)
    party_text = " ".join(r.cells[i].text for i in r.cells if r.cols[i].role in PARTY_ROLES) or cell_text
    rules: list[Rule] = []
    examples = 0
    for kind, value, cloud_override in parties:
        why = _not_a_rule(kind, value, ctx, cell_text, party_text)
        if why:
            examples += "example" in why
            if set_aside is not None:
                set_aside.append(Diagnostic("not-a-rule", why, table.line, "info", token=value, section=list(ctx.section)))
            continue
        endpoint, ekind, service_tag, extra, implied_proto = _party_fields(kind, value)
        rule_direction = direction
        if rule_direction is None and (ekind in _NAMED_KINDS or named_row):
            rule_direction = "outbound"  # DNS names are only ever destinations a client resolves
        row_ports = ports if not extra or _PORT_ROLES & r.by_role.keys() else {}  # a party's own port beats the lead-in's
        for proto, plist in _port_groups(row_ports, protocol, implied_proto, extra).items():
            rule_required = required
            if rule_required is None and ctx.not_required_ports and plist and all(
                    _port_within(p, ctx.not_required_ports) for p in plist):
                rule_required = False  # "ports 9000-9100 aren't required": only rules on those ports
            rules.append(Rule(
                endpoint=endpoint, endpoint_kind=ekind, service_tag=service_tag or (attach and normalize_tag(attach)),
                source=source, destination=destination, ports=sort_ports(plist),
                protocol=proto, direction=rule_direction, cloud=cloud_override or cloud, tab=ctx.tab,
                required=rule_required, when=when, purpose=purpose,
                section=list(ctx.section), table=None, row=index,
                origin="list" if table.kind == "list" else "table",
            ))
    if (examples and examples == len(parties) or ctx.example and not rules) and set_aside is not None:
        # the row is an example ("corp.adatum.com. | 192.168.10.5:53"): what else it names is the example's too
        named = {v.lower() for _, v, _ in parties}
        set_aside += [Diagnostic("not-a-rule", "in an example row (beside an example party)", table.line, "info",
                                 token=v, section=list(ctx.section))
                      for cell in row for _, v in parties_in_cell(cell, want_tags=False) if v.lower() not in named]
    return rules


def _hub_roles(table: Table, cols: list[Column]) -> frozenset:
    """Roles a Source/Destination table names as the source of one row and the destination of
    another: the machine the table's flows go into and out of, the local side of each row."""
    src = [i for i, c in enumerate(cols) if c.role == SOURCE and not c.relative]
    dst = [i for i, c in enumerate(cols) if c.role == DEST and not c.relative]
    if not src or not dst:
        return frozenset()

    def roles(idx: list[int]) -> set[str]:
        return {name.lower() for row in table.rows for i in idx if i < len(row)
                if (name := role_name(row[i].text)) and not parties_in_cell(row[i])}
    return frozenset(roles(src) & roles(dst))


def _port_within(port: str, ranges: list[str]) -> bool:
    """``port`` (a number or ``a-b``) lies inside one of ``ranges``."""
    def span(p: str) -> tuple[int, int] | None:
        m = _PORT_SPAN.fullmatch(p)
        return (int(m.group(1)), int(m.group(2) or m.group(1))) if m else None
    s = span(port)
    return bool(s) and any((o := span(r)) and o[0] <= s[0] and s[1] <= o[1] for r in ranges)


def _drop_marks(item: str, footnotes: list[str]) -> str:
    for f in footnotes or []:
        if f and item.endswith(f) and len(item) > len(f):
            item = item[: -len(f)].rstrip()
    return item


def _list_rules(table: Table, ctx: _Ctx, set_aside: list[Diagnostic] | None = None) -> list[Rule]:
    rules = []
    for index, row in enumerate(table.rows):
        for cell in row:
            notes = cloud_annotations(cell)
            note_ports, note_direction = port_note(cell.text) if "(" in cell.text else ({}, None)
            for kind, value in parties_in_cell(cell):
                why = _not_a_rule(kind, value, ctx, cell.text)
                if why:
                    if set_aside is not None:
                        set_aside.append(Diagnostic("not-a-rule", why, table.line, "info", token=value,
                                                    section=list(ctx.section)))
                    continue
                endpoint, ekind, tag, extra, proto = _party_fields(kind, value)
                if not extra and note_ports:  # "`host` (443 & 5671 outbound)"
                    (note_proto, extra), = note_ports.items()
                    proto = proto or note_proto
                rules.append(Rule(
                    endpoint=endpoint, endpoint_kind=ekind, service_tag=tag, ports=sort_ports(extra), protocol=proto,
                    direction=note_direction or ctx.direction or ("both" if ctx.direction_both else None)
                    or ("outbound" if ekind in _NAMED_KINDS else None),
                    cloud=notes.get(value.lower()) or ctx.cloud, tab=ctx.tab, required=ctx.required,
                    section=list(ctx.section), row=index, origin="list",
                ))
    return rules


_MARK_CELL = re.compile(r"^\s*(?:[✓✔✅☑]\ufe0f?|yes|required|optional)\W*\d*\s*$", re.I)


def _matrix_rules(table: Table, ctx: _Ctx, index: int | None) -> list[Rule]:
    """A requirement matrix: "Description | Required for v1 | Required for v2 | Notes" rows marked ✔️
    under a lead-in that gives the port ("… outbound TCP connectivity to Azure on port 443"). A marked
    row's party is the host a cell writes (in its Notes too), else the tag its description sets in bold
    ("Public IP addresses of the **Storage** service tag"), else its description as a role ("Public IP
    address of the API Management instance")."""
    rules: list[Rule] = []
    transports = set(_TCP_UDP.findall((ctx.lead_in or "").lower()))
    said = transports.pop() if len(transports) == 1 else None  # ("… outbound TCP connectivity … on port 443")
    for n, row in enumerate(table.rows):
        if not any(_MARK_CELL.match(c.text) for c in row[1:]):
            continue
        parties = [p for c in row for p in parties_in_cell(c, want_tags=False) if p[1] != ANY_ADDRESS]
        if not parties and row:
            tags = [t for b in row[0].bold if (t := canonical_tag(b.strip(" *"))) and is_known_tag(t)]
            parties = [("tag", t) for t in tags] or (
                [("role", name)] if (name := role_name(row[0].text, max_words=10)) else [])
        for kind, value in parties:
            if _not_a_rule(kind, value, ctx, " ".join(c.text for c in row)):
                continue
            endpoint, ekind, tag, extra, implied = _party_fields(kind, value)
            for proto, plist in ({implied: extra} if extra else ctx.ports).items():
                rules.append(Rule(endpoint=endpoint, endpoint_kind=ekind, service_tag=tag, ports=sort_ports(plist),
                                  protocol=proto or implied or said, direction=ctx.direction, cloud=ctx.cloud, tab=ctx.tab,
                                  purpose=row[0].text or None, section=list(ctx.section), row=n, table=index,
                                  origin="table"))
    return rules


def table_rules(table: Table, index: int | None = None, diagnostics: list[Diagnostic] | None = None, *,
                bold_means_required: bool = False, example: bool = False) -> list[Rule]:
    """Unmerged rules of one table (empty for a table that is not a rule table). ``diagnostics``
    receives ``repaired-row`` warnings and ``not-a-rule`` notes for values set aside; ``example``: the
    text after the table calls its values samples."""
    ctx = _context(table)
    ctx.example = ctx.example or example
    if table.kind == "list":
        rules = _list_rules(table, ctx, diagnostics)
    else:
        table = _transposed(table) or table
        cols = _roles(table)
        if not _looks_like_rule_columns(cols, table.lead_in):
            return _matrix_rules(table, ctx, index) if ctx.ports else []
        ctx.hubs = _hub_roles(table, cols)
        rules = []
        for i, row in enumerate(table.rows):
            row, repaired = _repair_row(table, cols, row)
            if repaired and diagnostics is not None:
                diagnostics.append(Diagnostic("repaired-row", f"row {i + 1}: {repaired}", table.line, "warning",
                                              section=list(ctx.section)))
            rules += _row_rules(table, cols, ctx, i, row, diagnostics, bold_means_required)
    for r in rules:
        r.table = index
    return rules


# ---------------------------------------------------------------- merge


def _join(values) -> str | None:
    distinct = sorted({v for v in values if v})
    return " / ".join(distinct) or None


def _origin_rank(origin: str | None) -> int:
    return ORIGINS.index(origin) if origin in ORIGINS else len(ORIGINS)


def merge_rules(rules: list[Rule]) -> list[Rule]:
    """One rule per :attr:`Rule.key`; ports unioned, texts distinct+sorted, required if any; the
    origin is the most structured one that stated it (table > list > code > prose); the deadline
    the first one stated."""
    groups: dict[str, list[Rule]] = {}
    for r in rules:
        groups.setdefault(r.key, []).append(r)
    merged = []
    for key in sorted(groups):
        rs = groups[key]
        if len(rs) == 1:  # most keys: what the general case below gives for one rule, without its scans
            merged.append(_merged_one(rs[0]))
            continue
        first = min(rs, key=lambda r: (_origin_rank(r.origin), r.table if r.table is not None else -1,
                                       r.row if r.row is not None else -1))
        req = [r.required for r in rs]
        dated = next((r for r in rs if r.deadline), None)
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
            deadline=dated.deadline if dated else None,
            deadline_text=dated.deadline_text if dated else next((r.deadline_text for r in rs if r.deadline_text), None),
            section=list(first.section), table=first.table, row=first.row, origin=first.origin,
        ))
    return _without_vaguer_twins(merged)


def _without_vaguer_twins(rules: list[Rule]) -> list[Rule]:
    """A rule the page states twice, once in less detail: the vaguer one goes. Same party, cloud,
    tab and direction, and it states no protocol and no port the other does not ("**Edge nodes:**
    use the **X** tag. Permit TCP 443." names X once without a port and once with one; a list of
    hosts and the "**Protocol:** HTTPS" field block it belongs to)."""
    by_party: dict[tuple, list[Rule]] = {}
    for r in rules:
        if r.ports or r.protocol:
            by_party.setdefault((r.cloud, r.tab, r.direction, r._keyed_party), []).append(r)
    if not by_party:
        return rules

    def vaguer(r: Rule) -> bool:
        if r.protocol is not None or r.endpoint == ANY_ADDRESS:
            return False  # (any-address rules stand for separate statements, not one party stated twice)
        return any(d is not r and (d.protocol or not r.ports) and set(r.ports) <= set(d.ports)
                   for d in by_party.get((r.cloud, r.tab, r.direction, r._keyed_party), ()))

    return [r for r in rules if not vaguer(r)]


def _merged_one(r: Rule) -> Rule:
    """:func:`merge_rules` of a key stated once: empty texts become ``None``, ports sorted."""
    return Rule(
        endpoint=r.endpoint or None, endpoint_kind=r.endpoint_kind or None, service_tag=r.service_tag or None,
        source=r.source or None, destination=r.destination or None, ports=sort_ports(r.ports),
        protocol=r.protocol, direction=r.direction, cloud=r.cloud, tab=r.tab,
        required=r.required if isinstance(r.required, bool) else None,
        when=r.when or None, purpose=r.purpose or None,
        deadline=r.deadline if r.deadline else None,
        deadline_text=r.deadline_text if r.deadline else r.deadline_text or None,
        section=list(r.section), table=r.table, row=r.row, origin=r.origin,
    )


_BOLD_LEGEND = Folded(r"\bbold(?:ed)?\b[^.]{0,120}\b(?:required|mandatory)\b", needles=("bold",))


def _bold_means_required(doc: Document) -> bool:
    """The page's own legend says bold rows are required ("**Bold** items in the Purpose column
    indicate port configurations required …", APIM)."""
    texts = [getattr(b, "text", "") for b in getattr(doc, "blocks", None) or []]
    texts += [t.lead_in for t in doc.tables if t.lead_in]
    return any(_BOLD_LEGEND.search(t or "") for t in texts)


def _without_bypass_suffixes(doc: Document, rules: list[Rule], notes: list[Diagnostic]) -> list[Rule]:
    """A proxy-bypass list's entry that is the suffix of one of the page's wildcard hosts
    (``his.arc.azure.com`` beside ``*.his.arc.azure.com``) is a suffix to match, not a host to allow."""
    bypass = {i for i, t in enumerate(doc.tables) if set_aside_reason(t) == BYPASS}
    if not bypass:
        return rules
    suffixes = {r.endpoint[2:].lower() for r in rules if r.endpoint and r.endpoint.startswith("*.")}
    kept = []
    for r in rules:
        if r.table in bypass and r.origin == "table" and r.endpoint and r.endpoint.lower() in suffixes:
            notes.append(Diagnostic("not-a-rule", f"{BYPASS}: a suffix of the page's *.{r.endpoint}",
                                    doc.tables[r.table].line, "info", token=r.endpoint, section=list(r.section)))
        else:
            kept.append(r)
    return kept


def split_transports(rules: list[Rule]) -> list[Rule]:
    """A rule for "TCP/UDP" is a tcp rule and a udp rule (each merges with what else the page says
    for that transport)."""
    out: list[Rule] = []
    for r in rules:
        if r.protocol == TCP_AND_UDP:
            out += [replace(r, protocol="tcp", ports=list(r.ports)), replace(r, protocol="udp", ports=list(r.ports))]
        else:
            out.append(r)
    return out


# "These values are samples.", "The addresses above are only examples; use your own."
_SAYS_SAMPLES = re.compile(r"^\s*(?:these|the|all\s+(?:of\s+)?(?:these|the))\s+(?:\w+\s+){0,3}?(?:above\s+|in\s+(?:this|the)\s+table\s+)?"
                           r"(?:are|is)\s+(?:only\s+|just\s+|all\s+)?(?:samples?|examples?|illustrative|placeholders?|for\s+illustration)\b",
                           re.I)


def _sample_tables(doc: Document) -> set[int]:
    """Tables the paragraph right after calls samples ("These values are samples. Use the subnets you
    agreed with your provider."): their values are examples, like a table under an "Example" heading."""
    says = [b for b in doc.blocks if b.line is not None and _SAYS_SAMPLES.match(b.text)]
    out: set[int] = set()
    for b in says:
        before = [(t.line, i) for i, t in enumerate(doc.tables)
                  if t.source == b.source and t.line is not None and t.line < b.line and t.headings == b.headings]
        if not before:
            continue
        line, index = max(before)
        if not any(o.source == b.source and o.line is not None and line < o.line < b.line for o in doc.blocks):
            out.add(index)  # (nothing between the table and the sentence)
    return out


def normalize_checked(doc: Document) -> tuple[list[Rule], list[Diagnostic]]:
    """All rules of a document (merged and sorted by key) plus one ``normalize-failed``
    diagnostic per table that could not be normalized (and the ``repaired-row`` / ``not-a-rule``
    notes of the tables that could). A malformed table never hides the others; callers that feed
    the catalog add the diagnostics to the document so the false-alarm guard sees that rules are
    missing, rather than reading them as removed."""
    rules: list[Rule] = []
    failures: list[Diagnostic] = []
    notes: list[Diagnostic] = []
    bold = _bold_means_required(doc)
    samples = _sample_tables(doc)
    for index, table in enumerate(doc.tables):
        try:
            found: list[Diagnostic] = []
            rules.extend(table_rules(table, index, found, bold_means_required=bold, example=index in samples))
            notes.extend(found)
        except Exception as exc:
            log.warning("could not normalize table %d (%s)", index, " › ".join(table.headings), exc_info=True)
            failures.append(Diagnostic("normalize-failed", f"table {index} ({' › '.join(table.headings)}): "
                                       f"{type(exc).__name__}: {exc}", table.line, "error"))
    from docwatch.coverage import coverage_diagnostics  # the coverage pass (tokens seen → rules)
    from docwatch.textrules import text_rules  # code blocks, lists, alerts and sentences

    from docwatch.deadlines import apply_deadlines, find_deadlines  # dated requirements → Rule.deadline

    rules.extend(text_rules(doc, rules))
    rules = _without_bypass_suffixes(doc, rules, notes)
    for r in rules:  # nothing on the page says the cloud: a sovereign cloud's own domain does
        if r.cloud is None and r.endpoint:
            r.cloud = cloud_of_host(r.endpoint)
    merged = apply_deadlines(merge_rules(split_transports(rules)), find_deadlines(doc))
    failures += notes
    return merged, failures + coverage_diagnostics(doc, merged, failures)


def normalize(doc: Document) -> list[Rule]:
    """All rules of a document, merged by key and sorted by key. Never raises on odd tables."""
    return normalize_checked(doc)[0]
