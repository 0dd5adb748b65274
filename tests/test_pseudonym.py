"""Keyed pseudonyms for data sources and facilities."""

from __future__ import annotations

import re
import stat

import pandas as pd
import pytest

from drl_analysis.core.errors import UserError
from drl_analysis.reporting import pseudonyms as pseudonym
from drl_analysis.reporting.pseudonyms import ENV_VAR, Pseudonymiser, PseudonymKey, find_identifiers, load_key

KEY_A = PseudonymKey.from_text("first key of the authority, 2024")
KEY_B = PseudonymKey.from_text("second key of the authority, 2025")
SOURCES = ["Aerztliche Stelle Nord", "Aerztliche Stelle Sued", "Aerztliche Stelle West"]


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path, monkeypatch):
    """No test may read or create the user's real key file."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)


def facilities_of_three_sources() -> pd.DataFrame:
    return pd.DataFrame(
        [(s, str(f)) for s in SOURCES for f in range(1, 9)], columns=["data_source", "facility_id"]
    )


def test_pseudonyms_are_stable_for_one_key():
    frame = facilities_of_three_sources()
    first = Pseudonymiser(KEY_A).frame(frame)
    # A new run with the same key (a new Pseudonymiser, the key read again) gives the same names.
    again = Pseudonymiser(PseudonymKey.from_text("first key of the authority, 2024")).frame(frame.iloc[::-1])
    assert first.equals(again.iloc[::-1])


def test_pseudonyms_differ_for_another_key():
    frame = facilities_of_three_sources()
    a = Pseudonymiser(KEY_A).frame(frame)
    b = Pseudonymiser(KEY_B).frame(frame)
    assert not set(a["facility_id"]) & set(b["facility_id"])
    assert not set(a["data_source"]) & set(b["data_source"])


def test_facility_ids_repeat_across_sources_but_pseudonyms_do_not():
    frame = facilities_of_three_sources()
    out = Pseudonymiser(KEY_A).frame(frame)
    assert out["facility_id"].nunique() == len(frame) == 24
    assert out["data_source"].nunique() == 3


def test_pseudonyms_hold_no_digit_so_none_reads_like_a_facility_id():
    p = Pseudonymiser(KEY_A)
    names = [p.facility(s, f) for s in SOURCES for f in range(1, 400)] + [p.source(s) for s in SOURCES]
    assert all(re.fullmatch(r"[FS]-[A-HJKMNP-Z]{8}", n) for n in names)


def test_facility_id_read_as_number_or_text_gets_one_pseudonym():
    p = Pseudonymiser(KEY_A)
    assert len({p.facility("Aerztliche Stelle Nord", v) for v in (3, 3.0, "3", " 3 ")}) == 1


def test_pseudonym_of_a_source_differs_from_that_of_a_facility_of_the_same_text():
    assert pseudonym.pseudonym(KEY_A, "data_source", "3")[2:] != pseudonym.pseudonym(KEY_A, "facility", "3")[2:]


def test_key_fingerprint_tells_keys_apart_without_showing_them():
    record = KEY_A.fingerprint()
    assert KEY_A.matches(record) and not KEY_B.matches(record)
    assert re.fullmatch(r"[0-9a-f]{32}", record["fingerprint"]) and record["kdf"] == "scrypt"
    assert KEY_A.fingerprint()["fingerprint"] != record["fingerprint"]  # a new salt each time
    assert "authority" not in repr(KEY_A) and "authority" not in str(record)


def test_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "first key of the authority, 2024")
    key = load_key()
    assert key.matches(KEY_A.fingerprint())
    assert ENV_VAR in key.source


def test_key_file_given_on_the_command_line_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "first key of the authority, 2024")
    path = tmp_path / "key.txt"
    path.write_text("second key of the authority, 2025\n")
    assert load_key(path).matches(KEY_B.fingerprint())


def test_missing_key_file_is_a_user_error_naming_it(tmp_path):
    with pytest.raises(UserError, match="nokey.txt"):
        load_key(tmp_path / "nokey.txt")


def test_short_key_is_refused(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "short")
    with pytest.raises(UserError, match="at least 16"):
        load_key()


def test_without_a_key_one_is_created_once_readable_only_by_its_owner(tmp_path):
    first = load_key()
    path = tmp_path / "config" / "drl-analysis" / "pseudonym.key"
    assert first.created and str(path) in first.source
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_key()
    assert not second.created
    assert second.matches(first.fingerprint())
    assert len(path.read_text().strip()) == 64


def test_without_a_key_and_without_creating_one_the_error_says_how_to_give_one():
    with pytest.raises(UserError, match=ENV_VAR):
        load_key(create=False)


def test_find_identifiers_sees_a_source_name_in_free_text_and_raw_ids_in_id_columns():
    tables = {
        "alerts": pd.DataFrame({"facility_id": ["F-ABCDEFGH", "3"], "note": ["ok", "see Aerztliche Stelle Nord"]}),
    }
    found = find_identifiers(tables, SOURCES, facility_ids=["3"])
    assert any("'facility_id'" in f and "'3'" in f for f in found)
    assert any("'note'" in f and "nord" in f for f in found)


def test_pseudonymised_frame_passes_the_identifier_check():
    p = Pseudonymiser(KEY_A)
    out = p.frame(facilities_of_three_sources())
    sources, facilities = p.originals
    assert find_identifiers({"t": out}, sources, facility_ids=[f for _, f in facilities]) == []
