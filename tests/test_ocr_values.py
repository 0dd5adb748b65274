"""Numbers, units and times as a dose-report screen prints them, what the crop shows, and which reading is trusted."""

from __future__ import annotations

import types

import numpy as np
import pytest
from ocr_truth import EN, read
from PIL import Image, ImageDraw

from drl_analysis.ocr import engines, glyphs, layouts, notation, reader, trust, values
from drl_analysis.synthetic import screens

DAP_UNITS = EN["dap_total_gycm2"].units

# --------------------------------------------------------------------------- number formats


def test_thousands_and_decimals_follow_the_screen_language():
    assert read("1,765 mGy", "air_kerma_total_mgy", "en").value == 1765
    assert read("1.765 mGy", "air_kerma_total_mgy", "de").value == 1765
    assert read("24.7 min", "fluoro_time_min", "en").value == pytest.approx(24.7)
    assert read("24,7 min", "fluoro_time_min", "de").value == pytest.approx(24.7)
    # The same text on a German screen is a decimal number: 1.765 mGy, printed with 3 decimals.
    assert read("1,765 Gy", "air_kerma_total_mgy", "de").value == pytest.approx(1765.0)


@pytest.mark.parametrize("text, notation, value", [
    ("1,234.5 mGy", "en", 1234.5), ("1.234,5 mGy", "de", 1234.5), ("1 234,5 mGy", "de", 1234.5),
    ("1 234.5 mGy", "en", 1234.5), ("12 345 mGy", "de", 12345.0), ("1234,567 mGy", "de", 1234.567),
    ("0.125 mGy", "en", 0.125), ("0,125 mGy", "de", 0.125), ("81.7 mGy", "en", 81.7), ("109 mGy", "en", 109.0),
    # The text shows its notation whatever the screen's: both separators, or decimals other than three.
    ("1,234.5 mGy", "de", 1234.5), ("12,5 mGy", "en", 12.5),
])
def test_numbers_with_0_to_3_decimals_and_thousands_separators_of_both_notations(text, notation, value):
    reading = read(text, "air_kerma_total_mgy", notation)
    assert reading.valid and reading.value == pytest.approx(value)


@pytest.mark.parametrize(
    "text, notation",
    [("445 Gy·cm²", "en"), ("445,000 mGy x cm2", "en"), ("44.500 cGy·cm²", "de"), ("44,500 µGy m²", "en")],
)
def test_dap_in_every_screen_unit_becomes_gray_square_centimetres(text, notation):
    assert read(text, "dap_total_gycm2", notation).value == pytest.approx(445.0)


@pytest.mark.parametrize("text", ["24.7 min", "24:42 mm:ss", "24:42 min", "24:42", "0:24:42", "00:24:42 hh:mm:ss",
                                  "1482 s", "1,482 s"])
def test_fluoroscopy_time_becomes_minutes(text):
    assert read(text, "fluoro_time_min").value == pytest.approx(24.7)


def test_clock_times_must_be_clocks():
    assert read("1:02:03", "fluoro_time_min").value == pytest.approx(62.05)
    assert read("125:30 mm:ss", "fluoro_time_min").value == pytest.approx(125.5)
    assert not read("12:61", "fluoro_time_min").valid
    assert not read("1:02:03 mm:ss", "fluoro_time_min").valid  # three parts are no minutes and seconds
    assert not read("12:21 hh:mm:ss", "fluoro_time_min").valid
    assert not read("12:21 mGy", "fluoro_time_min").valid


def test_counts_are_whole_numbers_without_a_unit():
    assert read("1,234", "exposure_images").value == 1234
    assert read("1.234", "exposure_images", "de").value == 1234
    assert read("1 234", "exposure_images").value == 1234
    assert not read("12,5", "exposure_series").valid
    assert not read("1]", "exposure_series").valid  # 11 with its second digit misread


def test_the_layouts_decimals_are_a_hint_not_a_rule():
    # 27.0 printed "27", a total "109", another screen "81.73": taken, marked unusual.
    for text in ("27 Gy cm2", "81.73 Gy cm2", "7.5 Gy cm2", "109.0 Gy cm2"):
        reading = read(text, "dap_exposure_gycm2")
        assert reading.valid and not reading.usual, text
    assert read("7.56 Gy cm2", "dap_exposure_gycm2").usual and read("109 Gy cm2", "dap_exposure_gycm2").usual
    assert read("30.4 min", "fluoro_time_min").usual and not read("304 min", "fluoro_time_min").usual


def test_a_leading_zero_is_a_lost_decimal_point():
    assert "leading zero" in read("05 mGy", "air_kerma_lateral_mgy").problem
    assert read("0 mGy", "air_kerma_lateral_mgy").value == 0
    assert read("0.5 mGy", "air_kerma_lateral_mgy").value == 0.5


def test_a_number_that_reads_differently_in_the_other_notation_keeps_both_values():
    reading = read("1,758 cGy cm2", "dap_total_gycm2", "de")
    assert reading.value == pytest.approx(0.01758) and reading.alternative == pytest.approx(17.58)
    assert read("1,758.5 cGy cm2", "dap_total_gycm2", "de").alternative is None


def test_misread_signs_and_letters_are_not_taken_for_digits_silently():
    assert not read("$25", "exposure_images").valid
    zero = read("O mGy", "air_kerma_lateral_mgy")
    assert zero.value == 0 and zero.conf <= 50  # taken, but only if another reading agrees


