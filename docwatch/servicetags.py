"""The weekly "Azure IP Ranges and Service Tags" files: load, diff, relevance, guard (pure).

A file (``ServiceTags_<Cloud>_<date>.json``, optionally gzip-compressed) is one
:class:`TagFile`: its cloud, ``changeNumber`` and one :class:`Tag` per ``values[]`` entry
with its address prefixes. Nothing here touches the network or the catalog:

* :func:`parse_tag_file` turns bytes into a :class:`TagFile` or raises one clear
  :class:`TagFileError` (a truncated download never becomes "every tag removed");
* :func:`guard_reason` decides whether a file looks wrong (wrong cloud, far fewer tags or
  prefixes than the last accepted file) — such a file is an anomaly, never removals;
* :func:`diff_tags` compares the last accepted state with a new file, touching only the tags
  whose prefix hash changed, and finds whole regions that disappeared;
* :class:`UsageIndex` says which watched pages use a tag (``Storage`` and ``Storage.<region>``
  count as users of ``Storage.EastUS``) so that :func:`tag_events` can rank events by relevance.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import socket
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, Iterable, Mapping

from docwatch.errors import UsageError
from docwatch.model import ChangeEvent

# the file's "cloud" field → docwatch cloud
FILE_CLOUDS = {"public": "public", "azurecloud": "public", "azuregovernment": "usgov", "azureusgovernment": "usgov",
               "usgov": "usgov", "china": "china", "azurechinacloud": "china", "mooncake": "china"}
CLOUD_FILE_NAMES = {"public": "Public", "usgov": "AzureGovernment", "china": "China"}
CLOUDS = tuple(CLOUD_FILE_NAMES)
SOURCE_PREFIX = "servicetags-"
EFFECTIVE_DELAY_DAYS = 7  # Microsoft: new ranges are used no sooner than a week after they appear
DEFAULT_MIN_RATIO = 0.8

_NAME_DATE = re.compile(r"ServiceTags_([A-Za-z]+)_(\d{4})-?(\d{2})-?(\d{2})", re.I)
_CLOUD_FIELD = re.compile(rb'"cloud"\s*:\s*"([A-Za-z]+)"')
# the region part of a rule's tag that is a placeholder, not a region: <region>, {region}, region, *
_PLACEHOLDER = re.compile(r"^(?:[<{\[].*[>}\]]|\*|region|regionname|location|azureregion|yourregion|your-region)$", re.I)


class TagFileError(UsageError):
    """A Service Tags file that cannot be read as one (not JSON, truncated, wrong shape)."""


def source_name(cloud: str) -> str:
    return f"{SOURCE_PREFIX}{cloud}"


@dataclass(frozen=True)
class Tag:
    """One ``values[]`` entry: a tag name and the prefixes behind it in one file."""

    name: str
    prefixes: tuple[str, ...]
    id: str | None = None
    change_number: int | None = None
    region: str = ""
    region_id: int | None = None
    platform: str | None = None
    system_service: str | None = None
    network_features: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def regional(self) -> bool:
        """A tag of one region (``Storage.EastUS``, ``AzureCloud.eastus``)."""
        return bool(self.region) and "." in self.name

    phash: str = ""  # prefix_hash(prefixes), computed once while parsing

    @property
    def prefix_hash(self) -> str:
        return self.phash or prefix_hash(self.prefixes)


@dataclass
class TagFile:
    cloud: str  # public | usgov | china
    cloud_name: str  # as written in the file: Public, AzureGovernment, China
    change_number: int
    tags: dict[str, Tag]
    content_hash: str  # sha256 of the decompressed JSON bytes: .json and .json.gz of one file are equal
    file_date: str | None = None  # YYYY-MM-DD from the file name, when it has one

    @property
    def source(self) -> str:
        return source_name(self.cloud)

    @property
    def prefix_count(self) -> int:
        return sum(len(t.prefixes) for t in self.tags.values())


def prefix_hash(prefixes: Iterable[str]) -> str:
    """Cheap identity of a prefix list in file order; equal hash = nothing to diff."""
    return hashlib.sha1("\n".join(prefixes).encode()).hexdigest()[:16]


def cloud_of(value: str | None) -> str | None:
    """``Public`` → ``public``, ``AzureGovernment`` → ``usgov``, ``China`` → ``china``."""
    return FILE_CLOUDS.get((value or "").strip().lower().replace(" ", ""))


def decode(data: bytes) -> bytes:
    """The JSON bytes: gunzipped when gzip-compressed (detected by magic, not by name)."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise TagFileError(f"truncated or corrupt gzip data ({exc})") from None
    return data


