"""The README is kept true by tests (git-history's way): every CLI command and option, every
config.toml key, every alert-channel key, every catalog table and view is documented, and the
README's example outputs are what the current code prints.

Everything documented is discovered from the code (the click commands, the config dataclasses,
the channel registry, ``sqlite_master`` of a fresh catalog), so a new command, key or table
fails here until the README names it.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import click
import pytest

from conftest import SHARED

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README text under the heading ``title`` (any level), up to the next heading of that
    level or above; ``#`` lines inside fenced code blocks are not headings."""
    lines, out, level, fenced = readme().splitlines(), None, 0, False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"(#+) (.*?)\s*$", line)
        if out is None:
            if m and m.group(2) == title:
                out, level = [], len(m.group(1))
            continue
        if m and len(m.group(1)) <= level:
            break
        out.append(line)
    assert out is not None, f"README has no section {title!r}"
    return "\n".join(out)


# ---------------------------------------------------------------- commands and options

def command_paths() -> list[tuple[str, click.Command]]:
    """("alerts deliver", command) for every command, groups' subcommands included."""
    from docwatch.cli import all_commands

    out = []

    def walk(prefix: str, cmd: click.Command) -> None:
        path = f"{prefix} {cmd.name}".strip()
        if isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                walk(path, sub)
        else:
            out.append((path, cmd))

    for cmd in all_commands():
        walk("", cmd)
    return sorted(out, key=lambda p: p[0])


def option_flags(cmd: click.Command) -> list[str]:
    """The long flag of every option (the short one when there is no long one); --help excluded."""
    flags = []
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden:
            names = [o for o in p.opts + p.secondary_opts if o.startswith("--")] or p.opts
            flags += [n for n in names if n != "--help"]
    return flags


def reference_rows() -> dict[str, str]:
    """Command reference table: `docwatch <path> …` in the first cell → the whole row."""
    rows = {}
    for line in section("Command reference").splitlines():
        m = re.match(r"\|\s*`docwatch ([a-z][a-z -]*?)(?: [A-Z\[].*?)?`\s*\|", line)
        if m:
            rows[m.group(1).strip()] = line
    return rows


def test_every_command_and_option_is_in_the_command_reference():
    rows = reference_rows()
    problems = []
    for path, cmd in command_paths():
        row = rows.get(path)
        if row is None:
            problems.append(f"`docwatch {path}` has no row")
            continue
        missing = [f for f in option_flags(cmd) if not re.search(rf"`{re.escape(f)}\b", row)]
        if missing:
            problems.append(f"`docwatch {path}` row lacks {', '.join(missing)}")
    stale = sorted(set(rows) - {p for p, _ in command_paths()})
    problems += [f"`docwatch {s}` is documented but no such command exists" for s in stale]
    assert not problems, "README 'Command reference': " + "; ".join(problems)


def test_global_options_are_documented():
    from docwatch.cli import main

    text = section("Command reference")
    missing = [f for f in option_flags(main) if f"`{f}" not in text]
    assert not missing, f"global options missing from the README's command reference: {missing}"


# ---------------------------------------------------------------- config.toml keys

def _dataclass_of(owner: type, name: str, hint: typing.Any) -> type | None:
    """The dataclass a config field holds (``list[X]`` → X; an untyped ``list`` of entries
    → the module's ``<Singular>Config`` by the project's naming convention)."""
    args = typing.get_args(hint)
    for candidate in (hint, *args):
        if dataclasses.is_dataclass(candidate):
            return candidate
    if hint in (list, dict):
        module = sys.modules[owner.__module__]
        guess = getattr(module, name.rstrip("s").capitalize() + "Config", None)
        return guess if dataclasses.is_dataclass(guess) else None
    return None


NOT_KEYS = {"path", "channels", "alerts"}  # where a config came from; [alerts] is checked by the registry


