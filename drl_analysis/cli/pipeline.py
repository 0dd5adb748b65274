"""``drl-analysis run``, ``verify`` and ``release``: the command line's side of
:mod:`drl_analysis.pipeline` (arguments in, plain values to the library, lines out)."""

from __future__ import annotations

import argparse
import sys
import traceback

from ..core.errors import UserError


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "run", help="run the notebooks in order with papermill",
        description="Run the notebooks NN_name.ipynb in order with papermill (01 OCR of dose-report images, 02 "
        "repair and store the survey files, 03 DRL statistics, 04 outliers and clusters, 05 the annual report) "
        "into a new version folder OUT/SURVEY/VERSION with its manifest, tables, figures, HTML pages and PDF "
        "reports; OUT/SURVEY/latest points to the newest complete version. Every parameter is checked before "
        "anything runs. Relative paths start at the current folder.",
    )
    p.add_argument("--params", metavar="FILE.yaml",
                   help="YAML file with input, survey, out, years and the notebooks' parameters under "
                        "'parameters:' (or a list of 'surveys:'); options given here win (default: none)")
    p.add_argument("--survey", metavar="NAME",
                   help="survey name, the folder under OUT: letters, digits and . _ + - "
                        "(default: the input folder's name, 'sample' for the bundled sample)")
    p.add_argument("--input", metavar="DIR",
                   help="input folder holding surveys/ and, optionally, dose_reports/ (or the survey files "
                        "themselves) (default: the bundled sample)")
    p.add_argument("--out", metavar="DIR",
                   help="output root for the versions (default: data/processed under the project folder: the "
                        "current folder for an installed package, the checkout for a source checkout)")
    p.add_argument("--years", nargs="+", metavar="YEARS",
                   help="survey years, one version per item: --years 2022 2023 makes two, --years 2021-2023 one "
                        "(default: all stored years in one version)")
    p.add_argument("--notebooks", metavar="DIR",
                   help="run your own copy of the notebooks NN_name.ipynb from DIR; verify reruns the same copy "
                        "(default: the package's notebooks)")
    p.add_argument("--pseudonym-key-file", metavar="FILE",
                   help="key of the pseudonyms in the pseudonymised report (default: $DRL_ANALYSIS_PSEUDONYM_KEY, "
                        "else ~/.config/drl-analysis/pseudonym.key, created once)")
    p.set_defaults(func=run_command)

    p = sub.add_parser(
        "verify", help="rerun a version from its manifest and compare the tables",
        description="Rerun a version from its manifest in a temporary folder, after checking that every input "
        "file still has its SHA-256, and compare every CSV table with the published one; also check every "
        "published file against the manifest. Exit status 0 when everything is identical, 1 otherwise.",
    )
    p.add_argument("version", metavar="VERSION_FOLDER", help="a version folder, or a survey's latest")
    p.add_argument("--pseudonym-key-file", metavar="FILE",
                   help="the key the run used, to check the pseudonymised tables too (default: "
                        "$DRL_ANALYSIS_PSEUDONYM_KEY, else ~/.config/drl-analysis/pseudonym.key)")
    p.set_defaults(func=verify_command)

    p = sub.add_parser(
        "release", help="write a version's deposit bundle (zip) for a repository such as Zenodo",
        description="Write a deposit bundle of a complete version: by default the pseudonymised edition with its "
        "data package, RO-Crate, CITATION.cff, SHA256SUMS and README. The same version gives the same bytes.",
    )
    p.add_argument("version", metavar="VERSION_FOLDER", help="a complete version folder, or a survey's latest")
    p.add_argument("--out", required=True, metavar="FILE.zip", help="the zip file to write")
    p.add_argument("--identified", action="store_true",
                   help="add the identified edition (names of data sources, facilities and input files)")
    p.set_defaults(func=release_command)