def test_a_number_split_into_words_is_joined():
    words = [values.Word(0, 10, "1", 90), values.Word(16, 40, "234,5", 90), values.Word(50, 80, "mGy", 90)]
    assert values.number_words(words) == 2 and values.words_text(words) == "1 234,5 mGy"
    words = [values.Word(0, 10, "188", 90), values.Word(12, 14, ",", 90), values.Word(16, 40, "082", 90)]
    assert values.number_words(words) == 3 and values.words_text(words) == "188,082"
    words = [values.Word(0, 20, "12", 90), values.Word(30, 60, "mGy", 90)]
    assert values.number_words(words) == 1


# --------------------------------------------------------------------------- units


def test_units_as_tesseract_misreads_them():
    assert values.match_unit("Gy-cm?", DAP_UNITS) == "Gy·cm²"
    assert values.match_unit("cGyxcm?", DAP_UNITS) == "cGy·cm²"
    assert values.match_unit("pGy x m?", DAP_UNITS) == "µGy·m²"
    assert values.match_unit("mGy", EN["air_kerma_total_mgy"].units) == "mGy"
    # "Gy m²" is one letter from Gy·cm² and from µGy·m²: undecided, unless a neighbour row tells.
    assert values.match_unit("Gy m2", DAP_UNITS) is None
    assert values.match_unit("Gy m2", DAP_UNITS, prefer="µGy·m²") == "µGy·m²"
    # ... or the plausible range: 8722 Gy·cm² is no procedure, 8722 µGy·m² is.
    guessed = read("8.722 Gy x m2", "dap_exposure_gycm2", "de")
    assert guessed.unit == "µGy·m²" and guessed.value == pytest.approx(87.22) and guessed.conf <= 80


@pytest.mark.parametrize("text, unit", [("Gy c", "Gy·cm²"), ("Gyc", "Gy·cm²"), ("Gy·c", "Gy·cm²"),
                                        ("mGycm", "mGy·cm²"), ("mGy c", "mGy·cm²"), ("cGy c", "cGy·cm²"),
                                        ("uGy", "µGy·m²"), ("mGy", "mGy·cm²")])
def test_units_read_in_part_resolve_when_only_one_fits(text, unit):
    assert values.match_unit(text, DAP_UNITS) == unit
    assert read(f"27.5 {text}", "dap_total_gycm2").unit == unit


@pytest.mark.parametrize("text", ["Gy", "G", "m", "cm", "Gy m"])
def test_units_read_in_part_stay_undecided_when_two_fit(text):
    # "Gy" begins Gy·cm² and, its µ lost, µGy·m²: a factor 100 apart.
    assert values.match_unit(text, DAP_UNITS) is None


def test_time_and_dose_units_in_part():
    time_units = EN["fluoro_time_min"].units
    assert values.match_unit("mi", time_units) == "min"
    assert values.match_unit("hh:mm:s", time_units) == "hh:mm:ss"
    assert values.match_unit("mG", EN["air_kerma_total_mgy"].units) == "mGy"


# --------------------------------------------------------------------------- sums


def test_sum_checks_allow_display_rounding_and_nothing_more():
    total, exposure, fluoro = (read(t, "dap_total_gycm2") for t in ("445 Gy cm2", "135 Gy cm2", "310 Gy cm2"))
    assert values.check_sum(total, [exposure, fluoro])
    assert not values.check_sum(total, [exposure, read("312 Gy cm2", "dap_fluoro_gycm2")])
    # 24.7 shown for 12.34 + 12.36 = 24.70; 12.3 + 12.4 are what the screen prints.
    t, a, b = (read(x, "dap_exposure_gycm2") for x in ("24.7 Gy cm2", "12.3 Gy cm2", "12.4 Gy cm2"))
    assert values.check_sum(t, [a, b])
    assert not values.check_sum(t, [a, read("12.6 Gy cm2", "dap_exposure_gycm2")])
    kerma = [read(x, "air_kerma_total_mgy") for x in ("1,765 mGy", "1,765 mGy", "0 mGy")]
    assert values.check_sum(kerma[0], kerma[1:])
    # Decimals as printed: "109" = "27" + "81.7" (27.3 + 81.7 = 109.0, each rounded on its own).
    assert values.check_sum(*(lambda r: (r[0], r[1:]))([read(x, "dap_total_gycm2")
                                                        for x in ("109 Gy cm2", "27 Gy cm2", "81.7 Gy cm2")]))


# --------------------------------------------------------------------------- which reading is trusted

LAYOUT = layouts.load_layout("clarityiq_en")


def settle(texts: dict[str, list[tuple[str, float]]], final: bool = False) -> trust.Settlement:
    """Settle readings given as texts with confidences; nothing is read again (``final``: nor will be)."""
    readings = {c: [read(t, c, conf=conf, variant=i) for i, (t, conf) in enumerate(ts)] for c, ts in texts.items()}
    return trust.settle(LAYOUT, set(texts), readings, retry=lambda field: False, final=final)


SCREEN = {
    "dap_total_gycm2": [("109 Gy cm2", 97)], "dap_exposure_gycm2": [("27 Gy cm2", 97)],
    "dap_fluoro_gycm2": [("81.7 Gy cm2", 97)], "exposure_series": [("7", 97), ("7", 96)],
    "exposure_images": [("210", 97)], "fluoro_time_min": [("12.3 min", 97)],
    "air_kerma_total_mgy": [("715 mGy", 97)], "air_kerma_frontal_mgy": [("715 mGy", 97)],
    "air_kerma_lateral_mgy": [("0 mGy", 97)],
}


def test_other_decimals_are_taken_where_the_screens_sum_holds():
    settled = settle(SCREEN)
    assert settled.doubts == [] and settled.consistent
    assert settled.chosen["dap_total_gycm2"].value == 109


