"""The command line explains itself: help with defaults, allowed values and examples;
every problem of a command line reported at once, with the option or value probably
meant; notebook parameters checked before anything runs; nothing created for a
database or input that is not there."""

from __future__ import annotations

import argparse
import time

import pytest
import yaml

from drl_analysis import cli
from drl_analysis.stats.quantiles import QUANTILE_METHODS


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def help_of(name: str) -> str:
    return " ".join(commands()[name].format_help().split())  # lines joined: argparse wraps at any space


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_explains_each_option_with_default_and_allowed_values(name):
    parser = commands()[name]
    text = help_of(name)
    assert parser.description and len(parser.description) > 20, name
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        label = action.option_strings[-1] if action.option_strings else action.metavar
        assert action.help and len(action.help) > 10, f"{name} {label}: no help"
        if action.choices:
            for choice in action.choices:
                assert str(choice) in text, f"{name} {label}: {choice} not in the help"
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert f"default: {action.default}" in text or "default" in (action.help or ""), \
                f"{name} {label}: default {action.default!r} not in the help"


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_ends_its_help_with_an_example(name):
    epilog = commands()[name].epilog
    assert epilog.startswith("examples:") and f"drl-analysis {name}" in epilog


def test_help_of_drl_and_run_shows_defaults_choices_and_the_new_options():
    drl = help_of("drl")
    assert "(default: 10)" in drl and "(default: 2000)" in drl and "(default: linear)" in drl
    assert all(m in drl for m in QUANTILE_METHODS) and "QUARTILE.EXC" in drl
    run = help_of("run")
    for option in ("--params", "--survey", "--input", "--out", "--years", "--notebooks", "--pseudonym-key-file"):
        assert option in run
    assert "default: the bundled sample" in run and "drl-analysis run --params params.yaml" in run
    top = " ".join(cli.build_parser().format_help().split())
    assert "one of: debug, info, warning, error" in top and "(default: warning)" in top


@pytest.mark.parametrize(("argv", "expected"), [
    (["drl", "--out", "o", "--quantile-method", "weibul"], "invalid choice: 'weibul'; did you mean 'weibull'?"),
    (["drl", "--out", "o", "--quantile-methd", "weibull"], "(--quantile-methd: did you mean '--quantile-method'?)"),
    (["injest", "x.xlsx"], "invalid choice: 'injest'; did you mean 'ingest'?"),
    (["run", "--notebook", "nbs", "--paramz", "p.yaml"], "did you mean '--params'?"),
])
def test_a_misspelt_option_or_value_gets_a_suggestion_in_one_line(argv, expected, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1 and "--help" in err


def test_drl_reports_every_bad_option_at_once(tmp_path, capsys):
    status = cli.main(["drl", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--out", str(tmp_path / "o"),
                       "--min-per-facility", "0", "--bootstrap", "-1", "--seed", "-3", "--weight-range", "90-50",
                       "--edition", "DE-1999"])
    err = capsys.readouterr().err
    assert status == 2
    assert "5 problems" in err
    for option in ("--min-per-facility", "--bootstrap", "--seed", "--weight-range", "--edition"):
        assert option in err, option
    assert not (tmp_path / "o").exists() and not (tmp_path / "db.sqlite").exists()


def _params(tmp_path, parameters: dict):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"parameters": parameters}))
    return path