def run_command(args: argparse.Namespace) -> int:
    """``drl-analysis run``: run the notebooks for each survey and print where the reports are.

    Returns
    -------
    int
        0 when every survey's run completed, 1 when a notebook failed with an
        error of ours (its traceback is printed). A user error inside a
        notebook (a bad value of a parameter) raises :class:`UserError`.
    """
    from ..pipeline import run as runner
    from ..pipeline.kernel import NotebookFailed

    options = runner.RunOptions(params=args.params, survey=args.survey, input=args.input, out=args.out,
                                years=args.years)
    plans, out_root = runner.plans_from_options(options)
    results = runner.run(plans, out_root, notebook_dir=args.notebooks, key_file=args.pseudonym_key_file)
    status = 0
    for result in results:
        _print_result(result)
        err = result.error
        if err is None:
            continue
        status = 1
        if isinstance(err, NotebookFailed):
            if err.user_error and len(results) == 1:
                raise UserError(f"notebook {err.notebook}: {err.evalue} (the failed run is kept in {result.folder})")
            if err.traceback:
                print(err.traceback, file=sys.stderr)
            print(f"drl-analysis run: {result.survey}: {err}", file=sys.stderr)
        else:
            traceback.print_exception(err, file=sys.stderr)
    return status


def result_lines(result) -> list[str]:
    """What ``run`` says of one survey's run: where each edition's pages and PDF are, and which is which.

    Parameters
    ----------
    result : drl_analysis.pipeline.run.RunResult
    """
    from ..pipeline.layout import PSEUDONYMISED, PSEUDONYMISED_HTML

    if result.status != "complete":
        return [f"{result.survey}: FAILED, kept as {result.folder} (not a version; see FAILED.txt)"]
    folder = result.folder
    public_pdfs = [p for p in result.pdfs if (folder / PSEUDONYMISED) in p.parents]
    internal_pdfs = [p for p in result.pdfs if p not in public_pdfs]
    public_index = folder / PSEUDONYMISED_HTML / "index.html"
    lines = [f"{result.survey}: version {folder.name} in {folder}",
             "  identified edition, internal (names data sources, facilities and input files; do not publish):"]
    lines += [f"    pages: {result.index}"] if result.index.is_file() else []
    lines += [f"    PDF:   {p}" for p in internal_pdfs]
    if public_index.is_file() or public_pdfs:
        lines.append("  pseudonymised edition, for publication (data sources and facilities as pseudonyms):")
        lines += [f"    pages: {public_index}"] if public_index.is_file() else []
        lines += [f"    PDF:   {p}" for p in public_pdfs]
        lines.append(f"    to deposit: drl-analysis release {folder} --out FILE.zip")
    else:
        lines.append("  pseudonymised edition: none in this run (the report did not run, or ran without pseudonyms)")
    return lines


def _print_result(result, stream=None) -> None:
    for line in result_lines(result):
        print(line, file=stream or sys.stdout)


def verify_command(args: argparse.Namespace) -> int:
    """``drl-analysis verify VERSION_FOLDER``: 0 when every table is reproduced, 1 otherwise."""
    from ..pipeline import verify
    from ..pipeline.layout import version_folder

    folder = version_folder(args.version)
    result = verify.verify(folder, key_file=args.pseudonym_key_file)
    for line in result.differences:
        print(f"DIFFERS  {line}")
    for name in result.skipped:
        print(f"skipped  {name}")
    if result.ok:
        print(f"verify: {folder}: all {len(result.identical)} tables identical")
        return 0
    print(f"verify: {folder}: {len(result.differences)} of {len(result.differences) + len(result.identical)} "
          "tables, inputs or files differ")
    return 1


def release_command(args: argparse.Namespace) -> int:
    """``drl-analysis release VERSION_FOLDER --out FILE.zip [--identified]``: write the deposit bundle."""
    from ..pipeline import release
    from ..pipeline.layout import version_folder

    bundle = release.release(version_folder(args.version), args.out, identified=args.identified)
    print(f"release: {bundle.path} ({bundle.edition}, {len(bundle.files)} files, sha256 {bundle.sha256})")
    return 0
