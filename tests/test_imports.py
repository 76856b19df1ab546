"""The import graph stays a tree: no cycles among module-level imports of docwatch/ and parsers/,
loading the config stays light, commands import only what they use, the lazy CLI knows every
command, and every declared dependency is used.

The graph is read with ``ast`` (nothing is imported to build it). Module-level imports
(statements run when the module loads, outside ``if TYPE_CHECKING``) and function-level
imports (deferred, run when a function is called) are listed separately; only the first may
not form a cycle. What a process really loads is checked in fresh subprocesses.
"""
from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("docwatch", "parsers")
HEAVY = ("httpx", "deepdiff", "apscheduler")
NOT_FOR_READ_COMMANDS = ("deepdiff", "httpx", "docwatch.normalize")
# read commands read with plain sqlite3: sqlite-utils (plugin scan, dateutil) and the diff are for writers
NOT_FOR_READING = NOT_FOR_READ_COMMANDS + ("sqlite_utils", "docwatch.diff", "docwatch.normalize_values")


# ---------------------------------------------------------------- the graph, from source

@functools.cache
def _tree(path: Path) -> ast.Module:
    """A file's syntax tree, parsed once per session (several tests read the same files; the
    trees are only walked, never changed)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

def module_files(root: Path = REPO, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every .py file of the packages."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_pkg: bool) -> list[str]:
    """Absolute dotted names an import statement loads (``from a import b`` may load ``a.b``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_pkg else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    return [base] + [f"{base}.{a.name}" for a in node.names if a.name != "*"]


def import_graph(files: dict[str, Path] | None = None) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, function-level edges) between our own modules. Importing ``a.b.c``
    also runs ``a`` and ``a.b`` (unless the importer already lives inside them)."""
    files = files if files is not None else module_files()
    top: dict[str, set[str]] = {m: set() for m in files}
    deferred: dict[str, set[str]] = {m: set() for m in files}

    def visit(body, module: str, is_pkg: bool, in_function: bool) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported_names(node, module, is_pkg):
                    parts = name.split(".")
                    for i in range(1, len(parts) + 1):
                        target = ".".join(parts[:i])
                        if target in files and target != module and not module.startswith(target + "."):
                            (deferred if in_function else top)[module].add(target)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, module, is_pkg, in_function)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit([n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))], module, is_pkg, True)
            elif isinstance(node, (ast.ClassDef, ast.If, ast.Try, ast.With, ast.For, ast.While, ast.ExceptHandler)):
                for name in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, name, None) or [], module, is_pkg, in_function)

    for module, path in files.items():
        visit(_tree(path).body, module, path.name == "__init__.py", False)
    return top, deferred


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_graph_reader_sees_both_kinds_of_import(tmp_path):
    pkg = tmp_path / "docwatch"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nfrom docwatch.sub import b\n"
                              "if TYPE_CHECKING:\n    from docwatch import c\n"
                              "def f():\n    import docwatch.c\n")
    (pkg / "sub" / "b.py").write_text("from .. import a\n")
    (pkg / "c.py").write_text("try:\n    import docwatch.a\nexcept ImportError:\n    pass\n")
    top, deferred = import_graph(module_files(tmp_path, ("docwatch",)))
    assert top["docwatch.a"] == {"docwatch.sub", "docwatch.sub.b"} and deferred["docwatch.a"] == {"docwatch.c"}
    assert top["docwatch.sub"] == {"docwatch.sub.b"} and top["docwatch.sub.b"] == {"docwatch.a"}
    assert top["docwatch.c"] == {"docwatch.a"}
    assert cycles(top) == [["docwatch.a", "docwatch.sub", "docwatch.sub.b"]]
    assert cycles(deferred) == []


def test_no_cycles_among_module_level_imports():
    top, deferred = import_graph()
    assert "docwatch.cli" in top and "parsers.markdown" in top
    found = cycles(top)
    assert not found, "module-level import cycles: " + "; ".join(" → ".join(c) for c in found)
    # the deferred imports are listed for the reader (-s shows them); they may close a loop at run time only
    print("\nfunction-level imports:")
    for module in sorted(deferred):
        if deferred[module]:
            print(f"  {module} → {', '.join(sorted(deferred[module]))}")


def test_parsers_never_import_the_application():
    top, deferred = import_graph()
    for module in top:
        if module.startswith("parsers"):
            assert not {m for m in top[module] | deferred[module] if m.startswith("docwatch")}, module


def test_config_loading_never_imports_the_daemon():
    """What loading a config runs: docwatch.config, the modules its own functions import (channel
    parsing, cron validation, export formats) and everything those import at module level."""
    top, deferred = import_graph()
    todo = ["docwatch.config", *deferred["docwatch.config"]]
    reach = set(todo)
    while todo:
        for n in top.get(todo.pop(), ()):
            if n not in reach:
                reach.add(n)
                todo.append(n)
    assert not reach & {"docwatch.daemon", "docwatch.cycle", "docwatch.alerts.outbox"}, sorted(reach)


# ---------------------------------------------------------------- what a process really loads

_PROBE = """
import json, os, sys
{body}
mods = sorted(m for m in sys.modules if m.split('.')[0] in {roots!r} or m.startswith('docwatch'))
open(os.environ['PROBE_OUT'], 'w').write(json.dumps(mods))
"""


def loaded_modules(tmp_path: Path, body: str, cwd: Path | None = None) -> set[str]:
    out = tmp_path / f"probe-{abs(hash(body))}.json"
    code = _PROBE.format(body=body, roots=("httpx", "deepdiff", "apscheduler", "sqlite_utils", "parsers"))
    env = dict(os.environ, PROBE_OUT=str(out), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd or tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(out.read_text()))


def _under(mods: set[str], names) -> set[str]:
    return {m for m in mods for n in names if m == n or m.startswith(n + ".")}


CONFIG_WITH_EVERY_CHANNEL = """
[[sources]]
name = "azure-monitor"
url = "https://learn.microsoft.com/azure/azure-monitor/fundamentals/azure-monitor-network-access"
[alerts.s]
kind = "slack"
url_env = "SLACK_URL"
[alerts.t]
kind = "teams"
url_env = "TEAMS_URL"
[alerts.w]
kind = "webhook"
url_env = "HOOK_URL"
secret_env = "HOOK_SECRET"
[alerts.m]
kind = "email"
host = "smtp.example.org"
from = "dw@example.org"
to = ["ops@example.org"]
[alerts.a]
kind = "atom"
path = "feed.xml"
"""


def test_importing_and_loading_the_config_stays_light(tmp_path):
    mods = loaded_modules(tmp_path, "import docwatch.config")
    assert not _under(mods, HEAVY + ("docwatch.daemon", "docwatch.cycle")), sorted(mods)
    (tmp_path / "config.toml").write_text(CONFIG_WITH_EVERY_CHANNEL)
    mods = loaded_modules(tmp_path, "from pathlib import Path\nfrom docwatch.config import load_config\n"
                                    "assert len(load_config(Path('config.toml')).channels) == 5")
    assert not _under(mods, HEAVY + ("docwatch.daemon", "docwatch.cycle", "docwatch.alerts.outbox")), sorted(mods)
    (tmp_path / "config.toml").write_text(CONFIG_WITH_EVERY_CHANNEL + '[schedule]\ncron = "0 6 * * 1"\n')
    mods = loaded_modules(tmp_path, "from pathlib import Path\nfrom docwatch.config import load_config\n"
                                    "load_config(Path('config.toml'))")
    assert not _under(mods, ("httpx", "deepdiff", "docwatch.daemon", "docwatch.cycle")), sorted(mods)


def _cli(args: list[str]) -> str:
    return ("from docwatch.cli import main\n"
            "try:\n"
            f"    main({args!r})\n"
            "except SystemExit as exc:\n"
            "    assert exc.code in (0, None), exc.code\n")


def test_help_imports_no_command_module(tmp_path):
    mods = loaded_modules(tmp_path, _cli(["--help"]))
    commands = {m for m in mods if m.startswith("docwatch.commands.")}  # the package itself is one docstring
    assert not commands and not _under(mods, NOT_FOR_READ_COMMANDS + ("sqlite_utils",)), sorted(mods)


@pytest.fixture
def empty_catalog(tmp_path) -> Path:
    from docwatch.catalog import Catalog

    db = tmp_path / "c.db"
    Catalog(db).close()
    return db


@pytest.mark.parametrize("args", [["query", "--json", "--port", "443"], ["changes", "--json", "--since", "2024-01-01"],
                                  ["history", "login.example.com", "--json"]])
def test_read_commands_import_only_what_they_use(tmp_path, empty_catalog, args):
    mods = loaded_modules(tmp_path, _cli(["--db", str(empty_catalog)] + args))
    assert "docwatch.catalog" in mods  # the command really ran
    assert not _under(mods, NOT_FOR_READING), sorted(_under(mods, NOT_FOR_READING))


# ---------------------------------------------------------------- the lazy command mapping

def test_every_command_module_command_is_in_the_lazy_mapping():
    from docwatch.cli import LAZY_COMMANDS, all_commands

    defined = {c.name: (c.callback.__module__, c) for c in all_commands()}
    missing = sorted(n for n in defined if n not in LAZY_COMMANDS)
    assert not missing, ("commands defined in COMMANDS but missing from docwatch.cli.LAZY_COMMANDS: "
                         + ", ".join(f"{n} ({defined[n][0]})" for n in missing))
    stale = sorted(n for n in LAZY_COMMANDS if n not in defined)
    assert not stale, f"LAZY_COMMANDS entries no module's COMMANDS defines: {stale}"
    for n, (module, command) in defined.items():
        where, _, attr = LAZY_COMMANDS[n].partition(":")
        assert where == module and getattr(importlib.import_module(where), attr, None) is command, \
            f"LAZY_COMMANDS[{n!r}] should be {module}:<attribute of the {n!r} command>"


def test_help_lists_every_command_with_its_docstring_short_help():
    from click.testing import CliRunner

    from docwatch.cli import LAZY_COMMANDS, load_command, main, short_help

    for n in LAZY_COMMANDS:
        cmd = load_command(n)
        for limit in (45, 70, 10_000):
            assert short_help(n, limit) == cmd.get_short_help_str(limit), n
    out = CliRunner().invoke(main, ["--help"]).output
    listed = re.findall(r"^  (\S+)\s", out.split("Commands:", 1)[1], re.M)
    assert listed == sorted(LAZY_COMMANDS)


# ---------------------------------------------------------------- declared dependencies

@functools.cache
def _file_imports(path: Path) -> frozenset[str]:
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return frozenset(names)


def _imports_in(paths) -> set[str]:
    """Top-level names imported anywhere (module or function level) in these files."""
    return set().union(*(_file_imports(path) for path in paths))


@functools.cache
def _argument_names(path: Path) -> frozenset[str]:
    """Names of the positional parameters of every function in a file (a test's fixtures among them)."""
    return frozenset(a.arg for n in ast.walk(_tree(path)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                     for a in n.args.args)


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    """importlib.metadata.packages_distributions(), read once (it reads every installed
    distribution's file list)."""
    return importlib.metadata.packages_distributions()


def _dist_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]


def import_names(dist: str, table: dict[str, list[str]]) -> set[str]:
    """Import names of a distribution: from installed metadata, else its normalized name."""
    canon = lambda s: re.sub(r"[-_.]+", "-", s).lower()  # noqa: E731
    names = {mod for mod, dists in table.items() if any(canon(d) == canon(dist) for d in dists)}
    return names or {canon(dist).replace("-", "_")}


def _fixture_names(module: str) -> set[str]:
    """Fixtures a pytest plugin module defines (read with ast, not imported)."""
    spec = importlib.util.find_spec(module)
    if not spec or not spec.origin:
        return set()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
            and any("fixture" in ast.unparse(d) for d in n.decorator_list)}