def test_a_lost_decimal_separator_is_put_back_where_the_sum_alone_puts_it():
    # 27.3 read as "273" (its comma joined to a digit): the sum holds with 27.3 only, not 2.73.
    settled = settle({**SCREEN, "dap_exposure_gycm2": [("273 Gy cm2", 97)]})
    assert settled.doubts == [] and settled.consistent
    assert settled.chosen["dap_exposure_gycm2"].value == 27.3


def test_separators_lost_in_two_terms_are_put_back_where_the_sum_alone_puts_them():
    # "151,258 = 86,958 + 64,3" read "151258" (out of range), "86.958" and "643" (read alike three times):
    # the sum holds only with 151.258 and 64.3.
    screen = {**SCREEN, "dap_total_gycm2": [("151258 Gy cm2", 60), ("151258 Gy cm2", 63)],
              "dap_exposure_gycm2": [("86.958 Gy cm2", 92), ("86.958 Gy cm2", 91)],
              "dap_fluoro_gycm2": [("643 Gy cm2", 97), ("643 Gy cm2", 96), ("643 Gy cm2", 95)]}
    settled = settle(screen)
    assert settled.chosen["dap_total_gycm2"].value == pytest.approx(151.258)
    assert settled.chosen["dap_fluoro_gycm2"].value == pytest.approx(64.3)
    assert settled.doubts == [] and settled.consistent
    # "1824 = 1405 + 419" read for "1,824 = 1,405 + 4,19" Gy: every term would move, and a tenth of
    # each would hold as well (only the plausible range rules out 182.4 Gy): nothing is taken.
    kerma = {**SCREEN, "air_kerma_total_mgy": [("1824 Gy", 97), ("1824 Gy", 96)],
             "air_kerma_frontal_mgy": [("1405 Gy", 97), ("1405 Gy", 96)],
             "air_kerma_lateral_mgy": [("419 Gy", 97), ("419 Gy", 96)]}
    settled = settle(kerma)
    assert not {"air_kerma_total_mgy", "air_kerma_frontal_mgy", "air_kerma_lateral_mgy"} & set(settled.chosen)


def test_of_two_places_the_one_that_moves_fewer_terms_is_taken():
    # "517 = 5173 + 0" (frontal 517,3): 517.3 alone fits; 51.7 = 51.73 would move two terms.
    screen = {**SCREEN, "air_kerma_total_mgy": [("517 mGy", 95), ("517 mGy", 96)],
              "air_kerma_frontal_mgy": [("5173 mGy", 95), ("5173 mGy", 89)],
              "air_kerma_lateral_mgy": [("0 mGy", 96), ("0 mGy", 95)]}
    settled = settle(screen)
    assert settled.chosen["air_kerma_frontal_mgy"].value == pytest.approx(517.3)
    assert settled.chosen["air_kerma_total_mgy"].value == 517
    assert settled.doubts == []


def test_other_decimals_break_no_sum_and_are_not_taken():
    # "274" for 27.3: the sum holds neither with 27.4 (109.1) nor 2.74; no other reading fits.
    settled = settle({**SCREEN, "dap_exposure_gycm2": [("284 Gy cm2", 97)]})
    assert set(settled.doubtful) == {"dap_total_gycm2", "dap_exposure_gycm2", "dap_fluoro_gycm2"}
    assert settled.consistent is False


def test_a_lost_separator_is_not_put_back_from_one_unsure_reading():
    settled = settle({**SCREEN, "dap_exposure_gycm2": [("273 Gy cm2", 80)]})
    assert "dap_exposure_gycm2" in settled.doubtful


def test_a_separator_read_twice_is_not_outvoted_by_its_loss():
    # "982,3" read in two variants, "9823" (the comma joined to the 3) in three: the sum decides with 982.3.
    screen = {**SCREEN, "air_kerma_total_mgy": [("982.3 mGy", 90), ("982.3 mGy", 88), ("9823 mGy", 95),
                                                ("9823 mGy", 74), ("9823 mGy", 61)],
              "air_kerma_frontal_mgy": [("982.3 mGy", 97)]}
    settled = settle(screen)
    assert settled.chosen["air_kerma_total_mgy"].value == 982.3
    assert settled.doubts == [] and settled.consistent


def test_other_decimals_without_a_sum_need_two_confident_readings():
    once = settle({**SCREEN, "fluoro_time_min": [("12.35 min", 97)]})
    assert set(once.doubtful) == {"fluoro_time_min"}
    twice = settle({**SCREEN, "fluoro_time_min": [("12.35 min", 97), ("12.35 min", 96)]})
    assert twice.doubts == []
    # A colon read as a comma agrees with itself at low confidence: "10,10 min" for 10:10.
    colon = settle({**SCREEN, "fluoro_time_min": [("10,10 min", 66), ("10.10 min", 64)]})
    assert set(colon.doubtful) == {"fluoro_time_min"}


def test_a_reading_contested_by_another_value_is_doubtful():
    settled = settle({**SCREEN, "exposure_images": [("210", 97), ("216", 97)]})
    assert "exposure_images" in settled.doubtful


def test_a_count_every_variant_misreads_alike_is_not_trusted_on_weak_agreement():
    # A thin serif "775" read "715" by three variants with confidences 37, 73 and 43, and "7715" by two:
    # no sum watches a count, so weakly agreeing readings are no proof.
    three = settle({**SCREEN, "exposure_images": [("715", 37), ("715", 73), ("715", 43)]})
    assert set(three.doubtful) == {"exposure_images"}
    contested = settle({**SCREEN, "exposure_images": [("715", 37), ("715", 73), ("715", 43), ("7715", 78),
                                                       ("7715", 67)]})
    assert "exposure_images" in contested.doubtful
    # Two confident readings, or four that agree with nothing against them, are taken.
    assert settle({**SCREEN, "exposure_images": [("775", 88), ("775", 86)]}).doubts == []
    assert settle({**SCREEN, "exposure_images": [("408", 73), ("408", 14), ("408", 66), ("408", 52)]}).doubts == []


