"""Screen layouts: which rows a dose-report screen shows, in which units, and which sums it keeps.

A layout is data: one YAML file per screen type in ``drl_analysis/data/layouts``
names the title, the rows (label, output column, unit family, printed units,
plausible range, the number format the screen usually prints) and the
screen's own checks; its language gives the number notation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ..core.errors import UserError
from ..core.paths import PACKAGE_DATA

#: Folder of the screen layouts that ship with the package.
LAYOUT_DIR = PACKAGE_DATA / "layouts"

_QUANTITIES = ("dap", "dose", "time", "count")


def _step_decimals(steps: tuple[tuple[float, int], ...], x: float) -> int:
    """The decimals of the first step (largest ``from`` first) that ``x`` reaches."""
    return next((d for bound, d in steps if x >= bound), steps[-1][1])


@dataclass(frozen=True)
class Field:
    """One row of a dose-report screen.

    Attributes
    ----------
    column : str
        Output column, named with its canonical unit (``dap_total_gycm2``).
    label : str
        The row's label as the screen prints it.
    quantity : {"dap", "dose", "time", "count"}
        Unit family (see :func:`drl_analysis.core.units.unit_factor`); counts have no unit.
    unit : str
        Canonical unit of the column (``"Gy·cm²"``, ``"mGy"``, ``"min"``; empty for counts).
    units : tuple of str
        Units the screen may print next to the value.
    low, high : float
        Plausible range in the canonical unit.
    decimals : dict
        The number format the screen usually prints: printed unit ->
        ``((from, decimals), ...)`` by the printed value, largest ``from``
        first. A hint, not a rule: readings with other decimals are taken
        when the screen's sums or stable readings confirm them.
    """

    column: str
    label: str
    quantity: str
    unit: str
    units: tuple[str, ...]
    low: float
    high: float
    decimals: tuple[tuple[str, tuple[tuple[float, int], ...]], ...] = ()

    def decimals_for(self, unit: str, shown: float) -> set[int]:
        """Decimals the screen usually prints for ``shown`` in ``unit`` (empty set: no rule); a hint.

        A value just at a step (``100.0`` rounded up from 99.96) may keep the
        decimals of the step below.
        """
        for u, steps in self.decimals:
            if u == unit:
                allowed = {_step_decimals(steps, abs(shown)), _step_decimals(steps, abs(shown) * (1 - 1e-3))}
                return allowed | {0} if shown == 0 else allowed
        return set()


@dataclass(frozen=True)
class Check:
    """A rule the screen's values keep.

    ``total = sum(parts)`` up to display rounding; or, when ``zero_together``
    is set, the fields ``(total, *parts)`` are all zero or none is (no
    exposure series, no exposure images, no exposure DAP).
    """

    name: str
    total: str
    parts: tuple[str, ...]
    zero_together: bool = False


@dataclass(frozen=True)
class Layout:
    """A dose-report screen: title, rows in screen order, language and checks.

    Attributes
    ----------
    name : str
    title : str
        The screen's title line.
    language : {"en", "de"}
        Screen language; gives the number notation (``1,765.5`` or ``1.765,5``).
    fields : tuple of Field
        The rows, top to bottom.
    checks : tuple of Check
    footnote : str
        Text under the table, if any (only drawn by the screen generator).
    vendor : str
    """

    name: str
    title: str
    language: str
    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()
    footnote: str = ""
    vendor: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """Output columns of the fields, in screen order."""
        return tuple(f.column for f in self.fields)

    def field(self, column: str) -> Field:
        """The field writing ``column``."""
        for f in self.fields:
            if f.column == column:
                return f
        raise KeyError(column)


def _layout_from_dict(data: dict, source: str) -> Layout:
    def need(mapping: dict, key: str, where: str):
        if key not in mapping:
            raise UserError(f"layout {source}: {where} has no {key!r}")
        return mapping[key]

    if not isinstance(data, dict):
        raise UserError(f"layout {source}: not a mapping of name, title, language and fields")
    fields = []
    for i, f in enumerate(need(data, "fields", "the file")):
        where = f"field {i + 1}"
        quantity = str(need(f, "quantity", where))
        if quantity not in _QUANTITIES:
            raise UserError(f"layout {source}: {where} has quantity {quantity!r}, not one of {_QUANTITIES}")
        low, high = (float(x) for x in f.get("range", (0.0, float("inf"))))
        units = tuple(str(u) for u in f.get("units", ()))
        if quantity != "count" and not units:
            raise UserError(f"layout {source}: {where} lists no units")
        decimals = []
        for unit, rule in (f.get("decimals") or {}).items():
            if unit not in units:
                raise UserError(f"layout {source}: {where} has decimals for {unit!r}, not one of its units")
            try:
                steps = ((0.0, int(rule)),) if isinstance(rule, int) else tuple(
                    sorted(((float(b), int(d)) for b, d in rule), reverse=True))
            except (TypeError, ValueError):
                raise UserError(f"layout {source}: {where}: decimals of {unit!r} must be a number or "
                                f"[[from, decimals], ...]") from None
            decimals.append((str(unit), steps))
        fields.append(
            Field(
                column=str(need(f, "column", where)),
                label=str(need(f, "label", where)),
                quantity=quantity,
                unit=str(f.get("unit", units[0] if units else "")),
                units=units,
                low=low,
                high=high,
                decimals=tuple(decimals),
            )
        )
    columns = {f.column for f in fields}
    checks = []
    for c in data.get("checks", ()) or ():
        if "zero_together" in c:
            cols = [str(x) for x in c["zero_together"]]
            check = Check(str(c["name"]), cols[0], tuple(cols[1:]), zero_together=True)
        else:
            check = Check(str(c["name"]), str(c["total"]), tuple(str(p) for p in c["parts"]))
        unknown = {check.total, *check.parts} - columns
        if unknown:
            raise UserError(f"layout {source}: check {check.name} names unknown columns {sorted(unknown)}")
        checks.append(check)
    language = str(need(data, "language", "the file"))
    if language not in ("en", "de"):
        raise UserError(f"layout {source}: language {language!r} is not 'en' or 'de'")
    return Layout(
        name=str(need(data, "name", "the file")),
        title=str(need(data, "title", "the file")),
        language=language,
        fields=tuple(fields),
        checks=tuple(checks),
        footnote=str(data.get("footnote", "")),
        vendor=str(data.get("vendor", "")),
    )


@lru_cache(maxsize=None)
def _load_layout_file(path: str) -> Layout:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"layout {path}: cannot be read ({exc})") from None
    return _layout_from_dict(data, path)


def available_layouts() -> tuple[str, ...]:
    """Names of the layouts that ship with the package, sorted."""
    return tuple(sorted(p.stem for p in LAYOUT_DIR.glob("*.yaml")))


def load_layout(name: str | Path) -> Layout:
    """A screen layout by name (``"clarityiq_en"``) or from a YAML file path.

    Raises
    ------
    UserError
        If no layout of that name ships and no such file exists.
    """
    path = Path(name)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"--layout: no layout file {path}")
        return _load_layout_file(str(path.resolve()))
    file = LAYOUT_DIR / f"{name}.yaml"
    if not file.is_file():
        raise UserError(f"--layout: no layout named {name!r}; known: {', '.join(available_layouts())} or auto")
    return _load_layout_file(str(file))


#: Output columns of the ClarityIQ rows, in the contract's order.
OCR_FIELDS: tuple[str, ...] = (
    "dap_total_gycm2",
    "dap_exposure_gycm2",
    "exposure_series",
    "exposure_images",
    "dap_fluoro_gycm2",
    "fluoro_time_min",
    "air_kerma_total_mgy",
    "air_kerma_frontal_mgy",
    "air_kerma_lateral_mgy",
)


def candidate_layouts(layout: str | Path | Layout) -> list[Layout]:
    """The layouts to try: the one given (a :class:`Layout`, a name or a YAML file), or every shipped one for ``"auto"``."""
    if isinstance(layout, Layout):
        return [layout]
    if str(layout) == "auto":
        names = available_layouts()
        if not names:
            raise UserError("--layout: no layouts ship with the package")
        return [load_layout(n) for n in names]
    return [load_layout(layout)]

