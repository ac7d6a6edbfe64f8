"""Visual acuity: Snellen and logMAR parsing, formatting and lines lost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.vision import VisualAcuity, parse_bcva


@pytest.mark.parametrize(
    ("text", "logmar"),
    [
        ("20/20", 0.0),
        ("20/40", 0.3),
        ("20/200", 1.0),
        ("20/10", -0.3),
        ("20/25", 0.1),
        ("20/70", 0.54),
        (" 20 / 40 ", 0.3),
        ("6/6", 0.0),
        ("6/12", 0.3),
        ("6/60", 1.0),
        ("6/7.5", 0.1),
        ("logMAR 0.3", 0.3),
        ("LOGMAR: -0.1", -0.1),
        ("logmar1.0", 1.0),
        ("0.3", 0.3),
        ("-0.1", -0.1),
        ("+0.2", 0.2),
        ("0", 0.0),
        ("-0.3", -0.3),
        ("3.0", 3.0),
        ("0.301", 0.3),
    ],
)
def test_parse_bcva(text: str, logmar: float) -> None:
    assert parse_bcva(text) == VisualAcuity(logmar)
    assert parse_bcva(text).logmar == logmar


@pytest.mark.parametrize(
    "text",
    ["20/0", "6/0", "10/20", "20/", "/40", "20/40/60", "20-40", "logMAR", "abc", "", "nan", "1e-1"],
)
def test_parse_bcva_refuses_malformed_text(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_bcva(text)
    assert refused.value.field == "bcva"
    assert refused.value.message.startswith(
        f"BCVA {text!r} is not a Snellen fraction 20/x with x > 0, nor a logMAR value"
    )


@pytest.mark.parametrize("text", ["-0.4", "3.1", "logMAR 5", "20/5", "6/2", "20/25000"])
def test_parse_bcva_refuses_out_of_range(text: str) -> None:
    with pytest.raises(InvalidInput, match="outside the chartable range") as refused:
        parse_bcva(text)
    assert refused.value.field == "bcva"


@pytest.mark.parametrize("logmar", [-0.31, 3.01, float("nan"), float("inf"), True])
def test_visual_acuity_refuses_impossible_logmar(logmar: float) -> None:
    with pytest.raises(InvalidInput) as refused:
        VisualAcuity(logmar)
    assert refused.value.field == "logmar"


@pytest.mark.parametrize(
    ("logmar", "snellen"),
    [
        (0.0, "20/20"),
        (0.3, "20/40"),
        (1.0, "20/200"),
        (-0.3, "20/10"),
        (0.1, "20/25"),
        (-0.0, "20/20"),
    ],
)
def test_snellen(logmar: float, snellen: str) -> None:
    assert VisualAcuity(logmar).snellen == snellen


def test_logmar_is_kept_to_a_hundredth() -> None:
    assert VisualAcuity(0.30103) == VisualAcuity(0.3)
    assert str(VisualAcuity(-0.0).logmar) == "0.0"


@pytest.mark.parametrize(
    ("current", "baseline", "lines"),
    [
        ("20/40", "20/20", 3.0),
        ("20/20", "20/40", -3.0),
        ("20/20", "20/20", 0.0),
        ("20/200", "20/20", 10.0),
        ("0.4", "0.1", 3.0),
        ("0.42", "0.1", 3.2),
    ],
)
def test_lines_lost_from(current: str, baseline: str, lines: float) -> None:
    assert parse_bcva(current).lines_lost_from(parse_bcva(baseline)) == lines


def test_is_worse_than() -> None:
    assert parse_bcva("20/40").is_worse_than(parse_bcva("20/20"))
    assert not parse_bcva("20/20").is_worse_than(parse_bcva("20/40"))
    assert not parse_bcva("20/40").is_worse_than(parse_bcva("logMAR 0.3"))


_GRID = st.integers(min_value=-30, max_value=300).map(lambda k: VisualAcuity(k / 100))


@given(st.integers(min_value=10, max_value=20000))
def test_snellen_parse_format_round_trip(denominator: int) -> None:
    acuity = parse_bcva(f"20/{denominator}")
    assert parse_bcva(acuity.snellen) == acuity


@given(_GRID)
def test_formatted_snellen_is_canonical(acuity: VisualAcuity) -> None:
    reparsed = parse_bcva(acuity.snellen)
    assert reparsed.snellen == acuity.snellen
    # Whole-number Snellen denominators are coarse near 20/10; never more than ~0.03 logMAR off.
    assert abs(reparsed.logmar - acuity.logmar) <= 0.03


@given(_GRID)
def test_logmar_text_round_trip(acuity: VisualAcuity) -> None:
    assert parse_bcva(f"logMAR {acuity.logmar}") == acuity
    assert parse_bcva(str(acuity.logmar)) == acuity