def test_a_zero_read_by_one_variant_where_the_others_read_a_six_is_not_outvoted():
    # DejaVu Sans Mono's dotted zero in "0:13:11" read "6:13:11" by three variants: 373 minutes.
    clock = [("6:13:11 hh:mm:ss", 94), ("6:13:11 hh:mm:ss", 75), ("6:13:11 hh:mm:ss", 68), ("0:13:11 hh:mm:ss", 69)]
    assert "fluoro_time_min" in settle({**SCREEN, "fluoro_time_min": clock}).doubtful
    # Readings that differ otherwise are outvoted as before.
    other = [("6:13:11 hh:mm:ss", 96), ("6:13:11 hh:mm:ss", 95), ("6:13:11 hh:mm:ss", 94), ("6:18:11 hh:mm:ss", 30)]
    assert settle({**SCREEN, "fluoro_time_min": other}).doubts == []


def test_a_time_whose_separator_may_be_lost_needs_more_than_two_variants():
    # "14,3 min" in a serif at 13 px: the comma joined to the 3, read "143" by four variants and
    # "14,3" by the fifth. No sum watches the time: the reading with the separator contests.
    lost = [("143 min", 96), ("143 min", 97), ("143 min", 92), ("14.3 min", 87), ("143 min", 85)]
    assert "fluoro_time_min" in settle({**SCREEN, "fluoro_time_min": lost}).doubtful
    # A whole number of minutes where the layout prints decimals is taken once four variants agree.
    assert "fluoro_time_min" in settle({**SCREEN, "fluoro_time_min": lost[:2]}).doubtful
    assert settle({**SCREEN, "fluoro_time_min": [lost[i] for i in (0, 1, 2, 4)]}).doubts == []


def test_a_total_and_its_one_part_printed_alike_do_not_vouch_for_each_other():
    # Lateral 0: total and frontal print the same "3 023", misread "3033" alike in both rows (STIXGeneral at
    # half size). The sum holds and proves nothing; each must be safe by its own readings.
    alike = {**SCREEN, "air_kerma_total_mgy": [("3033 mGy", 74), ("3033 mGy", 72)],
             "air_kerma_frontal_mgy": [("3033 mGy", 76), ("3033 mGy", 83), ("3033 mGy", 70)],
             "air_kerma_lateral_mgy": [("0 mGy", 88), ("0 mGy", 75)]}
    assert {"air_kerma_total_mgy", "air_kerma_frontal_mgy"} <= set(settle(alike).doubtful)
    # One row read confidently: the sum then vouches for the other.
    sure = {**alike, "air_kerma_frontal_mgy": [("3023 mGy", 92), ("3023 mGy", 90)],
            "air_kerma_total_mgy": [("3023 mGy", 74), ("3023 mGy", 72)]}
    settled = settle(sure)
    assert settled.doubts == [] and settled.chosen["air_kerma_total_mgy"].value == 3023


def test_a_leading_zero_fixes_where_the_lost_points_of_a_sum_go():
    # "1,824 = 1,405 + 0,419 Gy" in a serif at half size, every comma lost. "0419" can only be 0.419:
    # it fixes the scale, and the sum puts the others' points (1.824 and 1.405, not 18.24 and 14.05).
    lost = {**SCREEN, "air_kerma_total_mgy": [("1824 Gy", 76), ("1824 Gy", 90)],
            "air_kerma_frontal_mgy": [("1405 Gy", 80), ("1405 Gy", 67)],
            "air_kerma_lateral_mgy": [("0419 Gy", 79), ("0419 Gy", 72)]}
    settled = settle(lost)
    assert settled.doubts == []
    assert [settled.chosen[c].value for c in ("air_kerma_total_mgy", "air_kerma_frontal_mgy",
                                               "air_kerma_lateral_mgy")] == pytest.approx([1824, 1405, 419])
    # Without a sum to confirm it the leading zero is no value: marked.
    alone = settle({**lost, "air_kerma_total_mgy": [("2217 Gy", 76), ("2217 Gy", 90)]})
    assert "air_kerma_lateral_mgy" not in alone.chosen
    # A count never has a point.
    assert not read("0419", "exposure_images").zero_point


def test_a_separator_lost_alike_in_every_row_of_a_quantity_is_marked_by_the_field_size():
    # "419,3 mGy" in a total and its copy (lateral 0), the comma lost in both rows at confidence 95-96:
    # no sum watches a copy. 48.19 Gy·cm² on 4193 mGy is an X-ray field of 11.5 cm²; 419.3 gives 115.
    dap = {"dap_total_gycm2": [("48.19 Gy cm2", 97)], "dap_exposure_gycm2": [("38.84 Gy cm2", 97)],
           "dap_fluoro_gycm2": [("9.35 Gy cm2", 97)]}
    copy = {**SCREEN, **dap, "air_kerma_total_mgy": [("4193 mGy", 95)],
            "air_kerma_frontal_mgy": [("4193 mGy", 96), ("4193 mGy", 49)]}
    settled = settle(copy, final=True)
    assert {"air_kerma_total_mgy", "air_kerma_frontal_mgy"} <= set(settled.doubtful)
    assert "field of 11.5 cm²" in settled.doubtful["air_kerma_total_mgy"]
    # "601,2 = 409,2 + 192,0" read without commas: the sum holds at a tenth of each as well.
    every = {**copy, "air_kerma_total_mgy": [("6012 mGy", 96)] * 2, "air_kerma_frontal_mgy": [("4092 mGy", 96)] * 2,
             "air_kerma_lateral_mgy": [("1920 mGy", 96)] * 2}
    settled = settle(every, final=True)
    assert set(settled.doubtful) == {"air_kerma_total_mgy", "air_kerma_frontal_mgy", "air_kerma_lateral_mgy"}
    # Read right, nothing is marked; nor is a number showing its decimals, whatever the field size.
    for kerma in ("419.3 mGy", "4193.0 mGy"):
        right = {**copy, "air_kerma_total_mgy": [(kerma, 96)] * 2, "air_kerma_frontal_mgy": [(kerma, 96)] * 2}
        assert settle(right, final=True).doubts == [], kerma


