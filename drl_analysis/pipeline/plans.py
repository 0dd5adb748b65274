"""What to run: the surveys of a run, each with its input folder, years and
parameters, from the run's options and its params file (``--params FILE.yaml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import UserError
from ..core.paths import PROCESSED_DIR, SAMPLE_DIR
from ..core.years import format_years, parse_years
from .layout import SURVEY_PATTERN


@dataclass(frozen=True)
class RunOptions:
    """What a user asks of ``drl-analysis run``, as plain values.

    Attributes
    ----------
    params : str or Path, optional
        A params file (YAML): ``input``, ``survey``, ``out``, ``years``,
        ``parameters`` or a list of ``surveys``.
    survey : str, optional
        The survey name (default: the input folder's name, ``sample`` for the sample).
    input : str or Path, optional
        The input folder (default: the bundled sample); relative to the current folder.
    out : str or Path, optional
        The output root (default ``data/processed``).
    years : sequence of str, optional
        Each item one survey: ``["2022", "2023"]`` two versions, ``["2021-2023"]`` one.
    """

    params: str | Path | None = None
    survey: str | None = None
    input: str | Path | None = None
    out: str | Path | None = None
    years: Sequence[str] | None = None


@dataclass
class Plan:
    """One survey to run.

    Attributes
    ----------
    survey : str
        Folder name under the output root.
    input_dir : Path
        The input folder: ``surveys/`` and optionally ``rdsr/`` and ``dose_reports/`` (or the
        survey files themselves).
    years : str
        Survey years passed to the notebooks, such as ``"2022"`` or
        ``"2021-2023"``; ``""`` for all stored years.
    parameters : dict
        User parameters for the notebooks.
    """

    survey: str
    input_dir: Path
    years: str = ""
    parameters: dict = field(default_factory=dict)


def years_text(years: Sequence[int] | None) -> str:
    """``[2021, 2022, 2023]`` -> ``"2021-2023"``; ``[2021, 2023]`` -> ``"2021,2023"``; none -> ``""``
    (:func:`drl_analysis.core.years.format_years`)."""
    return format_years(years)


def _year_groups(values: object, where: str) -> list[str]:
    """Each item of ``--years`` (or of a params-file list) is one survey."""
    if values is None or values == "" or values == []:
        return []
    items = values if isinstance(values, list) else [values]
    groups = []
    for item in items:
        try:
            groups.append(years_text(parse_years([str(item)])))
        except UserError:
            raise UserError(f"{where}: {item!r} is not a year or a range such as 2021-2023") from None
    return groups


def _check_survey(name: str, where: str) -> str:
    if not SURVEY_PATTERN.match(name):
        raise UserError(f"{where}: survey name {name!r} may hold only letters, digits and . _ + - (no spaces)")
    return name


def _input_dir(value: str | Path | None, where: str) -> Path:
    if value in (None, ""):
        return SAMPLE_DIR
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path  # a path given by the user is relative to where they typed it
    if not path.is_dir():
        raise UserError(f"{where}: {value} is not a folder")
    return path.resolve()


_FILE_KEYS = {"survey", "input", "out", "years", "parameters", "surveys"}
_SURVEY_KEYS = {"survey", "input", "years", "parameters"}


def _read_params_file(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--params: {path} not found") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--params: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UserError(f"--params: {path} must hold a mapping such as 'parameters: {{seed: 1}}'")
    unknown = sorted(set(doc) - _FILE_KEYS)
    if unknown:
        raise UserError(
            f"--params: {path}: unknown key {unknown[0]!r}; keys are {', '.join(sorted(_FILE_KEYS))} "
            "(notebook parameters go under 'parameters:')"
        )
    for key in ("parameters",):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise UserError(f"--params: {path}: '{key}:' must be a mapping of parameter names to values")
    return doc


def plans_from_options(options: RunOptions) -> tuple[list[Plan], Path]:
    """The surveys to run and the output root, from the run's options and its params file.

    Each item of ``--years`` is one survey (``--years 2021 2022 2023``: three
    versions; ``--years 2021-2023``: one version over three years); its name
    is the survey name (``--survey``, default the input folder's name) plus
    the years. A single item with ``--survey`` keeps the name as given.
    """
    doc = _read_params_file(options.params) if options.params else {}
    where = f"--params {options.params}" if options.params else "run"
    common = dict(doc.get("parameters") or {})
    out_root = Path(options.out or doc.get("out") or PROCESSED_DIR).expanduser()
    if options.out is None and doc.get("out") and not out_root.is_absolute():
        out_root = Path(options.params).resolve().parent / out_root
    out_root = out_root.resolve()

    if doc.get("surveys") is not None:
        if options.survey or options.input or options.years:
            raise UserError("--survey, --input and --years cannot be combined with a params file that lists 'surveys:'")
        if not isinstance(doc["surveys"], list) or not doc["surveys"]:
            raise UserError(f"{where}: 'surveys:' must be a list of mappings with at least 'survey:'")
        plans, base = [], Path(options.params).resolve().parent
        for i, entry in enumerate(doc["surveys"], 1):
            if not isinstance(entry, dict) or not entry.get("survey"):
                raise UserError(f"{where}: surveys item {i} needs a 'survey:' name")
            unknown = sorted(set(entry) - _SURVEY_KEYS)
            if unknown:
                raise UserError(f"{where}: surveys item {i}: unknown key {unknown[0]!r}")
            groups = _year_groups(entry.get("years"), f"{where}: surveys item {i}")
            if len(groups) > 1:
                raise UserError(f"{where}: surveys item {i}: give one year or one range per survey")
            raw_input = entry.get("input", doc.get("input"))
            if raw_input and not Path(raw_input).expanduser().is_absolute():
                raw_input = base / raw_input
            params = {**common, **(entry.get("parameters") or {})}
            plans.append(Plan(
                survey=_check_survey(str(entry["survey"]), f"{where}: surveys item {i}"),
                input_dir=_input_dir(raw_input, f"{where}: surveys item {i}: input"),
                years=groups[0] if groups else "",
                parameters=params,
            ))
        names = [p.survey for p in plans]
        if len(set(names)) != len(names):
            raise UserError(f"{where}: two surveys share one name")
        return plans, out_root

    raw_input = options.input
    if raw_input is None and doc.get("input"):
        raw_input = doc["input"]
        if not Path(raw_input).expanduser().is_absolute():
            raw_input = Path(options.params).resolve().parent / raw_input
    input_dir = _input_dir(raw_input, "--input")
    survey = options.survey or doc.get("survey")
    base = str(survey) if survey else ("sample" if input_dir == SAMPLE_DIR.resolve() else input_dir.name)
    _check_survey(base, "--survey")
    groups = _year_groups(options.years if options.years else doc.get("years"), "--years")
    if not groups:
        return [Plan(base, input_dir, "", common)], out_root
    if len(groups) == 1 and survey:
        return [Plan(base, input_dir, groups[0], common)], out_root
    return [Plan(f"{base}-{g.replace(',', '+')}", input_dir, g, common) for g in groups], out_root