def file_date(name: str | None) -> str | None:
    """``ServiceTags_Public_20251017.json`` / ``…_2025-10-17.json.gz`` → ``2025-10-17``."""
    m = _NAME_DATE.search(name or "")
    if not m:
        return None
    try:
        return date(int(m.group(2)), int(m.group(3)), int(m.group(4))).isoformat()
    except ValueError:
        return None


def sniff_cloud(data: bytes, name: str | None = None) -> str | None:
    """The cloud of a file that does not parse: its ``"cloud"`` field near the top (a truncated
    download keeps its head), else the cloud in its file name."""
    head = data[:4096]
    if data[:2] == b"\x1f\x8b":
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(data)).read(4096)
        except (OSError, EOFError, zlib.error):
            head = b""
    m = _CLOUD_FIELD.search(head)
    if m and cloud_of(m.group(1).decode()):
        return cloud_of(m.group(1).decode())
    return name_cloud(name)


def name_cloud(name: str | None) -> str | None:
    """The cloud a file name or URL claims: ``ServiceTags_AzureGovernment_20251027.json`` → ``usgov``."""
    n = re.search(r"ServiceTags_([A-Za-z]+)", name or "")
    return cloud_of(n.group(1)) if n else None


def parse_tag_file(data: bytes, *, name: str | None = None) -> TagFile:
    """Bytes of a ``.json`` / ``.json.gz`` file → :class:`TagFile`; one-line :class:`TagFileError` otherwise."""
    raw = decode(data)
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise TagFileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise TagFileError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}; truncated?)") from None
    if not isinstance(doc, dict):
        raise TagFileError("expected a JSON object with changeNumber, cloud and values")
    cloud = cloud_of(doc.get("cloud") if isinstance(doc.get("cloud"), str) else None)
    if cloud is None:
        raise TagFileError(f"unknown or missing cloud {doc.get('cloud')!r} (expected Public, AzureGovernment or China)")
    number, values = doc.get("changeNumber"), doc.get("values")
    if not isinstance(number, int) or isinstance(number, bool):
        raise TagFileError(f"missing or non-integer changeNumber {number!r}")
    if not isinstance(values, list):
        raise TagFileError("missing values[] list")
    tags: dict[str, Tag] = {}
    for i, v in enumerate(values):
        props = v.get("properties") if isinstance(v, dict) else None
        tag_name = v.get("name") if isinstance(v, dict) else None
        prefixes = props.get("addressPrefixes") if isinstance(props, dict) else None
        try:  # the hash doubles as the check that every prefix is a string
            phash = prefix_hash(prefixes) if isinstance(tag_name, str) and tag_name and isinstance(prefixes, list) else ""
        except TypeError:
            phash = ""
        if not phash:
            raise TagFileError(f"values[{i}] is not a tag (needs name and properties.addressPrefixes of strings)")
        if tag_name in tags:
            raise TagFileError(f"values[{i}]: tag {tag_name!r} listed twice")
        cn = props.get("changeNumber")
        tags[tag_name] = Tag(
            name=tag_name, prefixes=tuple(prefixes), id=v.get("id"), change_number=cn if isinstance(cn, int) else None,
            region=props.get("region") or "", region_id=props.get("regionId"), platform=props.get("platform"),
            system_service=props.get("systemService") or None,
            network_features=tuple(props.get("networkFeatures") or ()), phash=phash)
    return TagFile(cloud=cloud, cloud_name=doc["cloud"], change_number=number, tags=tags,
                   content_hash=hashlib.sha256(raw).hexdigest(), file_date=file_date(name))


