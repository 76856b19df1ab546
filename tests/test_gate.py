"""Gate answers as its pattern does (no match for text without a needle; the pattern's own result otherwise)."""
import re

from docwatch.normalize_values import DIGIT, Gate

TEXTS = ["Open PORT 443 to the hosts", "nothing to see", "ſome port 3", "\u212aelvin port 9", "Ünïcode Port 1, 2",
         "", "a ; b, c or d", "x٣y", "12", "no digits"]


def test_gate_matches_its_pattern():
    cases = [(re.compile(r"\bports?\s+(\d+)", re.I), ("port",)), (re.compile(r",|;|\s+(?:or|and)\s+"), (",", ";", "or", "and")),
             (re.compile(r"(?:s|k)ome|kelvin", re.I), ("some", "kelvin")), (re.compile(r"\d"), tuple("0123456789"))]
    for rx, needles in cases:
        gate = Gate(rx, needles, ascii_only=rx.pattern == r"\d")
        for t in TEXTS:
            g, r = gate.search(t), rx.search(t)
            assert (g and g.span()) == (r and r.span())
            assert gate.findall(t) == rx.findall(t)
            assert [m.span() for m in gate.finditer(t)] == [m.span() for m in rx.finditer(t)]
            assert gate.split(t) == rx.split(t)
            assert gate.sub("#", t) == rx.sub("#", t)
            assert (gate.match(t) is None) == (rx.match(t) is None)


def test_digit_beyond_ascii():
    assert DIGIT.search("x٣y").group(0) == "٣"  # an Arabic-Indic digit is a \d: non-ASCII text is never gated
    assert DIGIT.search("no digits") is None
    assert DIGIT.search("port 443").start() == 5
