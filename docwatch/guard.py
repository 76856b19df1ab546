"""The false-alarm guard: a pure decision over the last accepted state and a new parse.

It never touches the catalog: the pipeline hands it what the catalog read (a :class:`Baseline`),
the new parse and the pairing :class:`~docwatch.diff.Delta`, and gets back a typed
:class:`Decision`: accept, hold as an anomaly, confirm the held anomaly, or refuse.

What is held (never reported as removals):

* ``normalize-failed``: a table the normalizer failed on (its rules would read as removed);
* ``no-tables`` / ``no-rules``: nothing left where there was something (hard: only ``accept``
  or a later healthy version ends it, never a confirmation);
* ``few-tables``: under ``min_table_ratio`` of the last accepted version's tables;
* ``missing-include``: an include the last accepted version could read (or did not reference)
  is missing now, while rules would be removed;
* ``rekeyed``: more than ``max_removed_ratio`` of the previous rules removed or moved (by
  identity pairing, so restatements do not count; net counts would miss a page where most keys
  vanish while the count grows).

A soft hold is *confirmed* by the next distinct version that passes the guard against the held
version itself: the page really changed, and its events are applied at the held version's date.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from docwatch.model import Rule
from parsers.model import Document

if TYPE_CHECKING:  # pragma: no cover
    from docwatch.diff import Delta

HARD_KINDS = ("no-tables", "no-rules", "normalize-failed")


@dataclass
class GuardSettings:
    """Thresholds of the false-alarm guard (config ``[guard]``).

    * ``min_table_ratio`` (0.5): fewer tables than this share of the last accepted version's
      tables looks like a broken extraction.
    * ``max_removed_ratio`` (0.5): losing more than this share of the rules at once looks like
      a collapse - only judged when the last accepted version had at least ``min_rules`` (5).
    * ``enabled`` (True): ``False`` accepts every version (``docwatch ingest --accept``).

    No tables where there were some, or no rules where there were some, is always an anomaly.
    A ratio anomaly is *confirmed* by the next distinct version that agrees with the anomalous
    one (its counts pass the guard against it); until then current rules stay as they were.
    """

    min_table_ratio: float = 0.5
    max_removed_ratio: float = 0.5
    min_rules: int = 5
    failure_cycles: int = 3  # identical anomalies / failed fetches in a row before "still anomalous"
    enabled: bool = True


@dataclass
class Baseline:
    """What the catalog knows of the source's last accepted version."""

    rule_count: int = 0
    table_count: int = 0
    form: str | None = None
    missing_includes: frozenset[str] = frozenset()  # includes that version could not read either


def missing_includes(doc: Document | None) -> frozenset[str]:
    """Names of the includes a document references but could not read (``missing-include``)."""
    out = set()
    for d in (doc.diagnostics if doc is not None else []):
        if d.code == "missing-include":
            ref = d.token or (d.message.split("include not found: ", 1)[-1].split(" at ")[0])
            out.add(ref.replace("\\", "/").rsplit("/", 1)[-1])
    return frozenset(out)


@dataclass
class Decision:
    action: str  # accept | hold | confirm | refuse
    kind: str | None = None  # why: see the module docstring
    reason: str | None = None  # one sentence for people

    @property
    def hard(self) -> bool:
        return self.kind in HARD_KINDS


ACCEPT = Decision("accept")


def decide(base: Baseline | None, doc: Document | None, rules: list[Rule], delta: "Delta",
           settings: GuardSettings | None = None) -> Decision:
    """Accept, or hold the new version as an anomaly (see the module docstring)."""
    g = settings or GuardSettings()
    if not g.enabled or base is None:
        return ACCEPT
    prev_rules, prev_tables = base.rule_count or 0, base.table_count or 0
    tables = len(doc.tables) if doc is not None else 0
    diags = doc.diagnostics if doc is not None else []
    failed = [d for d in diags if d.code == "normalize-failed"]
    if failed and prev_rules > 0:
        return Decision("hold", "normalize-failed", f"normalization failed on {len(failed)} table(s) "
                        f"({failed[0].message}); their rules would read as removed")
    if prev_tables > 0 and tables == 0:
        return Decision("hold", "no-tables", f"no tables found (the last accepted version had {prev_tables}); "
                        "extraction looks collapsed")
    if prev_rules > 0 and not rules:
        return Decision("hold", "no-rules", f"no rules found (the last accepted version had {prev_rules})")
    if prev_tables > 1 and tables < prev_tables * g.min_table_ratio:
        return Decision("hold", "few-tables", f"only {tables} of {prev_tables} tables found "
                        f"(below {g.min_table_ratio:.0%})")
    newly_missing = sorted(missing_includes(doc) - base.missing_includes)
    if newly_missing and delta.removed and prev_rules > 0:  # an include missing all along is no news
        return Decision("hold", "missing-include", f"include {newly_missing[0]} could not be read; "
                        f"{len(delta.removed)} rules would read as removed")
    if prev_rules >= g.min_rules and delta.gross_changed > prev_rules * g.max_removed_ratio:
        n = delta.gross_changed
        return Decision("hold", "rekeyed", f"{n} of {prev_rules} rules removed or moved at once "
                        f"({n / prev_rules:.0%}, above {g.max_removed_ratio:.0%})")
    return ACCEPT


def confirms(held: Baseline, doc: Document | None, rules: list[Rule], delta_vs_held: "Delta",
             settings: GuardSettings | None = None) -> bool:
    """A later version confirms a soft hold when it passes the guard against the held version."""
    return decide(held, doc, rules, delta_vs_held, settings).action == "accept"