def used_pytest_plugin(dist: str, test_files: list[Path]) -> bool:
    """A pytest plugin (entry point ``pytest11``) is used when a test requests one of its fixtures."""
    try:
        eps = [ep for ep in importlib.metadata.distribution(dist).entry_points if ep.group == "pytest11"]
    except importlib.metadata.PackageNotFoundError:
        return False
    fixtures = set().union(*(_fixture_names(ep.value.split(":")[0]) for ep in eps)) if eps else set()
    args = set().union(*(_argument_names(p) for p in test_files))
    return bool(fixtures & args)


def imported_by_a_dependency(names: set[str], declared: list[str]) -> str | None:
    """The declared distribution whose own code imports one of ``names`` (an optional import it
    makes at run time, e.g. httpcore's ``sniffio`` look-up, which a project may declare so the
    import succeeds), or None."""
    rx = re.compile(rf"^\s*(?:import|from)\s+(?:{'|'.join(map(re.escape, sorted(names)))})\b", re.M)
    for dist in declared:
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for f in files:
            if f.suffix == ".py" and rx.search(Path(f.locate()).read_text(encoding="utf-8", errors="replace")):
                return dist
    return None


def test_every_declared_dependency_is_imported():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [_dist_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    table = _packages_distributions()
    used = _imports_in(p for d in ("docwatch", "parsers", "tests", "bench") for p in (REPO / d).rglob("*.py"))
    tests = sorted((REPO / "tests").glob("*.py"))
    unused = [d for d in declared if not import_names(d, table) & used and not used_pytest_plugin(d, tests)]
    unused = [d for d in unused if not imported_by_a_dependency(import_names(d, table), [x for x in declared if x != d])]
    assert not unused, f"declared in pyproject.toml but never imported: {unused}"


def test_the_package_imports_only_declared_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    table = _packages_distributions()
    runtime = set().union(*(import_names(_dist_name(r), table) for r in project["dependencies"]))
    everything = runtime.union(*(import_names(_dist_name(r), table) for r in project["optional-dependencies"]["test"]))
    local = {"docwatch", "parsers", "bench", "tests", "conftest"} | {p.stem for p in (REPO / "tests").glob("*.py")}
    third_party = lambda names: {n for n in names if n not in sys.stdlib_module_names and n not in local}  # noqa: E731
    pkg = third_party(_imports_in(p for d in ("docwatch", "parsers") for p in (REPO / d).rglob("*.py")))
    assert pkg <= runtime, f"docwatch/parsers import undeclared packages: {sorted(pkg - runtime)}"
    rest = third_party(_imports_in(p for d in ("tests", "bench") for p in (REPO / d).rglob("*.py")))
    rest -= {"urlwatch"}  # bench-only, installed by `make bench` into the bench environment
    assert rest <= everything, f"tests/bench import undeclared packages: {sorted(rest - everything)}"
