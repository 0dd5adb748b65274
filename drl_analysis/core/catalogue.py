"""The exam-code catalogue: codes, names, modality, reference phantom and DRLs.

The catalogue ships with the package (``drl_analysis/data/exam_catalogue.csv``),
one row per exam code, dose quantity and DRL edition. Its CT codes 10xx and
their 2016 DRLs come from the BfS exam-code table; the radiography,
interventional and mammography DRLs come from the German announcements named
in each row's ``source``. Exams without a public code carry project codes
(9xxx, ``code_origin = project``). A user may pass their own file with the
same columns.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .columns import DOSE_QUANTITIES
from .errors import UserError
from .paths import CATALOGUE_FILE

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("exam_code", "exam_name", "modality", "quantity", "edition", "drl_value")
OPTIONAL_COLUMNS = ("ctdi_phantom_cm", "code_origin", "aliases", "unit", "status", "source")


class CatalogueError(UserError):
    """A catalogue file that cannot be used; the message names file and reason."""


def normalise_name(text: str) -> str:
    """Fold an exam name for matching: case, accents, punctuation and spaces.

    >>> normalise_name("  Thorax  p.a. ")
    'thorax pa'
    """
    t = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    t = re.sub(r"[.\u2013\-_/,;:()]+", " ", t.lower())
    t = re.sub(r"\s+", " ", t).strip()
    return re.sub(r"\b([ap]) ([ap])\b", r"\1\2", t)


def edition_year(edition: str) -> int:
    """The year in an edition label (``"DE-2016"`` -> 2016); 0 if none."""
    m = re.search(r"(\d{4})", str(edition))
    return int(m.group(1)) if m else 0


@dataclass(frozen=True, eq=False)
class Catalogue:
    """An exam-code catalogue: an immutable value.

    Build one with :func:`read_catalogue` or :func:`load_catalogue`; a
    changed DRL is a new catalogue (:meth:`with_drl`), never an edit of this
    one, so answers derived from it (and cached with it) cannot go stale.
    Two catalogues are equal only when they are the same object.

    Attributes
    ----------
    exams : pandas.DataFrame
        A copy, one row per exam code: ``exam_code, exam_name, modality,
        ctdi_phantom_cm, code_origin, aliases`` (codes as strings).
    drls : pandas.DataFrame
        A copy, one row per exam code, quantity and edition with a DRL value:
        ``exam_code, quantity, edition, drl_value, unit, status, source``;
        ``drl_value`` in the canonical unit of ``quantity``.
    source : str
        Where the catalogue was read from.
    """

    _exams: pd.DataFrame = field(repr=False)
    _drls: pd.DataFrame = field(repr=False)
    source: str = ""
    _by_name: dict[str, str] = field(init=False, repr=False)
    _names: dict[str, str] = field(init=False, repr=False)
    _modalities: dict[str, str] = field(init=False, repr=False)
    _phantoms: dict[str, float] = field(init=False, repr=False)
    _quantities: dict[str, tuple[str, ...]] = field(init=False, repr=False)
    _drl_rows: dict[tuple[str, str], tuple[tuple[str, float], ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        exams = self._exams.reset_index(drop=True).copy()
        drls = self._drls.reset_index(drop=True).copy()
        by_name: dict[str, str] = {}
        for row in exams.itertuples(index=False):
            names = [row.exam_name, *[a for a in str(row.aliases or "").split(";") if a.strip()]]
            for name in names:
                by_name.setdefault(normalise_name(name), row.exam_code)
        ph = exams.dropna(subset=["ctdi_phantom_cm"])
        quantities: dict[str, list[str]] = {}
        rows: dict[tuple[str, str], list[tuple[str, float]]] = {}
        for r in drls.itertuples(index=False):
            qs = quantities.setdefault(r.exam_code, [])
            if r.quantity not in qs:
                qs.append(r.quantity)
            rows.setdefault((r.exam_code, r.quantity), []).append((str(r.edition), float(r.drl_value)))
        set_ = object.__setattr__  # frozen: the derived lookups are set once, here
        set_(self, "_exams", exams)
        set_(self, "_drls", drls)
        set_(self, "_by_name", by_name)
        set_(self, "_names", dict(zip(exams["exam_code"], exams["exam_name"].astype(str))))
        set_(self, "_modalities", dict(zip(exams["exam_code"], exams["modality"].astype(str))))
        set_(self, "_phantoms", dict(zip(ph["exam_code"], ph["ctdi_phantom_cm"].astype(float))))
        set_(self, "_quantities", {c: tuple(q) for c, q in quantities.items()})
        set_(self, "_drl_rows", {k: tuple(v) for k, v in rows.items()})

    @property
    def exams(self) -> pd.DataFrame:
        """The exam rows (a copy: editing it does not change the catalogue)."""
        return self._exams.copy()

    @property
    def drls(self) -> pd.DataFrame:
        """The DRL rows (a copy: editing it does not change the catalogue)."""
        return self._drls.copy()

    @property
    def codes(self) -> frozenset[str]:
        """All exam codes the catalogue knows."""
        return frozenset(self._names)

    def code_for_name(self, name: str) -> str | None:
        """The exam code whose name or alias is ``name`` (case, accents and
        punctuation folded), or None."""
        return self._by_name.get(normalise_name(name))

    def exam_name(self, code: str) -> str | None:
        """The catalogue name of an exam code, or None for an unknown code."""
        return self._names.get(str(code))

    def modality(self, code: str) -> str | None:
        """The modality of an exam code (``CT``, ``RAD``, ...), or None for an unknown code."""
        return self._modalities.get(str(code))

    def reference_phantom(self, code: str) -> float | None:
        """The CTDI reference phantom of a CT exam in cm (16 or 32), else None."""
        return self._phantoms.get(str(code))

    @property
    def reference_phantoms(self) -> dict[str, float]:
        """Exam code -> CTDI reference phantom in cm, for the CT exams (a copy)."""
        return dict(self._phantoms)

    def drl_quantities(self, code: str) -> tuple[str, ...]:
        """Every dose quantity the catalogue gives a DRL for, for one exam.

        In the order of the catalogue's rows; empty for an exam without a DRL
        or an unknown code. German CT exams have DRLs for CTDIvol and DLP.
        """
        return self._quantities.get(str(code), ())

    @property
    def editions(self) -> list[str]:
        """Editions that give at least one DRL, oldest first."""
        return sorted(self._drls["edition"].unique(), key=lambda e: (edition_year(e), e))

    def current_drl(self, code: str, quantity: str, edition: str | None = None) -> tuple[float | None, str | None]:
        """The DRL of an exam and quantity: ``(value, edition)``.

        Parameters
        ----------
        code : str
        quantity : str
            One of :data:`drl_analysis.core.columns.DOSE_QUANTITIES`.
        edition : str, optional
            An edition label such as ``"DE-2022"``. None takes the newest
            edition that gives a DRL for this exam and quantity.

        Returns
        -------
        (float or None, str or None)
            The DRL in the quantity's canonical unit and its edition;
            ``(None, None)`` where there is none.
        """
        rows = self._drl_rows.get((str(code), quantity), ())
        if edition is not None:
            rows = tuple(r for r in rows if r[0] == edition)
        if not rows:
            return None, None
        best = max(rows, key=lambda r: (edition_year(r[0]), r[0]))
        return best[1], best[0]

    def with_drl(self, code: str, quantity: str, edition: str, value: float) -> Catalogue:
        """A new catalogue with the DRL of (exam, quantity, edition) set to ``value``
        (added when the catalogue has no such row); this one is unchanged."""
        if quantity not in DOSE_QUANTITIES:
            raise CatalogueError(f"unknown quantity {quantity!r} (use one of {', '.join(DOSE_QUANTITIES)})")
        if str(code) not in self._names:
            raise CatalogueError(f"the catalogue has no exam code {code!r}")
        drls = self._drls.copy()
        hit = (drls["exam_code"] == str(code)) & (drls["quantity"] == quantity) & (drls["edition"] == edition)
        if hit.any():
            drls.loc[hit, "drl_value"] = float(value)
        else:
            row = {c: "" for c in drls.columns}
            row.update(exam_code=str(code), quantity=quantity, edition=edition, drl_value=float(value))
            drls = pd.concat([drls, pd.DataFrame([row])], ignore_index=True)
        return Catalogue(self._exams, drls, self.source)


def _clean_code(value: object) -> str:
    text = str(value).strip()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def read_catalogue(path: str | Path) -> Catalogue:
    """Read a catalogue CSV (UTF-8, comma-separated, columns as the shipped one).

    Raises
    ------
    CatalogueError
        If the file is missing or lacks required columns or has an unknown quantity.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CatalogueError(f"{path}: cannot read the catalogue ({exc.__class__.__name__}: {exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise CatalogueError(f"{path}: the catalogue lacks the column(s) {', '.join(missing)}")
    for col in OPTIONAL_COLUMNS:
        if col not in raw.columns:
            raw[col] = ""
    raw["exam_code"] = raw["exam_code"].map(_clean_code)
    if (raw["exam_code"] == "").any():
        raise CatalogueError(f"{path}: a catalogue row has no exam_code")
    bad = sorted(set(raw["quantity"]) - set(DOSE_QUANTITIES))
    if bad:
        raise CatalogueError(f"{path}: unknown quantity {bad[0]!r} (use one of {', '.join(DOSE_QUANTITIES)})")
    exams = (
        raw.groupby("exam_code", sort=True)
        .agg(
            exam_name=("exam_name", "first"),
            modality=("modality", "first"),
            ctdi_phantom_cm=("ctdi_phantom_cm", "first"),
            code_origin=("code_origin", "first"),
            aliases=("aliases", "first"),
        )
        .reset_index()
    )
    exams["ctdi_phantom_cm"] = pd.to_numeric(exams["ctdi_phantom_cm"], errors="coerce")
    drls = raw[raw["drl_value"].str.strip() != ""][
        ["exam_code", "quantity", "edition", "drl_value", "unit", "status", "source"]
    ].copy()
    try:
        drls["drl_value"] = drls["drl_value"].astype(float)
    except ValueError:
        raise CatalogueError(f"{path}: a drl_value is not a number") from None
    logger.debug("catalogue %s: %d exam codes, %d DRL rows", path, len(exams), len(drls))
    return Catalogue(exams, drls.reset_index(drop=True), str(path))


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int) -> Catalogue:
    return read_catalogue(path)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The catalogue at ``path``, or the one shipped with the package.

    Catalogues are cached by file, modification time and size: an edited
    file is read again, an unchanged one is not.
    """
    file = Path(path) if path else CATALOGUE_FILE
    try:
        stat = file.stat()
    except OSError:
        return read_catalogue(file)  # raises CatalogueError naming the file
    return _cached(str(file), stat.st_mtime_ns, stat.st_size)