def test_run_reports_every_parameter_error_at_once_with_suggestions(tmp_path, capsys):
    params = _params(tmp_path, {"quantile_methd": "weibull", "min_per_facilty": 5, "bootstrap": "many",
                                "edition": "DE-2021", "k": 1, "out_dir": "elsewhere"})
    out = tmp_path / "out"
    status = cli.main(["run", "--params", str(params), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert "6 problems" in err
    assert "'quantile_methd' is declared by no notebook" in err and "did you mean 'quantile_method'?" in err
    assert "did you mean 'min_per_facility'?" in err
    assert "'bootstrap': 03_drl_quartiles expects a int, not 'many'" in err
    assert "'edition': 'DE-2021' is not an edition of the exam-code catalogue; did you mean 'DE-2022'?" in err
    assert "'k': must be 0 (chosen by the silhouette) or at least 2" in err
    assert "'out_dir' is set by the runner" in err
    assert not out.exists()  # refused before anything ran


def test_a_bad_quantile_method_is_refused_before_any_notebook_runs(tmp_path, capsys):
    out = tmp_path / "out"
    started = time.monotonic()
    status = cli.main(["run", "--params", str(_params(tmp_path, {"quantile_method": "excel"})), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert "parameter 'quantile_method': 'excel' is not a numpy percentile method" in err
    assert "weibull" in err and "\n" not in err.strip()
    assert not out.exists()
    assert time.monotonic() - started < 30  # no kernel was started


@pytest.mark.parametrize(("name", "value", "message"), [
    ("weight_range", "90-50", "upper end below its lower end"),
    ("min_per_facility", 0, "must be at least 1"),
    ("z_threshold", -1.0, "out of range"),
    ("layout", "clarityiq", "did you mean 'clarityiq_"),
    ("year", 24, "a year such as 2024"),
])
def test_notebook_parameter_values_are_checked_before_the_run(tmp_path, capsys, name, value, message):
    out = tmp_path / "out"
    assert cli.main(["run", "--params", str(_params(tmp_path, {name: value})), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"parameter {name!r}" in err and message in err, err
    assert not out.exists()


def test_run_with_a_missing_notebooks_folder_says_so(tmp_path, capsys):
    assert cli.main(["run", "--notebooks", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 2
    assert f"--notebooks: {tmp_path / 'none'} is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["drl", "--out", "o"],
    ["analyse", "--out", "o"],
    ["export", "--out", "o.csv"],
])
def test_reading_commands_refuse_a_missing_database_and_create_none(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "missing.sqlite"
    assert cli.main([*argv, "--db", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert f"there is no database file {db}" in err and "ingest survey files first" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ingest_of_a_missing_folder_creates_no_database(tmp_path, capsys):
    db = tmp_path / "db.sqlite"
    assert cli.main(["ingest", str(tmp_path / "no_such_folder"), "--db", f"sqlite:///{db}"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert not db.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_relative_sqlite_path_meant_as_absolute_gets_the_four_slash_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no tmp/ here, but /tmp exists
    assert cli.main(["drl", "--db", "sqlite:///tmp/drl-analysis-none.sqlite", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert "three slashes takes a path relative to the current folder" in err
    assert "sqlite:////tmp/drl-analysis-none.sqlite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ingest_notes_the_four_slash_hint_for_the_database_it_creates(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["ingest", str(tmp_path / "none.xlsx"), "--db", "sqlite:///tmp/drl-analysis-none.sqlite"]) == 2
    assert "note: sqlite:/// with three slashes" in capsys.readouterr().err


def test_ingest_reports_bad_limits_together(tmp_path, capsys):
    assert cli.main(["ingest", str(tmp_path), "--jobs", "-1", "--max-rows", "0", "--year", "23",
                     "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err and "--jobs" in err and "--max-rows" in err and "--year: 23" in err
    assert not (tmp_path / "db.sqlite").exists()


def _version(tmp_path, *files):
    folder = tmp_path / "sample" / "20250301T101500Z-3f9c2a71"
    for rel in files:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("x")
    return folder


def test_run_says_where_each_edition_is_and_which_is_for_publication(tmp_path, capsys):
    from drl_analysis.cli.pipeline import _print_result
    from drl_analysis.pipeline.run import RunResult

    folder = _version(tmp_path, "html/index.html", "report/annual_report.pdf", "html/pseudonymised/index.html",
                      "report/pseudonymised/annual_report_pseudonymised.pdf")
    _print_result(RunResult("sample", folder, "complete", {}))
    assert capsys.readouterr().out.splitlines() == [
        f"sample: version {folder.name} in {folder}",
        "  identified edition, internal (names data sources, facilities and input files; do not publish):",
        f"    pages: {folder}/html/index.html",
        f"    PDF:   {folder}/report/annual_report.pdf",
        "  pseudonymised edition, for publication (data sources and facilities as pseudonyms):",
        f"    pages: {folder}/html/pseudonymised/index.html",
        f"    PDF:   {folder}/report/pseudonymised/annual_report_pseudonymised.pdf",
        f"    to deposit: drl-analysis release {folder} --out FILE.zip",
    ]


def test_run_says_when_it_made_no_pseudonymised_edition_and_when_it_failed(tmp_path, capsys):
    from drl_analysis.cli.pipeline import _print_result
    from drl_analysis.pipeline.run import RunResult

    folder = _version(tmp_path, "html/index.html")
    _print_result(RunResult("sample", folder, "complete", {}))
    out = capsys.readouterr().out
    assert f"    pages: {folder}/html/index.html\n" in out and "PDF" not in out
    assert "  pseudonymised edition: none in this run" in out and "for publication" not in out
    _print_result(RunResult("sample", folder.with_name(folder.name + ".failed"), "failed", {}))
    assert "sample: FAILED, kept as" in capsys.readouterr().out
