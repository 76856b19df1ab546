"""parsers.markdown on the real corpus, the seeds and small synthetic edge cases.

Expected counts and tab ids were read off the markdown files (and cross-checked with
the rendered HTML of each version). Includes are resolved with a strict file loader
(the contract: posixpath join relative to the including file, ``None`` when missing).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers.markdown import parse_markdown
from parsers.model import Document, Table
from conftest import CORPUS, corpus_pages, corpus_versions

HERE = Path(__file__).resolve().parent


def file_loader(root: Path):
    """Loader resolving repo-relative include paths under ``root``; None when missing."""
    def load(rel: str) -> str | None:
        p = (root / rel).resolve()
        if root.resolve() not in p.parents or not p.is_file():
            return None
        return p.read_text(encoding="utf-8")
    return load


def parse_version(v: dict) -> Document:
    root = v["file"].parents[len(Path(v["path"]).parts) - 2]  # the version folder
    rel = v["file"].relative_to(root).as_posix()
    return parse_markdown(v["file"].read_text(encoding="utf-8"), path=rel, loader=file_loader(root))


def parse_synthetic(name: str) -> Document:
    return parse_markdown((HERE / name).read_text(encoding="utf-8"), path=name, loader=file_loader(HERE))


def codes(doc: Document) -> list[str]:
    return [d.code for d in doc.diagnostics]


def all_text(t: Table) -> str:
    return " ".join(c.text for row in t.rows for c in row)


# (tables, code lists, tab ids of every extracted table in order)
EXPECTED: dict[tuple[str, str], tuple[int, int, list[str]]] = {
    ("ama-network-configuration", "2024-07-10_MicrosoftDocs_882af9a18f"): (2, 0, ["", ""]),
    ("ama-network-configuration", "2024-11-14_MicrosoftDocs_098a30fc92"): (2, 0, ["", ""]),
    ("ama-network-configuration", "2024-11-14_MicrosoftDocs_209754345a"): (2, 0, ["", ""]),
    ("apim-virtual-network-reference", "2023-08-29_MicrosoftDocs_a48670a824"): (4, 0, ["stv2", "stv1", "", ""]),
    ("apim-virtual-network-reference", "2025-06-17_MicrosoftDocs_03e5750af1"): (2, 0, ["", ""]),
    ("apim-virtual-network-reference", "2026-04-10_johntrogan_46809bda68"): (2, 0, ["", ""]),
    ("apim-virtual-network-reference", "2026-04-30_jeofyoung_6f2cca4e44"): (2, 0, ["", ""]),
    ("arc-servers-network-requirements", "2023-10-05_MicrosoftDocs_4bd62e2751"):
        (4, 0, ["azure-cloud", "azure-government", "azure-china", ""]),
    ("arc-servers-network-requirements", "2025-09-29_MicrosoftDocs_1a89119242"):
        (4, 0, ["azure-cloud", "azure-government", "azure-china", ""]),
    ("automation-network-configuration", "2023-08-01_MicrosoftDocs_ea2b0fef13"): (1, 0, [""]),
    ("automation-network-configuration", "2024-09-09_MicrosoftDocs_0b5e4fe197"): (1, 0, [""]),
    ("azure-monitor-network-access", "2019-07-17_MicrosoftDocs_0013172131"): (11, 0, [""] * 11),
    ("azure-monitor-network-access", "2023-08-11_MicrosoftDocs_d1e0d49224"): (11, 0, [""] * 11),
    ("azure-monitor-network-access", "2024-03-14_MicrosoftDocs_ab021c0729"): (9, 0, [""] * 9),
    ("azure-monitor-network-access", "2025-02-11_MicrosoftDocs_04dc4fe0fe"): (9, 0, [""] * 9),
    ("azure-monitor-network-access", "2025-07-01_MicrosoftDocs_45615efe4c"): (10, 0, [""] * 10),
    ("azure-monitor-network-access", "2025-08-18_MicrosoftDocs_0e8b0a9243"): (10, 0, [""] * 10),
    # the include's "Situational" tab group (closed by "-----", which is not "---") ends with
    # the include: the two tables after it are outside any tab
    ("azureml-behind-firewall", "2022-03-04_codycodes_95b4e5f94f"):
        (20, 0, ["", "required"] + ["situational"] * 2 + ["", ""] + ["public", "gov", "china"] * 3 + [""] * 5),
    ("azureml-behind-firewall", "2023-04-14_MicrosoftDocs_010b08402e"):
        (17, 1, [""] * 7 + ["public", "gov", "china"] * 3 + ["", ""]),
    ("azureml-behind-firewall", "2025-04-03_MicrosoftDocs_43dc14ea7c"):
        (17, 1, [""] * 7 + ["public", "gov", "china"] * 3 + ["", ""]),
    ("azureml-behind-firewall", "2026-03-19_MicrosoftDocs_00bb5540c9"):
        (17, 1, [""] * 7 + ["public", "gov", "china"] * 3 + ["", ""]),
    ("batch-virtual-network", "2018-07-26_MicrosoftDocs_0819162b1c"): (2, 0, ["", ""]),
    ("batch-virtual-network", "2023-09-20_MicrosoftDocs_3b9d7e48ea"): (4, 0, [""] * 4),
    ("container-apps-use-azure-firewall", "2025-04-03_MicrosoftDocs_66008b2ad2"): (2, 0, ["", ""]),
    ("container-apps-use-azure-firewall", "2026-03-30_MicrosoftDocs_0f6dfaa13a"): (2, 0, ["", ""]),
    ("service-tags-overview", "2020-05-18_allegradomel_6316252f57"): (2, 0, ["", ""]),
    ("service-tags-overview", "2021-04-23_MicrosoftDocs_0006b73836"): (2, 0, ["", ""]),
    ("service-tags-overview", "2023-01-26_MicrosoftDocs_17341f4516"): (2, 0, ["", ""]),
    ("service-tags-overview", "2024-12-11_microsoft_516762a9f7"): (2, 0, ["", ""]),
    ("service-tags-overview", "2025-04-21_richardmorton-msft_4121d03987"): (2, 0, ["", ""]),
    ("service-tags-overview", "2025-07-15_specialized806_889569b0e9"): (1, 0, [""]),
}


def _all_versions() -> list[tuple[str, str]]:
    out = []
    for page in corpus_pages():
        base = CORPUS / "markdown" / page
        try:
            out += [(page, v["version"]) for v in json.loads((base / "versions.json").read_text())]
        except OSError:
            pass
    return out or list(EXPECTED)


def _version(page: str, version: str) -> dict:
    for v in corpus_versions(page):
        if v["version"] == version:
            return v
    pytest.fail(f"version {version} of {page} not in versions.json")


@pytest.mark.parametrize(("page", "version"), _all_versions())
def test_corpus_version_tables(corpus_dir, page, version):
    assert (page, version) in EXPECTED, f"new corpus version {page}/{version}: add its expected tables"
    doc = parse_version(_version(page, version))
    n_tables, n_lists, tab_ids = EXPECTED[(page, version)]
    assert "internal-error" not in codes(doc)
    assert sum(t.kind == "table" for t in doc.tables) == n_tables
    assert sum(t.kind == "list" for t in doc.tables) == n_lists
    assert ["/".join(tab.id for tab in t.tabs) for t in doc.tables] == tab_ids
    assert doc.meta.get("doc_date") == version[:10]  # folder names carry the ms.date
    assert doc.title and doc.title == doc.tables[0].headings[0]
    for t in doc.tables:
        assert t.columns and all(len(r) == len(t.columns) for r in t.rows)
        assert isinstance(t.line, int) and t.line > 0


def test_every_corpus_page_is_covered(corpus_dir):
    assert {p for p, _ in _all_versions()} == {p for p, _ in EXPECTED}


# --- concrete facts -----------------------------------------------------------

def test_apim_2023_stv2_tab(corpus_dir):
    doc = parse_version(_version("apim-virtual-network-reference", "2023-08-29_MicrosoftDocs_a48670a824"))
    stv2 = [t for t in doc.tables if [x.label for x in t.tabs] == ["stv2"]]
    assert len(stv2) == 1
    t = stv2[0]
    assert t.headings[-1] == "Required ports"
    assert t.columns[3] == "Service tags Source / Destination"  # <br> in a header
    monitor = [r for r in t.rows if "AzureMonitor" in r[3].text]
    assert monitor and "1886, 443" in monitor[0][0].text
    assert monitor[0][4].bold == [] and monitor[0][4].text.endswith("(optional)")
    assert [r[4].bold for r in t.rows[:2]] == [["Client communication to API Management"],
                                                 ["Management endpoint for Azure portal and PowerShell"]]
    # the over-indented delimiter row (markdown-it drops the table) is recovered
    env = [t for t in doc.tables if t.columns == ["Azure Environment", "Endpoints"]]
    assert env and env[0].rows[0][1].items[0] == "gcs.prod.monitoring.core.windows.net"
    assert env[0].line in {d.line for d in doc.diagnostics if d.code == "recovered-table"}


@pytest.mark.parametrize("version", [k[1] for k in EXPECTED if k[0] == "azureml-behind-firewall"])
def test_azureml_gov_tab_hosts(corpus_dir, version):
    doc = parse_version(_version("azureml-behind-firewall", version))
    gov = [t for t in doc.tables if t.tabs and t.tabs[-1].id == "gov"]
    assert len(gov) == 3
    assert all(t.tabs[-1].label == "Azure Government" for t in gov)
    assert any("login.microsoftonline.us" in all_text(t) for t in gov)
    assert not any("login.microsoftonline.us" in all_text(t) for t in doc.tables if t.tabs and t.tabs[-1].id == "public")


def test_azureml_cells_and_code_list(corpus_dir):
    doc = parse_version(_version("azureml-behind-firewall", "2025-04-03_MicrosoftDocs_43dc14ea7c"))
    inbound = next(t for t in doc.tables if t.lead_in == "Inbound traffic")
    assert inbound.columns == ["Source", "Source ports", "Destination", "Destinationports", "Purpose"]
    outbound = next(t for t in doc.tables if t.lead_in == "Outbound traffic")
    ml = next(r for r in outbound.rows if r[0].text == "AzureMachineLearning")
    assert ml[1].items == ["443, 8787, 18881", "UDP: 5831"]
    afd = next(r for r in outbound.rows if r[0].code == ["AzureFrontDoor.FrontEnd"])
    assert afd[0].items == ["AzureFrontDoor.FrontEnd", "* Not needed in Microsoft Azure operated by 21Vianet."]
    ports = doc.tables[0]  # inside a list item, indented
    assert ports.columns == ["Port", "Description"] and ports.lead_in.startswith("Ports: The following ports")
    lst = [t for t in doc.tables if t.kind == "list"]
    assert len(lst) == 1 and lst[0].columns == ["Monitoring, metrics, and diagnostics"]
    assert [r[0].text for r in lst[0].rows][0] == "dc.applicationinsights.azure.com"
    assert all(len(r) == 1 and r[0].code == [r[0].text] for r in lst[0].rows)
    kusto = next(t for t in doc.tables if t.columns[0] == "Outbound Endpoint")
    assert kusto.rows[0][3].text == "✓" and kusto.rows[0][3].bold == ["✓"]  # __&check;__


def test_arc_include_china_tab(corpus_dir):
    v = _version("arc-servers-network-requirements", "2025-09-29_MicrosoftDocs_1a89119242")
    inc = v["file"].parent / "includes" / "network-requirements.md"
    doc = parse_markdown(inc.read_text(encoding="utf-8"), path="articles/azure-arc/servers/includes/network-requirements.md")
    china = [t for t in doc.tables if t.tabs and t.tabs[-1].id == "azure-china"]
    assert len(china) == 1 and china[0].tabs[0].label == "Microsoft Azure operated by 21Vianet"
    assert "*.his.arc.azure.cn" in [c for r in china[0].rows for c in r[0].code]
    assert "missing-include" in codes(doc)  # arc-region-note.md is not in the corpus
    # through the page, the include's tables carry the include path and the page headings
    page = parse_version(v)
    t = page.tables[0]
    assert t.source == "articles/azure-arc/servers/includes/network-requirements.md"
    assert t.line == 46 and t.headings == ["Connected Machine agent network requirements", "Details", "URLs"]
    assert sum(d.code == "missing-include" for d in page.diagnostics) == 3


def test_service_tags_header_mismatch_recovered(corpus_dir):
    doc = parse_version(_version("service-tags-overview", "2020-05-18_allegradomel_6316252f57"))
    t = doc.tables[0]
    assert t.columns == ["Tag", "Purpose", "Can use inbound or outbound?", "Can be regional?",
                         "Can use with Azure Firewall?"]
    assert t.rows[0][0].text == "ActionGroup" and t.rows[0][0].bold == ["ActionGroup"]
    assert "table-header-mismatch" in codes(doc)
    classic = doc.tables[1]  # inside a > [!NOTE] blockquote
    assert classic.columns == ["Classic spelling", "Equivalent Resource Manager tag"]
    assert classic.lead_in.startswith("In the classic deployment model")


def test_ragged_rows_keep_surplus(corpus_dir):
    doc = parse_version(_version("azure-monitor-network-access", "2025-02-11_MicrosoftDocs_04dc4fe0fe"))
    assert "ragged-row" in codes(doc)
    prof = next(t for t in doc.tables if t.headings[-1] == "Application Insights Profiler for .NET")
    portal = next(r for r in prof.rows if r[0].text == "Portal")
    assert portal[2].items == ["dynamic", "443"]


# --- seeds ----------------------------------------------------------------------

def _seed(seeds_dir: Path, prefix: str) -> Path:
    return next(seeds_dir.glob(prefix + "_*.txt"))


@pytest.mark.parametrize(("prefix", "n_tables", "n_lists"), [("000", 11, 0), ("001", 17, 1), ("002", 3, 0)])
def test_seed_counts(seeds_dir, prefix, n_tables, n_lists):
    doc = parse_markdown(_seed(seeds_dir, prefix).read_text(encoding="utf-8"))
    assert sum(t.kind == "table" for t in doc.tables) == n_tables
    assert sum(t.kind == "list" for t in doc.tables) == n_lists
    assert "internal-error" not in codes(doc)


def test_seed_001_tabs_and_list(seeds_dir):
    doc = parse_markdown(_seed(seeds_dir, "001").read_text(encoding="utf-8"))
    labels = [t.tabs[0].label for t in doc.tables if t.tabs]
    assert labels == ["Azure public", "Azure Government", "Azure China 21Vianet"] * 3
    lst = doc.tables[-1]
    assert lst.kind == "list" and lst.columns == ["Monitoring, metrics, and diagnostics"]
    assert lst.lead_in.startswith("To support logging of metrics")  # the NOTE in between is skipped
    assert [r[0].text for r in lst.rows] == ["dc.applicationinsights.azure.com", "dc.applicationinsights.microsoft.com",
                                             "dc.services.visualstudio.com", "*.in.applicationinsights.azure.com"]


def test_seed_002_apim(seeds_dir):
    doc = parse_markdown(_seed(seeds_dir, "002").read_text(encoding="utf-8"))
    assert [t.tabs[0].id for t in doc.tables if t.tabs] == ["stv2", "stv1"]
    assert doc.meta["doc_date"] == "2023-11-29" and doc.meta["author"] == "dlepow"
    env = doc.tables[2]
    assert env.rows[2][0].text == "Microsoft Azure operated by 21Vianet"
    assert "mooncake.warmpath.chinacloudapi.cn" in env.rows[2][1].items


def test_seed_003_blank_lines_stripped(seeds_dir):
    doc = parse_markdown(_seed(seeds_dir, "003").read_text(encoding="utf-8"))
    assert doc.meta["ms.date"] == "02/13/2026" and doc.meta["doc_date"] == "2026-02-13"
    assert "junk-before-front-matter" in codes(doc)
    tables = [t for t in doc.tables if t.kind == "table"]
    # 4 tables in the file: 3 tabbed URL tables (lines 36, 64, 80) + the TLS platform table (108)
    assert len(tables) == 4
    assert [t.line for t in tables] == [36, 64, 80, 108]
    assert [[x.label for x in t.tabs] for t in tables] == [
        ["Azure cloud platform"], ["Azure Government"], ["Azure operated by 21Vianet"], []]
    assert [len(t.rows) for t in tables] == [17, 11, 13, 3]  # footnote lines are not rows
    assert all(t.headings == ["URLs"] for t in tables[:3]) and tables[3].headings == ["Cryptographic protocols"]
    assert tables[0].rows[0][2].footnotes == ["1"]
    assert "*.his.arc.azure.cn" in all_text(tables[2])
    lst = [t for t in doc.tables if t.kind == "list"]
    assert len(lst) == 1 and lst[0].columns == ["Service tags"] and len(lst[0].rows) == 6
    # (with blank lines stripped, the next paragraph is a lazy continuation of the last item)
    assert [r[0].code[0] for r in lst[0].rows] == ["AzureActiveDirectory", "AzureTrafficManager",
                                                   "AzureResourceManager", "AzureArcInfrastructure",
                                                   "Storage", "WindowsAdminCenter"]
    assert lst[0].rows[5][0].text.startswith("WindowsAdminCenter (if you use Windows Admin Center")


def test_seed_004_text_dump(seeds_dir):
    doc = parse_markdown(_seed(seeds_dir, "004").read_text(encoding="utf-8"))
    assert doc.format == "markdown" and doc.tables == []
    assert "internal-error" not in codes(doc)


# --- synthetic edge cases ---------------------------------------------------------

def test_synthetic_include_cycle():
    doc = parse_synthetic("synthetic_md_cycle_a.md")
    assert "include-cycle" in codes(doc)
    assert [t.source for t in doc.tables] == ["synthetic_md_cycle_b.md", None]
    assert doc.tables[0].headings == ["Cycle A", "From B"] and doc.tables[0].line == 6


def test_synthetic_include_depth():
    # a chain of distinct includes deeper than the limit
    files = {f"d{i}.md": f"## Level {i}\n\n[!INCLUDE [n](d{i + 1}.md)]\n" for i in range(20)}
    doc = parse_markdown(files["d0.md"], path="d0.md", loader=files.get)
    assert "include-depth" in codes(doc)


def test_synthetic_missing_include_and_no_loader():
    doc = parse_markdown("# T\n\n[!INCLUDE [x](../inc/x.md)]\n", path="articles/a/page.md", loader=lambda p: None)
    d = [x for x in doc.diagnostics if x.code == "missing-include"]
    assert len(d) == 1 and "articles/inc/x.md" in d[0].message and d[0].line == 3
    doc = parse_markdown("  * [!INCLUDE [x](x.md)]\n", path="p.md")
    assert codes(doc) == ["missing-include"]


def test_synthetic_include_inside_list_item():
    inc = "| A | B |\n|---|---|\n| `h.example.com` | 443 |\n"
    doc = parse_markdown("# T\n\n1. Step:\n\n    [!INCLUDE [t](inc/t.md)]\n", path="p.md",
                         loader={"inc/t.md": "---\nms.topic: include\n---\n" + inc}.get)
    assert len(doc.tables) == 1 and doc.tables[0].source == "inc/t.md" and doc.tables[0].line == 4
    assert doc.tables[0].lead_in == "Step:"


def test_synthetic_edge_cases():
    doc = parse_synthetic("synthetic_md_edge.md")
    assert doc.title == "Edge page"
    assert doc.meta["doc_date"] == "2025-04-03" and doc.meta["ms.custom"] == ["one", "two"]
    t0, t1, lst, t3, t4 = doc.tables
    assert t0.tabs[0].label == "Azure public" and t0.headings == ["Edge page", "Clouds"]
    assert t0.lead_in == "The endpoints per cloud."  # the tab group's lead-in (the panel's alert is skipped)
    r = t0.rows
    assert r[0][0].items == ["a.example.com", "b.example.com"] and r[0][0].code == ["a.example.com", "b.example.com"]
    assert r[0][1].items == ["443", "UDP: 5831"]
    assert r[0][2].bold == ["Required"] and r[0][2].footnotes == ["1"]
    assert r[1][0].text == "c.example.com | d.example.com"
    assert r[1][2].items == ["one", "two"]
    assert r[2][0].text == "escaped *star"
    assert r[2][2].links == [{"text": "link", "href": "https://x.example/y"}] and r[2][2].bold == ["stray"]
    assert t1.tabs == [type(t1.tabs[0])("Azure Government", "gov/other")]
    assert t1.headings[-1] == "Nested heading" and len(t1.rows) == 1  # pipe-less line ends the table
    assert lst.kind == "list" and lst.columns == ["Service tags"] and lst.tabs == []
    assert lst.rows[1][0].items == ["Storage.<region> (regional)"] and lst.rows[1][0].code == ["Storage.<region>"]
    assert t3.columns == ["Tag", "Use"] and t3.rows[0][0].text == "AzureCloud"  # inside a zone, mismatch
    assert t4.lead_in == "A step with a table:"
    assert t4.rows[0][1].items == ["r1", "surplus"] and t4.rows[1][1].items == []
    c = codes(doc)
    assert c.count("ragged-row") == 2 and "table-header-mismatch" in c and "missing-include" in c
    recovered = sorted(d.line for d in doc.diagnostics if d.code == "recovered-table")
    assert recovered == [t0.line, t1.line, t3.line]


def test_synthetic_unclosed_tab():
    doc = parse_synthetic("synthetic_md_unclosed.md")
    assert [[(x.label, x.id) for x in t.tabs] for t in doc.tables] == [[("One", "one")], [("Two", "two")]]
    assert all(t.headings == ["Unclosed"] for t in doc.tables)
    assert "unclosed-tab" in codes(doc)


def test_tab_headings_in_fences_and_hr_outside_tabs():
    text = "# T\n\n```md\n# [X](#tab/x)\n---\n```\n\n---\n\n| A |\n|---|\n| 1 |\n"
    doc = parse_markdown(text)
    assert len(doc.tables) == 1 and doc.tables[0].tabs == [] and codes(doc) == []


# --- robustness ---------------------------------------------------------------------

# (1 MB of "|" or "<" and the bracket case are test_parser_fuzz's pathological sizes; 1 MB of "[" is
# markdown-it-py's own quadratic cost, timed in bench/)
@pytest.mark.parametrize("text", [
    ">" * 100_000 + " deep\n" + "".join(">" * i + " x\n" for i in range(500)),
    "| a | b |\n|---|---|\n" + "| x | y | z |\n" * 5_000,
    "# [t](#tab/t)\n" * 5_000,
    "[!INCLUDE [a](a.md)]\n" * 5_000,
    "---\n" * 50_000,
    ":::image type=\"complex\"\n" + "x\n" * 1000,
    "\x00\ufeff\r\n\r|a|\r|-|\r",
    "",
])
def test_pathological_inputs_never_raise(text):
    doc = parse_markdown(text, path="a.md", loader=lambda p: "[!INCLUDE [a](a.md)]")
    assert isinstance(doc, Document)
    assert "internal-error" not in codes(doc)


def test_loader_errors_are_diagnostics():
    def boom(path: str) -> str:
        raise OSError("disk on fire")
    doc = parse_markdown("[!INCLUDE [a](a.md)]\n", path="p.md", loader=boom)
    assert codes(doc) == ["missing-include"]


def test_unexpected_error_becomes_internal_error():
    doc = parse_markdown(12345)  # type: ignore[arg-type]  # not text at all
    assert isinstance(doc, Document)
    doc = parse_markdown("# T\n\n[!INCLUDE [a](a.md)]\n", path="p.md", loader=lambda p: 42)  # type: ignore[arg-type,return-value]
    assert isinstance(doc, Document) and doc.title == "T"


def test_escaped_pipes_are_not_surplus_cells():
    # rows with and without backslash escapes take different paths when counting cells
    doc = parse_markdown("| Host | Port |\n|---|---|\n| `a\\|b` | 443 |\n| x | 80 | **surplus** |\n"
                         "| y | 80 \\| 8080 |\n| z | 9 | | `extra.host` |\n")
    rows = doc.tables[0].rows
    assert [[c.items for c in r] for r in rows] == [
        [["a|b"], ["443"]], [["x"], ["80", "surplus"]], [["y"], ["80 | 8080"]], [["z"], ["9", "extra.host"]]]
    assert [(d.code, d.line) for d in doc.diagnostics] == [("ragged-row", 4), ("ragged-row", 6)]
    assert rows[3][1].code == ["extra.host"]
