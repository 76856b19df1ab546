"""Helpers for the catalog tests: the real extract → ingest pipeline on local files."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path

from docwatch.normalize import normalize_checked
from docwatch.pipeline import Observation, ingest

from conftest import load_kept, once_per_session

HERE = Path(__file__).resolve().parent


def _load(path: Path):
    doc = load_kept(path)
    rules, extra = normalize_checked(doc)
    doc.diagnostics.extend(extra)
    return doc, rules, hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load(path: Path):
    """(doc, rules, content_hash) through the real pipeline (``load_local`` + ``normalize``), worked
    out once per session for a corpus file or one of the tests' own (:func:`conftest.once_per_session`)."""
    return once_per_session(path, _load, "normalized")


def ingest_file(cat, source: str, path: Path, at: str, **kw):
    """Ingest one local file as ``docwatch ingest`` does (the one ingest path)."""
    doc, rules, h = load(path)
    form = kw.pop("form", doc.format)
    return ingest(cat, Observation(source, doc, rules, observed_at=at, content_hash=h, form=form), **kw)


def count(cat, table: str) -> int:
    return cat.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@contextmanager
def catalog_at(path: Path, version: int):
    """A catalog file made at an older schema ``version`` (as that docwatch left it): the block
    fills it through the yielded sqlite-utils database, in one transaction."""
    import sqlite_utils

    from docwatch.catalog_schema import _EVENT_X, RULE_SOURCE, VIEWS, drop_views, migrate

    db = sqlite_utils.Database(path)
    db.execute("BEGIN IMMEDIATE")
    migrate(db, target=version)
    drop_views(db)
    for name, sql in VIEWS.items():  # today's views, on the rules of before v15 (the source's name)
        if version < 17:  # and on rule versions that all hold their own facts
            sql = sql.replace("coalesce(rv.facts_rv, rv.id)", "rv.id").replace(_EVENT_X, "LEFT JOIN rule_versions x ON x.id = e.rv")
        db.execute(f"CREATE VIEW [{name}] AS " + (sql if version >= 15 else sql.replace(RULE_SOURCE, "JOIN sources so ON so.name = r.source")))
    yield db
    db.execute("COMMIT")
    db.conn.close()


def copy_as(cat, path: Path, version: int, special: dict[tuple[str, str], str] | None = None) -> None:
    """Write ``cat``'s contents into a new catalog file at the older schema ``version``: each column as
    that docwatch stored it (an event's derived text in full, a lean tombstone's facts copied), or as
    ``special`` gives its SQL for a ``(table, column)``."""
    from docwatch.catalog_schema import EVENT_DERIVED

    special = special or {}
    with catalog_at(path, version) as db:
        for table in ("sources", "versions", "sections", "rule_versions", "rules", "change_events"):
            cols = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            sel = ", ".join(special[(table, c)] if (table, c) in special
                            else f"(SELECT c.[{c}] FROM changes c WHERE c.id = change_events.id)"
                            if table == "change_events" and c in EVENT_DERIVED else stored_before_17(table, c) for c in cols)
            rows = cat.conn.execute(f"SELECT {sel} FROM {table}").fetchall()
            db.conn.executemany(f"INSERT INTO {table} ({', '.join(f'[{c}]' for c in cols)}) "
                                f"VALUES ({', '.join('?' for _ in cols)})", rows)


def stored_before_17(table: str, col: str) -> str:
    """The SQL of column ``col`` of ``table`` as docwatch stored it before schema 17: a lean
    tombstone's facts are those of the version it repeats (``facts_rv``)."""
    from docwatch.catalog_schema import TOMBSTONE_COPIES

    if table == "rule_versions" and col in TOMBSTONE_COPIES:
        return f"(SELECT f.[{col}] FROM rule_versions f WHERE f.id = coalesce(rule_versions.facts_rv, rule_versions.id))"
    return f"[{col}]"
