"""Units of dose quantities and their factors to the canonical units.

Expected factors come from the conversion facts, not from the code:
1 Gy·cm² = 10 dGy·cm² = 100 cGy·cm² = 1000 mGy·cm² = 100 µGy·m², and
1 cGy·cm² = 1 µGy·m²; 1 m² = 10,000 cm².
"""

from __future__ import annotations

import pytest

from drl_analysis.core.units import UnknownUnit, unit_factor
from drl_analysis.ingest.headers import read_header_unit

CGY_CM2_PER = {
    "Gy·cm²": 100.0,
    "dGy·cm²": 10.0,
    "cGy·cm²": 1.0,
    "mGy·cm²": 0.1,
    "µGy·m²": 1.0,
    "uGy*m2": 1.0,
    "Gy·m²": 100.0 * 10_000,
    "mGy·m²": 0.1 * 10_000,
    "µGy·cm²": 1e-4,
}


@pytest.mark.parametrize(("unit", "factor"), sorted(CGY_CM2_PER.items()))
def test_dose_area_product_units_to_cgy_cm2(unit, factor):
    assert unit_factor("dap", unit) == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(
    "spelling",
    ["Gy x cm²", "Gy*cm2", "Gy cm^2", "GY·CM²", "[Gy x cm²]", "Gy.cm²", "Gy×cm²", "Gy⋅cm²"],
)
def test_dap_unit_spellings_of_gray_square_centimetre(spelling):
    assert unit_factor("dap", spelling) == 100.0


def test_micro_gray_square_metre_is_exactly_one_cgy_cm2():
    # A float product 1e-6 * 100 * 1e4 is 0.9999999999999999 unless rounded.
    assert unit_factor("dap", "µGy·m²") == 1.0
    assert unit_factor("dap", "μGy·m²") == 1.0  # Greek mu rather than the micro sign


@pytest.mark.parametrize(
    ("family", "unit", "factor"),
    [
        ("dose", "mGy", 1.0),
        ("dose", "µGy", 0.001),
        ("dose", "Gy", 1000.0),
        ("dose", "mSv", 1.0),  # the template's "AGD [mSv]" means mGy
        ("dlp", "mGy·cm", 1.0),
        ("dlp", "mGy x cm", 1.0),
        ("dlp", "Gy·cm", 1000.0),
        ("dlp", "mGy·m", 100.0),
        ("mass", "kg", 1.0),
        ("mass", "g", 0.001),
        ("mass", "lb", 0.45359237),
        ("age", "Jahre", 1.0),
        ("age", "months", 1 / 12),
        ("age", "Monate", 1 / 12),
        ("length", "cm", 1.0),
        ("length", "mm", 0.1),
    ],
)
def test_other_quantities_to_their_canonical_units(family, unit, factor):
    assert unit_factor(family, unit) == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(("family", "unit"), [("dap", "mGy"), ("dose", "cGy·cm²"), ("dlp", "kg"), ("mass", "Jahre")])
def test_unit_of_another_quantity_is_refused(family, unit):
    with pytest.raises(UnknownUnit):
        unit_factor(family, unit)


def test_template_dap_header_gives_two_names_for_one_unit():
    factor, note = read_header_unit("dap_cgycm2", "cGy x cm² bzw. µGy x m²")
    assert factor == 1.0
    assert note is None


def test_header_alternatives_that_disagree_are_reported_not_guessed():
    factor, note = read_header_unit("dap_cgycm2", "Gy·cm² / cGy·cm²")
    assert factor == 1.0
    assert "disagree" in note


def test_unreadable_header_unit_is_reported():
    factor, note = read_header_unit("dap_cgycm2", "Furlong²")
    assert factor == 1.0
    assert "Furlong" in note
