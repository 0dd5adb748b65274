"""Numbers typed as text, in German or English notation."""

from __future__ import annotations

import pytest

from drl_analysis.core.numbers import detect_notation, parse_number, shown_notation


@pytest.mark.parametrize(
    ("text", "value", "notation"),
    [
        ("12,5", 12.5, "de"),
        ("12.5", 12.5, "en"),
        ("1.234,5", 1234.5, "de"),
        ("1,234.5", 1234.5, "en"),
        ("12.345.678,9", 12345678.9, "de"),
        ("12,345,678.9", 12345678.9, "en"),
        ("0,05", 0.05, "de"),
        (",5", 0.5, "de"),
        ("1234", 1234.0, None),
        ("-3,5", -3.5, "de"),
    ],
)
def test_number_in_german_or_english_notation(text, value, notation):
    parsed = parse_number(text)
    assert parsed.value == pytest.approx(value, rel=1e-12)
    assert parsed.notation == notation
    assert not parsed.ambiguous


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 234,5", 1234.5),
        ("1\u00a0234,5", 1234.5),  # no-break space, as Excel's German format writes it
        ("1\u202f234", 1234.0),  # narrow no-break space
        ("1'234.5", 1234.5),  # Swiss grouping
        ("12 345 678", 12345678.0),
    ],
)
def test_thousands_separated_by_spaces_or_apostrophes(text, value):
    assert parse_number(text).value == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "decimal", "thousands"),
    [("1.234", 1.234, 1234.0), ("1,234", 1.234, 1234.0), ("12.500", 12.5, 12500.0), ("765,432", 765.432, 765432.0)],
)
def test_three_decimals_after_one_separator_are_ambiguous(text, decimal, thousands):
    parsed = parse_number(text)
    assert parsed.ambiguous
    assert sorted([parsed.value, parsed.alternative]) == pytest.approx([decimal, thousands], rel=1e-12)


def test_ambiguous_number_read_in_the_notation_given():
    assert parse_number("1.234", notation="de").value == 1234.0
    assert parse_number("1.234", notation="en").value == pytest.approx(1.234)
    assert parse_number("1,234", notation="de").value == pytest.approx(1.234)
    assert parse_number("1,234", notation="en").value == 1234.0
    assert not parse_number("1.234", notation="de").ambiguous


@pytest.mark.parametrize("text", ["0.234", "1.23", "1.2345", "1234.567", "12,5"])
def test_numbers_whose_notation_shows_are_not_ambiguous(text):
    assert not parse_number(text).ambiguous


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [("24,7 mGy", 24.7, "mGy"), ("1.234,5 cGy·cm²", 1234.5, "cGy·cm²"), ("80kg", 80.0, "kg"), (" 350 mGy*cm ", 350.0, "mGy*cm")],
)
def test_unit_written_after_the_number(text, value, unit):
    parsed = parse_number(text)
    assert parsed.value == pytest.approx(value)
    assert parsed.unit == unit


@pytest.mark.parametrize("text", ["", "abc", "n.a.", "-", "kg"])
def test_text_without_a_number_is_refused(text):
    with pytest.raises(ValueError):
        parse_number(text)


@pytest.mark.parametrize("body", ["1,2,3", "1.2.3", "1.234.5,6,7"])
def test_separators_that_fit_no_notation_are_refused(body):
    with pytest.raises(ValueError):
        shown_notation(body)


def test_sheet_notation_is_what_most_unambiguous_numbers_show():
    german = ["12,5", "1.234,5", "1.234", "80", "0,7"]
    english = ["12.5", "1,234.5", "1,234", "80", "0.7"]
    assert detect_notation(german) == "de"
    assert detect_notation(english) == "en"
    assert detect_notation(["1.234", "80", "abc"]) is None
    assert detect_notation(german + english) is None