def guard_reason(new: TagFile, *, expected_cloud: str | None, last_tags: int | None, last_prefixes: int | None,
                 min_ratio: float = DEFAULT_MIN_RATIO) -> str | None:
    """Why ``new`` must not be applied (an anomaly, never removals), or None."""
    if expected_cloud and new.cloud != expected_cloud:
        return (f"file is for cloud {new.cloud_name!r} ({new.cloud}), expected "
                f"{CLOUD_FILE_NAMES.get(expected_cloud, expected_cloud)!r} ({expected_cloud})")
    if last_tags and len(new.tags) < min_ratio * last_tags:
        return f"far fewer tags than the last file ({len(new.tags)} vs {last_tags}, below {min_ratio:g} of it)"
    if last_prefixes and new.prefix_count < min_ratio * last_prefixes:
        return f"far fewer prefixes than the last file ({new.prefix_count} vs {last_prefixes}, below {min_ratio:g} of it)"
    return None


def effective_after(day: str | None) -> str | None:
    """File date + 7 days: Microsoft uses new ranges no sooner than a week after publishing them."""
    if not day:
        return None
    return (date.fromisoformat(day[:10]) + timedelta(days=EFFECTIVE_DELAY_DAYS)).isoformat()


# -- diff ---------------------------------------------------------------------------------------

@dataclass
class TagState:
    """What the catalog knows of a current tag without reading its prefixes."""

    name: str
    prefix_hash: str
    prefix_count: int
    region: str = ""
    regional: bool = False
    change_number: int | None = None
    system_service: str | None = None


@dataclass
class TagChange:
    name: str
    kind: str  # added | removed | modified
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    regional: bool = False
    prefix_count: int = 0  # after the change


@dataclass
class RegionRetirement:
    region: str  # the file's region value, e.g. usgoviowa
    label: str  # as tag names spell it, e.g. USGovIowa
    tags: list[str]


@dataclass
class TagDiff:
    changes: list[TagChange]
    retired: list[RegionRetirement]
    changed_hash: set[str] = field(default_factory=set)  # names whose stored prefix hash must be updated


def _prefix_key(p: str) -> tuple:
    addr, _, plen = p.partition("/")
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)
        return (len(packed), packed, int(plen or 0), p)
    except (OSError, ValueError):
        return (99, b"", 0, p)


def sort_prefixes(prefixes: Iterable[str]) -> list[str]:
    """IPv4 before IPv6, numerically; unparsable text last, as written."""
    return sorted(set(prefixes), key=_prefix_key)


def diff_tags(old: Mapping[str, TagState], new: TagFile, load_prefixes: Callable[[str], set[str]],
              old_regions: Mapping[str, str] | None = None) -> TagDiff:
    """Changes from the current tags ``old`` to ``new``. Only tags whose prefix hash differs
    are compared prefix by prefix (``load_prefixes(name)`` gives the stored set), so an
    unchanged tag costs one hash. ``old_regions`` maps a current tag name to its region."""
    changes: list[TagChange] = []
    rehash: set[str] = set()
    for name, tag in new.tags.items():
        st = old.get(name)
        if st is None:
            changes.append(TagChange(name, "added", added=sort_prefixes(tag.prefixes), regional=tag.regional,
                                     prefix_count=len(set(tag.prefixes))))
            continue
        if st.prefix_hash == tag.prefix_hash:
            continue
        rehash.add(name)
        before, after = load_prefixes(name), set(tag.prefixes)
        added, removed = after - before, before - after
        if added or removed:
            changes.append(TagChange(name, "modified", added=sort_prefixes(added), removed=sort_prefixes(removed),
                                     regional=tag.regional, prefix_count=len(after)))
    for name in old.keys() - new.tags.keys():
        st = old[name]
        changes.append(TagChange(name, "removed", removed=sort_prefixes(load_prefixes(name)), regional=st.regional))
    changes.sort(key=lambda c: c.name.lower())
    return TagDiff(changes, retired_regions(old_regions or {o.name: o.region for o in old.values()}, new), rehash)


def retired_regions(old_regions: Mapping[str, str], new: TagFile) -> list[RegionRetirement]:
    """Regions whose every tag is gone: present in the old file's ``region`` values, absent from the new."""
    now = {t.region.lower() for t in new.tags.values() if t.region}
    by_region: dict[str, list[str]] = defaultdict(list)
    for name, region in old_regions.items():
        if region and region.lower() not in now:
            by_region[region.lower()].append(name)
    out = []
    for region, names in sorted(by_region.items()):
        suffixes = Counter(n.split(".", 1)[1] for n in names if "." in n)
        # the spelling most tags use (Storage.USGovIowa), else the region value itself
        label = max(suffixes.items(), key=lambda kv: (kv[1], kv[0] != kv[0].lower()))[0] if suffixes else region
        out.append(RegionRetirement(region, label, sorted(names, key=str.lower)))
    return out