def test_scattered_confident_readings_contest_a_field_no_sum_watches():
    # "01:30:01" in Liberation Mono at 13 px: three variants read "01:30:04", the other two "01:30:02" and
    # "01:30:01", each confidently. No single other value comes near the three, but together they do.
    clock = [("01:30:04 hh:mm:ss", 88), ("01:30:02 hh:mm:ss", 74), ("01:30:04 hh:mm:ss", 81),
             ("01:30:01 hh:mm:ss", 78), ("01:30:04 hh:mm:ss", 84)]
    assert "fluoro_time_min" in settle({**SCREEN, "fluoro_time_min": clock}, final=True).doubtful
    # One stray reading, or dissent Tesseract itself doubts, leaves three agreeing readings standing.
    for stray in ([clock[0], clock[1], clock[2], clock[4]], [*clock[:1], ("01:30:02 hh:mm:ss", 40), *clock[2:3],
                                                              ("01:30:01 hh:mm:ss", 30), clock[4]]):
        settled = settle({**SCREEN, "fluoro_time_min": stray}, final=True)
        assert settled.doubts == [] and settled.chosen["fluoro_time_min"].value == pytest.approx(90 + 4 / 60)


def test_a_decimal_separator_read_as_a_thousands_separator_is_put_back_where_the_sum_puts_it():
    # "1.007,427 mGy" on a German screen read "1.007.427" by four variants: 1,007,427 mGy, out of range.
    # Its digits are sure; the sum with "1.007,43 + 0" puts the decimal separator before the last three.
    misread = {**SCREEN, "air_kerma_total_mgy": [("1,007,427 mGy", 83), ("1,007,427 mGy", 76)],
               "air_kerma_frontal_mgy": [("1,007.43 mGy", 80), ("1,007.43 mGy", 90)]}
    settled = settle(misread, final=True)
    assert settled.doubts == [] and settled.chosen["air_kerma_total_mgy"].value == pytest.approx(1007.427)
    # In range, a grouped whole number is what the screen prints: the failing sum marks it.
    assert "air_kerma_total_mgy" in settle({**misread, "air_kerma_total_mgy": [("1,070 mGy", 90)] * 2},
                                           final=True).doubtful


def test_a_group_space_read_as_a_point_gives_way_to_the_reading_the_sum_holds_with():
    # "22 410 mGy·cm²" read "22.410" by three variants (22.41) and "22 410" by two (22410): the sum
    # 35 519.9 = 13 110 + 22 410 holds with the second, read twice confidently.
    space = {**SCREEN, "dap_total_gycm2": [("35 519.9 mGy cm2", 90), ("35 519.9 mGy cm2", 85)],
             "dap_exposure_gycm2": [("13110 mGy cm2", 97), ("13110 mGy cm2", 90)],
             "dap_fluoro_gycm2": [("22.410 mGy cm2", 88), ("22 410 mGy cm2", 90), ("22.410 mGy cm2", 75),
                                  ("22.410 mGy cm2", 75), ("22 410 mGy cm2", 93)]}
    settled = settle(space, final=True)
    assert settled.doubts == [] and settled.chosen["dap_fluoro_gycm2"].value == pytest.approx(22.41)
    # Read once, or at low confidence, the fitting reading is taken but not trusted.
    once = {**space, "dap_fluoro_gycm2": [r for r in space["dap_fluoro_gycm2"] if r[1] != 93]}
    assert "dap_fluoro_gycm2" in settle(once, final=True).doubtful


DE_LAYOUT = layouts.load_layout("clarityiq_de")


def test_a_value_out_of_range_in_one_notation_does_not_decide_the_screens_notation_twice():
    # A German screen ("80,6 mGy") whose DAP unit lost its prefix ("cGy" read "Gy"): "5.470" is
    # 5470 Gy·cm² (out of range) in German and 5.47 in English. The sums hold in both notations, so
    # the range's one vote against the shown comma's leaves the notation unclear: marked, not taken.
    texts = {"dap_total_gycm2": "5.470 Gy cm2", "dap_exposure_gycm2": "1.915 Gy cm2",
             "dap_fluoro_gycm2": "3.555 Gy cm2", "air_kerma_total_mgy": "426 mGy",
             "air_kerma_frontal_mgy": "346 mGy", "air_kerma_lateral_mgy": "80,6 mGy"}

    def parse(notation):
        return {c: [read(t, c, "de" if notation == "de" else "en", conf=96)] if notation == "en"
                else [values.parse_reading(t, DE_LAYOUT.field(c), "de", conf=96)] for c, t in texts.items()}

    readings, _, basis = notation.read_in_screen_notation(DE_LAYOUT, parse)
    assert basis == "unclear"
    for column in ("dap_exposure_gycm2", "dap_fluoro_gycm2"):
        assert "notation is unclear" in readings[column][0].doubt
    settled = trust.settle(DE_LAYOUT, set(texts), readings, retry=lambda field: False)
    assert {"dap_exposure_gycm2", "dap_fluoro_gycm2"} <= set(settled.doubtful)


