"""Folded patterns (case-insensitive tests run case-sensitively on lower-cased text) and the
memos must answer exactly as the plain ``re.I`` pattern and the unmemoized reader do."""
from __future__ import annotations

import random
import re

from docwatch import memo
from docwatch.normalize_values import Folded, _lower_pattern, endpoint_kind
from docwatch.textrules import _NEG, _PORT_PHRASES, _tagish, port_phrases

TEXTS = [
    "You must NOT allow TCP port 443.", "Ports 80 AND 443 (TCP)", "HTTPS:443", "it isn't needed", "Deprecated",
    "UDP/123 over TLS 443", "Storage.WestUS tag", "AzureMonitor", "a TAGS list", "no longer used", "İstanbul NOT",
    "ſervice tag", "KELVIN \u212a", "", "port", "tcp", "x" * 50 + " Never",
]


def test_lower_pattern_keeps_escapes_and_group_names() -> None:
    assert _lower_pattern(r"(?P<Name>TCP)\S\B[A-Z](?P=Name)") == r"(?P<Name>tcp)\S\B[a-z](?P=Name)"


def test_folded_answers_as_the_case_insensitive_pattern() -> None:
    rnd = random.Random(7)
    alphabet = "notNOT'pPrRtTcCuUdD 0123456789/:()İſ\u212a"
    texts = TEXTS + ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20))) for _ in range(3000)]
    for folded in (_NEG, *_PORT_PHRASES):
        plain = re.compile(folded.pattern, re.I)
        for t in texts:
            got, want = folded.search(t), plain.search(t)
            assert (got and got.span()) == (want and want.span()), (folded.pattern, t)
            assert [m.span() for m in folded.finditer(t)] == [m.span() for m in plain.finditer(t)], t


def test_needles_never_hide_a_match() -> None:
    f = Folded(r"\bdeprecat\w*", needles=("deprecat",))
    assert f.search("It is DEPRECATED now") and not f.search("It is current")


def test_tag_gate_and_port_phrases_read_any_case() -> None:
    assert _tagish("the Storage tag") and _tagish("AzureMonitor") and _tagish("Sql.EastUS") and not _tagish("plain words")
    assert port_phrases("Allow outbound UDP port 123") == {"udp": ["123"]}


def test_memo_clear_gives_the_same_answers() -> None:
    first = endpoint_kind("login.microsoftonline.com")
    memo.clear()
    assert endpoint_kind("login.microsoftonline.com") == first == "fqdn"