# -- relevance ----------------------------------------------------------------------------------

def split_rule_tag(tag: str) -> tuple[str, str | None, bool]:
    """A page rule's tag → (base, region part or None, region part is a placeholder)."""
    base, dot, rest = tag.strip().partition(".")
    if not dot:
        return base, None, False
    return base, rest, bool(_PLACEHOLDER.match(rest.strip()))


class UsageIndex:
    """Which sources' current rules use which tags of one cloud.

    A rule's ``service_tag`` uses the tag of that name; a region-less tag (``Storage``) and a
    template (``Storage.<region>``) also use every regional tag of that base
    (``Storage.EastUS``). Rules naming no cloud apply to every cloud."""

    def __init__(self, rules: Iterable[tuple[str, str, str | None]], cloud: str):
        self.exact: dict[str, set[str]] = defaultdict(set)
        self.family: dict[str, set[str]] = defaultdict(set)
        for source, tag, rule_cloud in rules:
            if not tag or (rule_cloud and rule_cloud != cloud):
                continue
            base, region, placeholder = split_rule_tag(tag)
            if region is None:
                self.exact[base.lower()].add(source)
                self.family[base.lower()].add(source)
            elif placeholder:
                self.family[base.lower()].add(source)
            else:
                self.exact[tag.strip().lower()].add(source)

    def users(self, name: str, regional: bool) -> list[str]:
        found = set(self.exact.get(name.lower(), ()))
        if regional:
            found |= self.family.get(name.split(".", 1)[0].lower(), set())
        return sorted(found)


def _severity(used: bool, added: bool) -> str:
    if not used:
        return "low"
    return "high" if added else "medium"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 'es' if what.endswith('x') else 's'}"


@dataclass
class TagEvent:
    """A change event plus the two facts the ChangeEvent model has no field for."""

    event: ChangeEvent
    effective_after: str | None
    used_by: list[str]


def tag_events(diff: TagDiff, *, source: str, cloud: str, usage: UsageIndex, day: str | None) -> list[TagEvent]:
    """Change events for one diff: a region summary per retired region, one event per tag.

    ``new`` holds the added prefixes, ``old`` the removed ones; counts are in the summary;
    used tags get high (prefixes added: firewalls must open them) or medium (removed), the
    others low."""
    eff = effective_after(day)
    tail = f"; effective after {eff}" if eff else ""
    out: list[TagEvent] = []
    for r in diff.retired:
        users = sorted({u for n in r.tags for u in usage.users(n, True)})
        ev = ChangeEvent(source=source, kind="removed", rule_key=f"region:{r.label}", field="region", party=r.label,
                         old=r.tags, new=None, severity=_severity(bool(users), False), impact="region-retired",
                         cloud=cloud, summary=f"region {r.label} retired: {_count(len(r.tags), 'tag')} removed"
                         + (f"; used by {', '.join(users)}" if users else ""))
        out.append(TagEvent(ev, eff, users))
    for c in diff.changes:
        users = usage.users(c.name, c.regional)
        used = f"; used by {', '.join(users)}" if users else ""
        if c.kind == "added":
            impact, text = "tag-added", f"tag {c.name} added with {_count(len(c.added), 'prefix')}"
        elif c.kind == "removed":
            impact, text = "tag-removed", f"tag {c.name} removed ({_count(len(c.removed), 'prefix')} gone)"
        else:
            impact = "prefixes-changed" if c.added and c.removed else "prefixes-added" if c.added else "prefixes-removed"
            parts = [f"{_count(len(c.added), 'prefix')} added" if c.added else "",
                     f"{len(c.removed)} removed" if c.removed and c.added else
                     f"{_count(len(c.removed), 'prefix')} removed" if c.removed else ""]
            text = f"{c.name}: {', '.join(p for p in parts if p)} (now {c.prefix_count})"
        ev = ChangeEvent(source=source, kind=c.kind, rule_key=c.name, field="prefixes", party=c.name,
                         old=c.removed or None, new=c.added or None, severity=_severity(bool(users), bool(c.added)),
                         impact=impact, cloud=cloud, summary=text + used + tail)
        out.append(TagEvent(ev, eff, users))
    return out