def test_a_number_is_not_given_in_the_layouts_notation_when_the_screen_shows_none():
    # A German layout whose screen prints English notation: "4.876 mGy·cm²" is 4876 mGy·cm² in German
    # (no decimals, as the layout usually prints them) and 4.876 in English. No number shows the
    # notation: marked, never given in the layout language's notation.
    texts = {"dap_total_gycm2": [("4.876 mGy cm2", 96)], "dap_exposure_gycm2": [("2.502 mGy cm2", 96)],
             "dap_fluoro_gycm2": [("2.374 mGy cm2", 96)], "fluoro_time_min": [("9:08 mm:ss", 96)],
             "air_kerma_total_mgy": [("432 mGy", 96)], "air_kerma_frontal_mgy": [("247 mGy", 96)],
             "air_kerma_lateral_mgy": [("185 mGy", 96)]}

    def doubts(texts):
        def parse(notation):
            return {c: [values.parse_reading(t, DE_LAYOUT.field(c), notation, conf=conf, variant=i)
                        for i, (t, conf) in enumerate(ts)] for c, ts in texts.items()}

        assert parse("de")["dap_total_gycm2"][0].usual  # the hint that used to decide
        # Nor does the field size: 4.876 Gy·cm² on 432 mGy is an 11 cm² field, 4.876 mGy·cm² 0.011 cm².
        readings, _, _ = notation.read_in_screen_notation(DE_LAYOUT, parse)
        return {c: readings[c][0].doubt for c in ("dap_total_gycm2", "dap_exposure_gycm2", "dap_fluoro_gycm2")}

    assert all("notation is unclear" in d for d in doubts(texts).values())
    # A comma read as a point by one variant ("14.5" and "14,5") casts no vote, nor does a speck after a
    # number ("432."): the screen stays unclear.
    noisy = {**texts, "fluoro_time_min": [("14.5 min", 97), ("14,5 min", 90)],
             "air_kerma_total_mgy": [("432. mGy", 96)]}
    assert all("notation is unclear" in d for d in doubts(noisy).values())


def _notation_of(texts: dict[str, str], layout=DE_LAYOUT):
    def parse(notation):
        return {c: [values.parse_reading(t, layout.field(c), notation, conf=96)] for c, t in texts.items()}
    return notation.read_in_screen_notation(layout, parse)


#: A German screen none of whose numbers shows the notation: "11,643 cGy cm²" is 116.43 Gy·cm² in English
#: and 0.11643 in German; the sums hold in both.
NO_NOTATION = {"dap_total_gycm2": "11,643 cGy cm2", "dap_exposure_gycm2": "5,732 cGy cm2",
               "dap_fluoro_gycm2": "5,911 cGy cm2", "fluoro_time_min": "9:08 mm:ss",
               "air_kerma_total_mgy": "611 mGy", "air_kerma_frontal_mgy": "611 mGy", "air_kerma_lateral_mgy": "0 mGy"}


def test_the_field_size_confirms_the_layouts_notation_or_leaves_the_screen_unclear():
    # German: 0.116 Gy·cm² on 611 mGy is a 0.19 cm² field; English gives 191 cm². The field size speaks for
    # English against the layout's language: taken in English, still marked.
    readings, used, basis = _notation_of(NO_NOTATION)
    assert (used, basis) == ("en", "unclear")
    assert readings["dap_total_gycm2"][0].value == pytest.approx(116.43)
    assert "taken as English" in readings["dap_total_gycm2"][0].doubt
    # On an English layout the two agree: taken, with the decision named.
    en_layout = layouts.load_layout("clarityiq_en")
    readings, used, basis = _notation_of(NO_NOTATION, en_layout)
    assert (used, basis) == ("en", "field size")
    assert readings["dap_total_gycm2"][0].value == pytest.approx(116.43) and readings["dap_total_gycm2"][0].doubt == ""
    # A field size plausible in neither (6 and 6,000 cm² per the notation): unclear, marked.
    odd = {**NO_NOTATION, "air_kerma_total_mgy": "194 mGy", "air_kerma_frontal_mgy": "194 mGy"}
    readings, used, basis = _notation_of({**odd, "dap_total_gycm2": "116,430 cGy cm2",
                                          "dap_exposure_gycm2": "57,320 cGy cm2",
                                          "dap_fluoro_gycm2": "59,110 cGy cm2"}, en_layout)
    assert basis == "unclear" and "notation is unclear" in readings["dap_total_gycm2"][0].doubt
    # A number showing its notation needs no field size.
    _, used, basis = _notation_of({**NO_NOTATION, "fluoro_time_min": "14,5 min", "air_kerma_lateral_mgy": "0,0 mGy",
                                   "air_kerma_frontal_mgy": "611,0 mGy"})
    assert (used, basis) == ("de", "numbers")


def test_a_count_or_seconds_with_a_thousands_separator_show_the_notation():
    # With no air kerma the field size tells nothing: the screen is unclear...
    no_kerma = {**NO_NOTATION, "air_kerma_total_mgy": "0 mGy", "air_kerma_frontal_mgy": "0 mGy"}
    assert _notation_of(no_kerma)[2] == "unclear"
    # ...unless a whole number groups its thousands: 1,056 images, 3,795 s (never 3.795 seconds).
    for column, text in (("exposure_images", "1,056"), ("fluoro_time_min", "3,795 s")):
        readings, used, basis = _notation_of({**no_kerma, column: text})
        assert (used, basis) == ("en", "numbers"), column
        assert readings["dap_total_gycm2"][0].value == pytest.approx(116.43) and not readings["dap_total_gycm2"][0].doubt
    # In minutes "3,795" has decimals (3,795 minutes are more than a day), "1,195" may be either.
    assert _notation_of({**no_kerma, "fluoro_time_min": "3,795 min"})[1] == "de"
    assert _notation_of({**no_kerma, "fluoro_time_min": "1,195 min"})[2] == "unclear"


