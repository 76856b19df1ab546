"""The false-alarm guard: a pure decision over the last accepted state and a new parse.

It never touches the catalog: callers hand it what they read, it returns a decision.
"""
from __future__ import annotations

from dataclasses import dataclass

from docwatch.model import Rule
from parsers.model import Document


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
    enabled: bool = True


def assess(prev_rule_count: int | None, prev_table_count: int | None, doc: Document | None,
           rules: list[Rule], guard: GuardSettings | None = None) -> str | None:
    """A reason string when the new version looks collapsed compared to the last accepted one."""
    guard = guard or GuardSettings()
    if not guard.enabled:
        return None
    prev_rules, prev_tables = prev_rule_count or 0, prev_table_count or 0
    tables = len(doc.tables) if doc is not None else 0
    failed = [d for d in (doc.diagnostics if doc is not None else []) if d.code == "normalize-failed"]
    if failed and prev_rules > 0:
        return (f"normalization failed on {len(failed)} table(s) ({failed[0].message}); "
                "their rules would read as removed")
    if prev_tables > 0 and tables == 0:
        return f"no tables found (the last accepted version had {prev_tables}); extraction looks collapsed"
    if prev_rules > 0 and not rules:
        return f"no rules found (the last accepted version had {prev_rules})"
    if prev_tables > 1 and tables < prev_tables * guard.min_table_ratio:
        return f"only {tables} of {prev_tables} tables found (below {guard.min_table_ratio:.0%})"
    if prev_rules >= guard.min_rules:
        lost = prev_rules - len(rules)
        if lost > prev_rules * guard.max_removed_ratio:
            return (f"{lost} of {prev_rules} rules disappeared at once ({lost / prev_rules:.0%}, "
                    f"above {guard.max_removed_ratio:.0%})")
    return None


def is_hard_anomaly(reason: str | None) -> bool:
    """Anomalies that a later version can never confirm (nothing left to extract)."""
    return bool(reason) and reason.startswith(("no tables", "no rules", "normalization failed"))


