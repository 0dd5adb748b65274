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

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .columns import DOSE_QUANTITIES
from .errors import UserError
from .paths import CATALOGUE_FILE

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


@dataclass
class Catalogue:
    """An exam-code catalogue.

    Attributes
    ----------
    exams : pandas.DataFrame
        One row per exam code: ``exam_code, exam_name, modality,
        ctdi_phantom_cm, code_origin, aliases`` (codes as strings).
    drls : pandas.DataFrame
        One row per exam code, quantity and edition with a DRL value:
        ``exam_code, quantity, edition, drl_value, unit, status, source``;
        ``drl_value`` in the canonical unit of ``quantity``.
    source : str
        Where the catalogue was read from.
    """

    exams: pd.DataFrame
    drls: pd.DataFrame
    source: str
    _by_name: dict[str, str] = field(default_factory=dict, repr=False)
    #: Per-catalogue memo of answers that depend only on a cell's text and the
    #: catalogue (exam codes read from text, row kinds); fills as files are read.
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for row in self.exams.itertuples(index=False):
            names = [row.exam_name, *[a for a in str(row.aliases or "").split(";") if a.strip()]]
            for name in names:
                self._by_name.setdefault(normalise_name(name), row.exam_code)

    @property
    def codes(self) -> set[str]:
        """All exam codes the catalogue knows."""
        return set(self.exams["exam_code"])

    def code_for_name(self, name: str) -> str | None:
        """The exam code whose name or alias is ``name`` (case, accents and
        punctuation folded), or None."""
        return self._by_name.get(normalise_name(name))

    def exam_name(self, code: str) -> str | None:
        """The catalogue name of an exam code, or None for an unknown code."""
        hit = self.exams.loc[self.exams["exam_code"] == str(code), "exam_name"]
        return None if hit.empty else str(hit.iloc[0])

    def reference_phantom(self, code: str) -> float | None:
        """The CTDI reference phantom of a CT exam in cm (16 or 32), else None."""
        return self.reference_phantoms.get(str(code))

    @property
    def reference_phantoms(self) -> dict[str, float]:
        """Exam code -> CTDI reference phantom in cm, for the CT exams."""
        if not hasattr(self, "_phantoms"):
            ph = self.exams.dropna(subset=["ctdi_phantom_cm"])
            self._phantoms = dict(zip(ph["exam_code"], ph["ctdi_phantom_cm"].astype(float)))
        return self._phantoms

    @property
    def editions(self) -> list[str]:
        """Editions that give at least one DRL, oldest first."""
        return sorted(self.drls["edition"].unique(), key=lambda e: (edition_year(e), e))

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
        key = (str(code), quantity, edition)
        cache = self.memo.setdefault("current_drl", {})
        if key not in cache:
            cache[key] = self._current_drl(*key)
        return cache[key]

    def _current_drl(self, code: str, quantity: str, edition: str | None) -> tuple[float | None, str | None]:
        d = self.drls[(self.drls["exam_code"] == str(code)) & (self.drls["quantity"] == quantity)]
        if edition is not None:
            d = d[d["edition"] == edition]
        if d.empty:
            return None, None
        best = max(d.itertuples(index=False), key=lambda r: (edition_year(r.edition), r.edition))
        return float(best.drl_value), str(best.edition)


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
    return Catalogue(exams=exams, drls=drls.reset_index(drop=True), source=str(path))


@lru_cache(maxsize=8)
def _cached(path: str) -> Catalogue:
    return read_catalogue(path)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The catalogue at ``path``, or the one shipped with the package."""
    return _cached(str(Path(path) if path else CATALOGUE_FILE))
