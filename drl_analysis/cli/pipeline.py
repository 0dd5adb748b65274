"""``drl-analysis run``, ``verify`` and ``release``: the command line's side of
:mod:`drl_analysis.pipeline` (arguments in, plain values to the library, lines out)."""

from __future__ import annotations

import argparse
import sys
import traceback

from ..core.errors import UserError


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="run the notebooks in order with papermill")
    p.add_argument("--params", metavar="FILE.yaml")
    p.add_argument("--survey", metavar="NAME")
    p.add_argument("--input", metavar="DIR")
    p.add_argument("--out", metavar="DIR")
    p.add_argument("--years", nargs="+", metavar="YEARS")
    p.add_argument("--pseudonym-key-file", metavar="FILE")
    p.set_defaults(func=run_command)

    p = sub.add_parser("verify", help="rerun a version from its manifest and compare the tables")
    p.add_argument("version", metavar="VERSION_FOLDER")
    p.add_argument("--pseudonym-key-file", metavar="FILE", help="the key the run used, to check the pseudonymised tables")
    p.set_defaults(func=verify_command)

    p = sub.add_parser("release", help="write a version's deposit bundle (zip) for a repository such as Zenodo")
    p.add_argument("version", metavar="VERSION_FOLDER")
    p.add_argument("--out", required=True, metavar="FILE.zip")
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
    results = runner.run(plans, out_root, key_file=args.pseudonym_key_file)
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


def _print_result(result, stream=None) -> None:
    stream = stream or sys.stdout
    if result.status == "complete":
        print(f"{result.survey}: version {result.folder.name} in {result.folder}", file=stream)
        print(f"  HTML index: {result.index}", file=stream)
        for pdf in result.pdfs:
            label = "PDF (pseudonymised)" if "pseudonymised" in pdf.name else "PDF"
            print(f"  {label}: {pdf}", file=stream)
    else:
        print(f"{result.survey}: FAILED, kept as {result.folder} (not a version; see FAILED.txt)", file=stream)


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