def test_one_rows_notation_against_the_field_size_marks_the_numbers_that_depend_on_it():
    # An English screen: "1.99 Gy" read "1,99" by both variants of the frontal row (one German vote), while
    # "309,747 mGy·cm²" is 0.31 Gy·cm² in German: a field of 0.16 cm² on 1.99 Gy; in English 156 cm².
    en_layout = layouts.load_layout("clarityiq_en")
    texts = {"dap_total_gycm2": ["309,747 mGy cm2"], "dap_exposure_gycm2": ["185,422 mGy cm2"],
             "dap_fluoro_gycm2": ["124,325 mGy cm2"], "fluoro_time_min": ["9:07 mm:ss"],
             "air_kerma_total_mgy": ["1,99 Gy", "1.99 Gy"], "air_kerma_frontal_mgy": ["1,99 Gy", "1,99 Gy"],
             "air_kerma_lateral_mgy": ["0 Gy"], "exposure_series": ["34"], "exposure_images": ["374"]}

    def parse(used):
        return {c: [values.parse_reading(t, en_layout.field(c), used, conf=96, variant=i) for i, t in enumerate(ts)]
                for c, ts in texts.items()}

    readings, used, basis = notation.read_in_screen_notation(en_layout, parse)
    assert (used, basis) == ("de", notation.AGAINST_FIELD)
    assert all(readings[c][0].doubt == "" for c in texts)  # read on: another variant may settle it
    # Once reading ends, the numbers that depend on the notation are marked.
    settled = trust.settle(en_layout, set(texts), readings, retry=lambda field: False, final=True)
    report = types.SimpleNamespace(layout=en_layout, problems=[], readings=readings, rows={}, page=None,
                                   notation=used, notation_from=basis)
    row = reader._output_row(report, settled, {}, crops=False)
    assert row["needs_review"] and row["notation_from"] == notation.AGAINST_FIELD
    assert set(row["review_fields"].split(", ")) == {"dap_total_gycm2", "dap_exposure_gycm2", "dap_fluoro_gycm2"}
    # Two rows showing German outweigh the field size (the screen may print air kerma and DAP of no one procedure).
    texts["air_kerma_total_mgy"] = ["1,99 Gy", "1,99 Gy"]
    assert notation.read_in_screen_notation(en_layout, parse)[1:] == ("de", "numbers")


def test_a_time_in_the_other_notation_on_a_clear_screen_is_refused():
    # "10:12 min" in STIXGeneral at 0.59: the colon's upper dot lost, the lower joined to the 0, read "10,12"
    # beside "7.20", "3.32" and "29.175": 10.12 minutes in German, 10.2 on the screen.
    en_layout = layouts.load_layout("clarityiq_en")
    texts = {"dap_total_gycm2": "11 Gy cm2", "dap_exposure_gycm2": "7.20 Gy cm2", "dap_fluoro_gycm2": "3.32 Gy cm2",
             "fluoro_time_min": "10,12 min", "air_kerma_total_mgy": "29.2 mGy",
             "air_kerma_frontal_mgy": "29.175 mGy", "air_kerma_lateral_mgy": "0 mGy"}
    readings, used, basis = _notation_of(texts, en_layout)
    assert (used, basis) == ("en", "numbers")
    time = readings["fluoro_time_min"][0]
    assert not time.valid and "a colon may be read as a separator" in time.problem
    # In the screen's notation it stands; in a field a sum watches, a comma for a point keeps its value.
    assert _notation_of({**texts, "fluoro_time_min": "10.12 min"}, en_layout)[0]["fluoro_time_min"][0].valid
    comma = _notation_of({**texts, "fluoro_time_min": "10.12 min", "dap_exposure_gycm2": "7,20 Gy cm2"}, en_layout)
    assert comma[1:] == ("en", "numbers") and comma[0]["dap_exposure_gycm2"][0].valid


def test_a_clock_read_with_its_colon_is_not_refused_for_a_colons_upper_dot_lost():
    # "9:08 mm:ss" at small sizes: the crop shows the colon's lower dot only (one separator, no colon).
    field = EN["fluoro_time_min"]
    clock = read("9:08 mm:ss", "fluoro_time_min")
    assert reader._shape_problem(clock, field, (1, 0), 0, 3, None) == ""
    # In minutes a colon read where the crop shows a point is refused, as is a colon read as a comma.
    minutes = read("9:08 min", "fluoro_time_min")
    assert "colon" in reader._shape_problem(minutes, field, (1, 0), 0, 3, None)
    assert "colon" in reader._shape_problem(read("10,10 min", "fluoro_time_min"), field, (1, 1), 0, 4, None)