def config_keys() -> list[tuple[str, str]]:
    """(section, key) for every config.toml key: section "" (top level), "[fetch]", "[[sources]]"."""
    from docwatch.config import Config

    out = []
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if f.name in NOT_KEYS:
            continue
        sub = _dataclass_of(Config, f.name, hints[f.name])
        if sub is None:
            out.append(("", f.name))
            continue
        sec = f"[[{f.name}]]" if typing.get_origin(hints[f.name]) is list or hints[f.name] is list else f"[{f.name}]"
        out += [(sec, g.name) for g in dataclasses.fields(sub)]
    return out


def _documented(text: str, sec: str, key: str) -> bool:
    """A line naming the section and the key (```[fetch] concurrency```), or a row of a table
    whose header names the section (``| `[guard]` key | default |``)."""
    header, previous = "", ""
    for line in text.splitlines():
        if line.startswith("|") and not previous.startswith("|"):
            header = line
        elif not line.startswith("|"):
            header = ""
        previous = line
        if sec and sec not in line and sec not in header:
            continue
        if re.search(rf"(`|\] ){re.escape(key)}`", line):
            return True
    return False


def test_every_config_key_is_in_the_config_reference():
    text = section("config.toml reference")
    keys = config_keys()
    assert ("[fetch]", "concurrency") in keys and ("[[sources]]", "url") in keys and ("", "catalog_path") in keys
    missing = [f"{sec} {key}".strip() for sec, key in keys if not _documented(text, sec, key)]
    assert not missing, f"config.toml keys missing from the README's config reference: {missing}"


def shown_default(key) -> str:
    """A registry key's default as the README's channel table writes it."""
    if key.required:
        return "required"
    if key.default in (None, (), []):
        return "unset"
    if isinstance(key.default, bool):
        return f"`{str(key.default).lower()}`"
    if isinstance(key.default, str):
        return f'`"{key.default}"`'
    return f"`{key.default:g}`" if isinstance(key.default, float) else f"`{key.default}`"


def channel_table() -> dict[tuple[str, str], str]:
    """(kind or "every kind", key) → default cell, from the README's channel table."""
    out = {}
    for line in section("Alert channels").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")] if line.startswith("| ") else []
        if len(cells) == 4 and cells[1].startswith("`"):
            kinds = re.findall(r"`([a-z]+)`", cells[0]) or [cells[0]]
            for kind in kinds:
                out[(kind, cells[1].strip("`"))] = cells[2]
    return out


def test_channel_reference_matches_the_registry():
    from docwatch.alerts.config import CHANNEL_KINDS, Channel

    table, problems = channel_table(), []
    common = {k.name for k in Channel.OWN_KEYS}
    expected = {("every kind", k.name): k for k in Channel.OWN_KEYS}
    for kind, cls in CHANNEL_KINDS.items():
        expected |= {(kind, k.name): k for k in cls.all_keys() if k.name not in common}
        if f'kind = "{kind}"' not in section("Alert channels"):
            problems.append(f"no example for kind {kind!r}")
    for where, key in sorted(expected.items()):
        if where not in table:
            problems.append(f"{where[0]}: `{where[1]}` has no row")
        elif table[where] != shown_default(key):
            problems.append(f"{where[0]}: `{where[1]}` default is {shown_default(key)}, README says {table[where]}")
    problems += [f"{w[0]}: `{w[1]}` is documented but not in the registry" for w in sorted(set(table) - set(expected))]
    assert not problems, "README channel table vs docwatch.alerts.config.CHANNEL_KINDS: " + "; ".join(problems)


# ---------------------------------------------------------------- catalog tables and views

def catalog_objects(tmp_path: Path) -> dict[str, str]:
    """name → type ('table'/'view') of a fresh catalog, without SQLite's and FTS's own shadow tables."""
    from docwatch.catalog import Catalog

    cat = Catalog(tmp_path / "fresh.db")
    try:
        rows = cat.db.execute("SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view')").fetchall()
    finally:
        cat.close()
    virtual = [n for n, _t, sql in rows if sql and re.match(r"\s*CREATE VIRTUAL TABLE", sql, re.I)]
    return {n: t for n, t, _sql in rows if not n.startswith("sqlite_")
            and not any(n.startswith(v + "_") for v in virtual)}


