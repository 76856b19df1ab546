"""parsers.html on real rendered Learn pages (corpus/rendered, corpus/html) and synthetic edge cases."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CORPUS
from parsers import detect_format, parse_document
import parsers.html
from parsers.html import parse_html
from parsers.model import Document, Tab


def tab_groups(text: str) -> list[list[Tab]]:
    """The tab groups the HTML parser walked, tables or not (a page's tabs may hold only code)."""
    walker = parsers.html._parse(text)[1]
    return [list(g) for g in walker.groups] if walker else []

HERE = Path(__file__).resolve().parent
SYNTHETIC = HERE / "synthetic_html_learn.html"

# every file of corpus/rendered and corpus/html: (tables, of which code lists, tab groups' labels)
CLOUDS_CN_OLD = ["Azure public", "Azure Government", "Azure China 21Vianet"]
CLOUDS_CN_NEW = ["Azure public", "Azure Government", "Microsoft Azure operated by 21Vianet"]
AMA = ["Windows VM", "Linux VM", "Windows Arc-enabled server", "Linux Arc-enabled server"]
ARC = [["Azure Cloud", "Azure Government", "Microsoft Azure operated by 21Vianet"]]
EXPECTED: dict[str, tuple[int, int, list[list[str]]]] = {
    "rendered/ama-network-configuration/2024-07-10_MicrosoftDocs_882af9a18f.html": (2, 0, [AMA + ["ARM Policy Template example"]]),
    "rendered/ama-network-configuration/2024-11-14_MicrosoftDocs_098a30fc92.html": (2, 0, [AMA + ["ARM policy template example"]]),
    "rendered/ama-network-configuration/2024-11-14_MicrosoftDocs_209754345a.html":
        (2, 0, [AMA + ["Azure Resource Manager policy template example"]]),
    "rendered/apim-virtual-network-reference/2023-08-29_MicrosoftDocs_a48670a824.html": (3, 0, [["stv2", "stv1"]]),
    "rendered/apim-virtual-network-reference/2025-06-17_MicrosoftDocs_03e5750af1.html": (2, 0, []),
    "rendered/apim-virtual-network-reference/2026-04-10_johntrogan_46809bda68.html": (2, 0, []),
    "rendered/apim-virtual-network-reference/2026-04-30_jeofyoung_6f2cca4e44.html": (2, 0, []),
    "rendered/arc-servers-network-requirements/2023-10-05_MicrosoftDocs_4bd62e2751.html": (4, 0, ARC),
    "rendered/arc-servers-network-requirements/2025-09-29_MicrosoftDocs_1a89119242.html": (4, 0, ARC),
    "rendered/automation-network-configuration/2023-08-01_MicrosoftDocs_ea2b0fef13.html": (1, 0, []),
    "rendered/automation-network-configuration/2024-09-09_MicrosoftDocs_0b5e4fe197.html": (1, 0, []),
    "rendered/azure-monitor-network-access/2019-07-17_MicrosoftDocs_0013172131.html": (11, 0, []),
    "rendered/azure-monitor-network-access/2023-08-11_MicrosoftDocs_d1e0d49224.html": (11, 0, []),
    "rendered/azure-monitor-network-access/2024-03-14_MicrosoftDocs_ab021c0729.html": (9, 0, []),
    "rendered/azure-monitor-network-access/2025-02-11_MicrosoftDocs_04dc4fe0fe.html": (9, 0, []),
    "rendered/azure-monitor-network-access/2025-07-01_MicrosoftDocs_45615efe4c.html": (10, 0, []),
    "rendered/azure-monitor-network-access/2025-08-18_MicrosoftDocs_0e8b0a9243.html": (10, 0, []),
    "rendered/azureml-behind-firewall/2022-03-04_codycodes_95b4e5f94f.html":
        (20, 0, [["Required", "Situational", "IP Address routes", "Service tag routes"]] + [CLOUDS_CN_OLD] * 3),
    "rendered/azureml-behind-firewall/2023-04-14_MicrosoftDocs_010b08402e.html":
        (18, 1, [["IP Address routes", "Service tag routes"]] + [CLOUDS_CN_OLD] * 3),
    "rendered/azureml-behind-firewall/2025-04-03_MicrosoftDocs_43dc14ea7c.html":
        (18, 1, [["IP Address routes", "Service tag routes"]] + [CLOUDS_CN_NEW] * 3),
    "rendered/azureml-behind-firewall/2026-03-19_MicrosoftDocs_00bb5540c9.html":
        (18, 1, [["IP Address routes", "Service tag routes"]] + [CLOUDS_CN_NEW] * 3),
    "rendered/batch-virtual-network/2018-07-26_MicrosoftDocs_0819162b1c.html": (2, 0, []),
    "rendered/batch-virtual-network/2023-09-20_MicrosoftDocs_3b9d7e48ea.html": (4, 0, []),
    "rendered/container-apps-use-azure-firewall/2025-04-03_MicrosoftDocs_66008b2ad2.html": (2, 0, []),
    "rendered/container-apps-use-azure-firewall/2026-03-30_MicrosoftDocs_0f6dfaa13a.html": (2, 0, []),
    "rendered/service-tags-overview/2020-05-18_allegradomel_6316252f57.html": (1, 0, []),
    "rendered/service-tags-overview/2021-04-23_MicrosoftDocs_0006b73836.html": (2, 0, []),
    "rendered/service-tags-overview/2023-01-26_MicrosoftDocs_17341f4516.html": (2, 0, []),
    "rendered/service-tags-overview/2024-12-11_microsoft_516762a9f7.html": (2, 0, []),
    "rendered/service-tags-overview/2025-04-21_richardmorton-msft_4121d03987.html": (2, 0, []),
    "rendered/service-tags-overview/2025-07-15_specialized806_889569b0e9.html": (1, 0, []),
    "html/azure-monitor-app-insights-overview.html": (0, 0, []),
    "html/graph-user-list-events.html":
        (3, 0, [["HTTP", "C#", "Go", "Java", "JavaScript", "PHP", "PowerShell", "Python"]]),
    "html/mysql-server-parameters.html": (2, 0, []),
}
CHROME = ("In this article", "Feedback", "Additional resources", "Access to this page requires authorization")


def _read(rel: str) -> str:
    return (CORPUS / rel).read_text(encoding="utf-8")


def _parse(rel: str) -> Document:
    return parse_html(_read(rel))


@pytest.mark.corpus
def test_expectations_cover_every_corpus_html_file(corpus_dir: Path) -> None:
    files = {p.relative_to(corpus_dir).as_posix()
             for p in [*corpus_dir.glob("rendered/*/*.html"), *corpus_dir.glob("html/*.html")]}
    assert files == set(EXPECTED)


@pytest.mark.corpus
@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_corpus_file(rel: str, corpus_dir: Path) -> None:
    text = _read(rel)
    doc = parse_html(text)
    n_tables, n_lists, groups = EXPECTED[rel]
    assert detect_format(text) == "html"
    assert doc.format == "html"
    assert not [d for d in doc.diagnostics if d.level == "error"], doc.diagnostics
    assert len(doc.tables) == n_tables
    assert sum(t.kind == "list" for t in doc.tables) == n_lists
    assert [[t.label for t in g] for g in tab_groups(text)] == groups
    known = {t for g in tab_groups(text) for t in g}
    for t in doc.tables:
        assert set(t.tabs) <= known  # labels come from the tablists, matched by data-tab
        assert t.columns and all(len(r) == len(t.columns) for r in t.rows)
        for h in t.headings:
            assert not h.startswith(CHROME), h
        assert not (t.lead_in or "").startswith(CHROME)
        assert t.line is not None
    assert doc.title and not doc.title.endswith("| Microsoft Learn")  # the h1, not <title>
    # meta: the git metadata every Learn page carries, normalised
    assert len(doc.meta["doc_commit"]) == 40 and doc.meta["doc_commit"] in doc.meta["gitcommit"]
    assert doc.meta["source_url"] == doc.meta["original_content_git_url"]
    assert "/blob/live/" in doc.meta["source_url"]
    assert doc.meta["doc_date"] == doc.meta["ms.date"][:10]


@pytest.mark.corpus
def test_apim_2023_stv2_tab_rows(corpus_dir: Path) -> None:
    doc = _parse("rendered/apim-virtual-network-reference/2023-08-29_MicrosoftDocs_a48670a824.html")
    stv2, stv1, ips = doc.tables
    assert stv2.tabs == [Tab("stv2", "stv2")] and stv1.tabs == [Tab("stv1", "stv1")]
    assert stv2.headings == ["Virtual network configuration reference: API Management", "Required ports"]
    assert stv2.columns == ["Source / Destination Port(s)", "Direction", "Transport protocol",
                            "Service tags Source / Destination", "Purpose", "VNet type"]
    monitor = [r for r in stv2.rows if r[3].text == "VirtualNetwork / AzureMonitor"]
    assert len(monitor) == 1
    row = monitor[0]
    assert row[0].items == ["* / 1886, 443"] and row[1].text == "Outbound" and row[2].text == "TCP"
    assert [link["text"] for link in row[4].links] == [
        "Diagnostics Logs and Metrics", "Resource Health", "Application Insights"]
    # APIM marks required rows in bold
    storage = next(r for r in stv2.rows if r[4].text == "Dependency on Azure Storage")
    assert storage[4].bold == ["Dependency on Azure Storage"]
    assert len(stv2.rows) == 14 and len(stv1.rows) == 15
    assert ips.tabs == [] and ips.columns == ["Azure Environment", "Region", "IP address"]
    assert ips.rows[-1][2].text == "52.181.32.192"
    assert doc.meta["doc_commit"] == "a48670a824cd9e84e0a55cf0b113642ac75ee538"
    assert doc.meta["doc_date"] == "2023-08-29"
    assert doc.meta["updated_at"] == "2023-08-29T00:00:00Z"


@pytest.mark.corpus
def test_end_br_and_leaked_directives(corpus_dir: Path) -> None:
    """``</br>`` breaks items as in a browser; ``:::moniker`` text leaked by the renderer is dropped."""
    doc = _parse("rendered/azureml-behind-firewall/2023-04-14_MicrosoftDocs_010b08402e.html")
    mcr = next(t for t in doc.tables if t.rows and t.rows[0][0].text == "Microsoft Container Registry")
    assert mcr.rows[0][1].items == ["mcr.microsoft.com", "*.data.mcr.microsoft.com"]
    hosts = next(t for t in doc.tables if t.kind == "list")
    assert hosts.columns == ["Monitoring, metrics, and diagnostics"]  # the bold line above
    assert [r[0].code for r in hosts.rows] == [["dc.applicationinsights.azure.com"],
                                                ["dc.applicationinsights.microsoft.com"],
                                                ["dc.services.visualstudio.com"],
                                                ["*.in.applicationinsights.azure.com"]]
    assert ":::" not in (hosts.lead_in or "")
    assert hosts.lead_in.startswith("If you haven't secured Azure Monitor for the workspace")


@pytest.mark.corpus
def test_graph_page(corpus_dir: Path) -> None:
    text = _read("html/graph-user-list-events.html")
    doc = parse_html(text)
    clouds, perms, headers = doc.tables
    assert clouds.columns == ["Global service", "US Government L4", "US Government L5 (DOD)",
                              "China operated by 21Vianet"]
    assert [c.text for c in clouds.rows[0]] == ["✅"] * 4
    assert perms.headings == ["List events", "Permissions"]
    assert headers.rows[0][0].text == "Authorization"
    assert headers.rows[2][2].code == ["Preference-Applied", "Prefer"]
    assert all(t.tabs == [] for t in doc.tables)  # the 8 tabs hold code samples, not tables
    assert len(tab_groups(text)) == 1 and len(tab_groups(text)[0]) == 8
    assert doc.meta["doc_commit"] == "82d0912dd8dd5a5f9a5e51d471f9c7f248f8e118"
    assert doc.meta["doc_date"] == "2024-06-21"
    assert doc.meta["monikers"] == "graph-rest-1.0"  # every <meta name> is kept
    assert doc.title == "List events"


@pytest.mark.corpus
def test_app_insights_page_has_no_tables(corpus_dir: Path) -> None:
    doc = _parse("html/azure-monitor-app-insights-overview.html")
    assert doc.tables == []
    assert [d.code for d in doc.diagnostics] == ["junk-before-html"]  # the markdown capture header
    assert doc.meta["doc_commit"] == "ae163d8d1ec10145bb4f562c229a9e61041ed847"
    assert doc.meta["doc_date"] == "2025-09-25"
    assert doc.meta["scope"] == ["Azure", "Azure Monitor"]  # repeated <meta name> kept as a list


@pytest.mark.corpus
def test_mysql_group_label_rows(corpus_dir: Path) -> None:
    doc = _parse("html/mysql-server-parameters.html")
    assert len(doc.tables) == 2
    for t in doc.tables:
        assert t.columns[:3] == ["Compute size", "vCores", "Physical memory size (GB)"]
        labels = [r[0].text for r in t.rows if all(not c.items for c in r[1:])]
        assert labels == ["Burstable", "General Purpose", "Memory-Optimized"]
        assert len(t.rows) == 44
        first = t.rows[0]
        assert first[0].bold == ["Burstable"] and len(first) == 6
        assert t.rows[1][0].text == "Standard_B1s"
    assert doc.tables[0].headings[-1] == "innodb_buffer_pool_size"
    assert doc.tables[1].headings[-1] == "max_connections"
    assert doc.meta["source_url"].endswith("/flexible-server/concepts-server-parameters.md")
    assert doc.meta["doc_date"] == "2025-11-25"


def test_synthetic_learn_page() -> None:
    text = SYNTHETIC.read_text(encoding="utf-8")
    doc = parse_html(text)
    assert detect_format(text) == "html"
    assert doc.title == "Synthetic network requirements"
    assert doc.meta["doc_date"] == "2024-03-05"  # US-style ms.date
    assert doc.meta["doc_commit"] == "0123456789abcdef0123456789abcdef01234567"  # from the gitcommit URL
    cols = [t.columns for t in doc.tables]
    assert ["Chrome"] not in cols and ["Footer"] not in cols  # banner and footer are chrome
    main, hosts, win, linux, gov, in_list = doc.tables
    # table without thead: the first row of th's is the header
    assert main.columns == ["Endpoint", "Port", "Notes"]
    assert main.headings == ["Synthetic network requirements", "Endpoints"]
    assert main.lead_in == "Outbound traffic"  # the NOTE in between is skipped
    c0, c1, c2 = main.rows[0]
    assert c0.items == ["*.blob.core.windows.net", "login.microsoftonline.com"] and c0.code == c0.items
    assert c1.items == ["443", "UDP: 5831"]
    assert c2.bold == ["Required"] and c2.footnotes == ["1"]
    assert c2.links == [{"text": "docs", "href": "https://example.com/x"}]
    assert [c.text for c in main.rows[1]] == ["wide", "", "x"]  # colspan keeps the columns aligned
    assert main.rows[2][2].items == ["c", "surplus"]  # surplus cells appended to the last cell
    assert [c.text for c in main.rows[3]] == ["short", "", ""]
    assert sum(d.code == "ragged-row" for d in doc.diagnostics) == 2
    # a bulleted list of code-formatted tags under a heading
    assert hosts.kind == "list" and hosts.columns == ["Service tags"]
    assert [r[0].items for r in hosts.rows] == [["AzureMonitor for metrics"], ["Storage.<region>"]]
    assert [r[0].code for r in hosts.rows] == [["AzureMonitor"], ["Storage.<region>"]]
    # nested tab groups, hidden panels included
    assert win.tabs == [Tab("Azure public", "public"), Tab("Windows", "windows")]
    assert linux.tabs == [Tab("Azure public", "public"), Tab("Linux", "linux")]
    assert gov.tabs == [Tab("Azure Government", "gov")]
    assert win.lead_in == "Inbound rules:" and linux.lead_in is None and gov.lead_in is None
    assert in_list.lead_in == "Outbound to the following:" and in_list.tabs == []
    assert [[t.id for t in g] for g in tab_groups(text)] == [["public", "gov"], ["windows", "linux"]]
    assert main.line == 23  # source line in the file, capture header included


SIGN_IN = """<!DOCTYPE html><html><head><title>Sign in to your account</title></head>
<body><form method="post" action="/login"><div id="loginHeader">Sign in</div>
<input type="email" name="loginfmt"><input type="submit" value="Next"></form>
<script>var $Config={"urlPost":"/login"};</script></body></html>"""
ERROR_PAGE = """<html><head><title>404 - Content Not Found | Microsoft Learn</title></head><body>
<div class="notification"><p>Access to this page requires authorization.</p></div>
<main><h1 id="ms--404">404 - Page not found</h1><p>We couldn't find this page.</p></main></body></html>"""


@pytest.mark.parametrize("text", [
    SIGN_IN, ERROR_PAGE, "", "   ", "\ufeff", "<", "<table>", "<table><tr><td>x", "</br></br>",
    "<?xml version='1.0' encoding='utf-8'?><html><body><table><tr><th>a</th></tr></table></body></html>",
    "<html>\x00\x01<body><p>nul</p></body></html>", "<div class='tabGroup'><section role='tabpanel'>",
    "<!DOCTYPE html>" + "<div>" * 5000 + "<table><tr><th>deep</th></tr></table>",
], ids=["sign-in", "error-page", "empty", "blank", "bom", "lt", "table", "open-cell", "end-br", "xml-decl",
        "nul", "open-tabs", "deep"])
def test_odd_pages_never_raise(text: str) -> None:
    doc = parse_html(text)
    assert isinstance(doc, Document) and doc.format == "html"
    assert not [d for d in doc.diagnostics if d.code == "internal-error"], doc.diagnostics


def test_sign_in_and_error_pages_have_no_tables() -> None:
    assert parse_html(SIGN_IN).tables == []
    err = parse_html(ERROR_PAGE)
    assert err.tables == [] and err.title == "404 - Content Not Found | Microsoft Learn"  # chrome h1 skipped


@pytest.mark.corpus
def test_truncated_page_keeps_what_it_found(corpus_dir: Path) -> None:
    text = _read("rendered/apim-virtual-network-reference/2023-08-29_MicrosoftDocs_a48670a824.html")
    cut = text.index("* / 6390")  # inside the stv2 table
    doc = parse_html(text[:cut])
    assert len(doc.tables) == 1
    assert doc.tables[0].tabs == [Tab("stv2", "stv2")]
    assert doc.tables[0].rows[-2][3].text == "VirtualNetwork / VirtualNetwork"
    assert doc.tables[0].rows[-1][0].text == ""  # the cut row: padded, not dropped
    for n in range(0, len(text), 997):
        assert isinstance(parse_html(text[:n]), Document)


@pytest.mark.corpus
def test_detect_format_and_dispatch(corpus_dir: Path, seeds_dir: Path) -> None:
    for seed in sorted(seeds_dir.iterdir()):
        assert detect_format(seed.read_text(encoding="utf-8")) == "markdown", seed.name
    rendered = _read("rendered/apim-virtual-network-reference/2023-08-29_MicrosoftDocs_a48670a824.html")
    assert parse_document(rendered).format == "html"
    assert detect_format(" \n" + rendered) == "html"
    assert detect_format(_read("html/mysql-server-parameters.html")) == "html"  # YAML header first
    md_page = next((corpus_dir / "markdown" / "apim-virtual-network-reference").rglob("virtual-network-reference.md"))
    md = parse_document(md_page.read_text(encoding="utf-8"), path=str(md_page))
    assert md.format == "markdown" and md.tables


@pytest.mark.parametrize(("text", "fmt"), [
    ("<p>Hello <b>world</b></p>\n<div><table><tr><td>1</td></tr></table></div>", "html"),
    ("# Title\n\n| a | b |\n|---|---|\n| <br> | </br> |\n", "markdown"),
    ("---\ntitle: x\n---\n<a id='top'></a>\n\n## Heading\n\nText <sup>1</sup>\n", "markdown"),
    ("Use an `<html>` element: write <html> in the file.", "markdown"),
    ("<!-- comment -->\n# Title\n\n* item\n* item\n\n| a | b |\n|---|---|\n", "markdown"),
    ("<!doctype html><title>x</title>", "html"),
    ("", "markdown"),
])
def test_detect_format_synthetic(text: str, fmt: str) -> None:
    assert detect_format(text) == fmt


@pytest.mark.corpus
def test_detect_format_on_every_corpus_markdown_file(corpus_dir: Path) -> None:
    """Pages and include files alike (they mix in <br>, <sup>, <a id>, HTML tables) stay markdown."""
    files = sorted(corpus_dir.glob("markdown/**/*.md"))
    assert files
    assert [f for f in files if detect_format(f.read_text(encoding="utf-8")) != "markdown"] == []


def test_too_deep_nesting_is_reported() -> None:
    doc = parse_html("<!DOCTYPE html>" + "<div>" * 5000 + "<table><tr><th>deep</th></tr></table>")
    assert {"html-limit", "too-deep"} & {d.code for d in doc.diagnostics}
    shallow = parse_html("<!DOCTYPE html>" + "<div>" * 50 + "<table><tr><th>ok</th></tr></table>")
    assert [t.columns for t in shallow.tables] == [["ok"]]