def test_a_unit_whose_prefix_may_be_lost_is_not_taken_for_the_quantity():
    # "54,70 cGy x cm²": Tesseract gives "Gy" with confidence 0 for "cGy" (54.7 Gy·cm², in range, for
    # 0.547). The unit spelled "Gy x cm?" matches Gy·cm² exactly, but a word without the square read
    # unsure may have lost its prefix: the rows of the quantity then read their own units.
    image, cap = number_image("54,70  cGy x cm²", font="DejaVuSerif.ttf", px=30)
    field = DE_LAYOUT.field("dap_total_gycm2")
    request = reader.Request(image, "full", field.column, 0, (0.0, 0.0, float(image.shape[1]), float(image.shape[0])),
                             1.0)
    found = engines.tesseract_library().read(image, "")
    assert [w.text for w in found][1:2] == ["cGy"]
    sure = [engines.Word(w.left, w.right, w.text, 96.0) for w in found]
    lost = [*sure[:1], engines.Word(sure[1].left, sure[1].right, "Gy", 0.0), *sure[2:]]
    unit_read = reader.reading_from_words(field, request, sure, None, "de", cap)
    assert unit_read[0].unit == "cGy·cm²" and unit_read[1] is not None
    prefix_lost = reader.reading_from_words(field, request, lost, None, "de", cap)
    assert prefix_lost[0].value == pytest.approx(54.7) and prefix_lost[1] is None
    # Unsure of the square alone, an exact spelling is taken.
    square = [*sure[:-1], engines.Word(sure[-1].left, sure[-1].right, "cm?", 30.0)]
    assert reader.reading_from_words(field, request, square, None, "de", cap)[1] is not None


# --------------------------------------------------------------------------- what the crop shows


def number_image(text: str, font: str = "DejaVuSans.ttf", px: int = 40) -> tuple[np.ndarray, float]:
    """A dark-on-light crop of ``text`` and its capital height in pixels."""
    style = screens.ScreenStyle(font=font, scale=px / screens.BASE_FONT_PX)
    face = screens._font(style)
    image = Image.new("L", (int(face.getlength(text)) + 2 * px, 2 * px), 255)
    ImageDraw.Draw(image).text((px, px // 2), text, font=face, fill=0)
    cap = face.getbbox("0")[3] - face.getbbox("0")[1]
    return np.asarray(image), float(cap)


@pytest.mark.parametrize("font", ["DejaVuSans.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf"])
def test_the_crop_shows_where_a_separator_stands(font):
    for text, expected in (("30.4", (3, (2,))), ("1,234.5", (5, (1, 4))), ("12:21", (4, (2,))),
                           ("1234", (4, ())), ("1 234", (4, (1,)))):
        image, cap = number_image(text, font)
        assert glyphs.digit_gaps(image, 0, image.shape[1], cap) == expected, (font, text)


def test_the_crop_counts_points_and_colons():
    for text, expected in (("30.4", (1, 0)), ("12:21", (1, 1)), ("1:02:03", (2, 2)), ("1234", (0, 0))):
        image, cap = number_image(text)
        assert glyphs.separators(image, 0, image.shape[1], cap) == expected, text


def test_a_comma_joined_to_its_digit_shows_by_its_tail_in_a_time():
    import cv2

    def tail(text, font, px):
        image, cap = number_image(text, font, px)
        big = cv2.resize(image, None, fx=32 / cap, fy=32 / cap, interpolation=cv2.INTER_CUBIC)
        return glyphs.comma_tail(big, 0, big.shape[1], 32.0)

    # "2,3" in STIXGeneral at 8 px, the comma's tail joined to the 3 and hanging below it, as the crops are
    # scaled up to be read.
    assert tail("2,3", "STIXGeneral.ttf", 8)
    assert not any(tail(text, font, px) for text in ("23", "107", "756") for font, px in
                   (("STIXGeneral.ttf", 8), ("DejaVuSans.ttf", 10), ("DejaVuSerif.ttf", 12), ("STIXGeneral.ttf", 40)))
    # A whole number of minutes where the screen prints decimals is refused when the tail shows; a number
    # read with its decimals, or seconds (printed whole), is not.
    field = EN["fluoro_time_min"]
    assert "comma's tail" in reader._shape_problem(read("23 min", "fluoro_time_min"), field, None, 0, 2, None, True)
    assert reader._shape_problem(read("2.3 min", "fluoro_time_min"), field, None, 0, 2, None, True) == ""
    assert reader._shape_problem(read("23 s", "fluoro_time_min"), field, None, 0, 2, None, True) == ""


def _holes(image: np.ndarray) -> list[int]:
    """Holes of each glyph of a dark-on-light image, left to right."""
    import cv2

    _, ink = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    glyphs_found = []
    for i, (_, _, child, parent) in enumerate(hierarchy[0]):
        if parent == -1:
            n = 0
            while child != -1:
                n, child = n + 1, hierarchy[0][child][0]
            glyphs_found.append((cv2.boundingRect(contours[i])[0], n))
    return [n for _, n in sorted(glyphs_found)]


def test_a_zero_whose_dot_joined_its_ring_loses_the_bar_and_an_eight_keeps_its_waist():
    import cv2

    from drl_analysis.ocr import images

    crop = np.full((30, 60), 255, np.uint8)
    # A zero whose dot blur joined to both walls: two holes one above the other, like an 8.
    cv2.ellipse(crop, (10, 15), (6, 10), 0, 0, 360, 0, 2)
    cv2.line(crop, (4, 15), (16, 15), 0, 2)
    # A zero whose dot joined the ring above and below: two holes side by side.
    cv2.ellipse(crop, (28, 15), (6, 10), 0, 0, 360, 0, 2)
    cv2.line(crop, (28, 5), (28, 25), 0, 2)
    # An 8: two rings that touch at a pinched waist.
    cv2.circle(crop, (46, 9), 5, 0, 2)
    cv2.circle(crop, (46, 20), 6, 0, 2)
    assert _holes(crop) == [2, 2, 2]
    for variant in ({"cap": 20, "binary": True}, {"cap": 20, "sharpen": True}):
        assert _holes(images.prepare(crop.copy(), variant)) == [1, 1, 2], variant