def test_every_catalog_table_and_view_is_documented(tmp_path):
    objects = catalog_objects(tmp_path)
    assert {"current_rules", "rule_history", "changes", "rule_versions"} <= set(objects)
    text = section("The catalog (SQLite) for consumers")
    missing = [f"{t} {n}" for n, t in sorted(objects.items()) if not re.search(rf"`{re.escape(n)}`", text)]
    assert not missing, f"catalog tables/views missing from the README's catalog section: {missing}"


# ---------------------------------------------------------------- example outputs

def tour_commands() -> list[tuple[str, list[str]]]:
    """(command, output lines shown) for each ``$ docwatch …`` in the tour that shows output."""
    block = re.search(r"```console\n(.*?)```", section("A quick tour"), re.S).group(1)
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif line.startswith("> ") and out and not out[-1][1]:
            out[-1] = (out[-1][0] + "\n" + line[2:], [])
        elif out:
            out[-1][1].append(line)
    return [(cmd, [ln for ln in lines if ln.strip() and ln.strip() != "..."]) for cmd, lines in out if lines]


def _same(expected: str, actual_lines: list[str]) -> bool:
    """Whitespace-insensitive; a README line ending in '...' is a prefix."""
    squash = lambda s: " ".join(s.split())  # noqa: E731
    want = squash(expected)
    prefix = want.endswith("...")
    want = want.removesuffix("...").rstrip()
    return any(squash(a).startswith(want) if prefix else squash(a) == want for a in actual_lines)


@pytest.mark.corpus
def test_tour_outputs_come_from_the_current_code(tmp_path, seeds_dir, corpus_dir):
    """The tour's commands, run as shown (bash, from the repo, the seeds and corpus beside it),
    print the lines the README shows."""
    if SHARED.resolve() != (REPO.parent / "shared").resolve():
        pytest.skip("the tour's ../shared paths need shared/ beside the clone")
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCWATCH_")}
    env |= {"PATH": f"{bindir}{os.pathsep}{env.get('PATH', '')}", "DOCWATCH_DB": str(tmp_path / "tour.db"),
            "DOCWATCH_CONFIG": str(tmp_path / "none.toml"), "COLUMNS": "200"}
    (tmp_path / "none.toml").write_text("")
    commands = tour_commands()
    assert len(commands) >= 3 and any(c.startswith("docwatch rules") for c, _ in commands)
    problems = []
    for cmd, expected in commands:
        proc = subprocess.run(["bash", "-c", cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        actual = proc.stdout.splitlines()
        if proc.returncode != 0:
            problems.append(f"`{cmd}` exited {proc.returncode}: {proc.stderr.strip()[-200:]}")
            continue
        name = re.search(r"docwatch (\w+)", cmd).group(1)
        problems += [f"`docwatch {name}` no longer prints: {line.strip()}\n  (it prints: {actual[:12]})"
                     for line in expected if not _same(line, actual)]
    assert not problems, "README tour out of date:\n" + "\n".join(problems)


def test_make_test_runs_the_whole_suite_as_two_shards():
    """What the README says of `make test` is what the Makefile does: both shards of one suite,
    and the shards deal out every module once, evenly."""
    from conftest import deal

    assert "`make test` runs everything as two pytest processes" in readme()
    recipe = (REPO / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "--shard 0/2" in recipe and "--shard 1/2" in recipe and "wait" in recipe
    modules = {p.name: float(len(p.read_text())) for p in (REPO / "tests").glob("test_*.py")}
    owner = deal(modules, 2)
    assert set(owner) == set(modules) and set(owner.values()) == {0, 1}
    loads = [sum(w for m, w in modules.items() if owner[m] == k) for k in (0, 1)]
    assert abs(loads[0] - loads[1]) <= max(modules.values())
