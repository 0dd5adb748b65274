"""The procedure map: exam codes for studies, from an editable CSV file
(``--procedure-map FILE``; the shipped default :data:`PROCEDURE_MAP_FILE`).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import UserError
from ...core.paths import PACKAGE_DATA

#: The shipped procedure map (an editable default; ``--procedure-map FILE`` replaces it).
PROCEDURE_MAP_FILE = PACKAGE_DATA / "procedure_map.csv"


MAP_COLUMNS: tuple[str, ...] = ("report", "field", "pattern", "exam_code")
MAP_REPORTS: tuple[str, ...] = ("ct", "projection", "")
MAP_FIELDS: tuple[str, ...] = ("study_description", "requested_procedure", "protocol", "procedure_code")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


@dataclass(frozen=True)
class MapRule:
    line: int
    report: str
    field: str
    pattern: str
    exam_code: str
    regex: re.Pattern | None


class ProcedureMap:
    """Exam codes for studies, from a CSV file with columns ``report, field, pattern, exam_code``.

    ``report`` is ``ct``, ``projection`` or empty (both); ``field`` one of
    ``study_description``, ``requested_procedure``, ``protocol``,
    ``procedure_code``; ``pattern`` the text, matched case-insensitively with
    surrounding spaces ignored, or ``re:`` and a regular expression searched
    in the text (case-insensitively; anchor it with ``^`` and ``$``). The
    first matching row wins, in file order.
    """

    def __init__(self, rules: list[MapRule], source: str):
        self.rules = rules
        self.source = source
        self._cache: dict = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProcedureMap:
        """Read and check a map file (default: the shipped one).

        Raises
        ------
        UserError
            Naming the file, the line and what is wrong.
        """
        path = Path(path) if path else PROCEDURE_MAP_FILE
        where = f"--procedure-map {path}" if path != PROCEDURE_MAP_FILE else f"procedure map {path.name}"
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UserError(f"{where}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{where}: cannot read it ({exc})") from None
        reader = csv.reader(text.splitlines())
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(MAP_COLUMNS):
            raise UserError(f"{where}: the first line must name exactly the columns {', '.join(MAP_COLUMNS)}")
        rules = []
        for line, row in enumerate(reader, start=2):
            if not any(v.strip() for v in row):
                continue
            if len(row) != len(MAP_COLUMNS):
                raise UserError(f"{where}: line {line} has {len(row)} cells, not {len(MAP_COLUMNS)}")
            report, fld, pattern, code = (row[0].strip().lower(), row[1].strip(), row[2], row[3].strip())
            if report not in MAP_REPORTS:
                raise UserError(f"{where}: line {line}: report {row[0]!r} is not ct, projection or empty")
            if fld not in MAP_FIELDS:
                raise UserError(f"{where}: line {line}: field {row[1]!r} is not one of {', '.join(MAP_FIELDS)}")
            if not pattern.strip() or pattern.strip() == "re:":
                raise UserError(f"{where}: line {line}: the pattern is empty")
            if not code:
                raise UserError(f"{where}: line {line}: the exam code is empty")
            regex = None
            if pattern.startswith("re:"):
                try:
                    regex = re.compile(unicodedata.normalize("NFC", pattern[3:]), re.IGNORECASE)
                except re.error as exc:
                    raise UserError(
                        f"{where}: line {line}: {pattern[3:]!r} is not a regular expression ({exc})") from None
            else:
                pattern = _fold(pattern)
            rules.append(MapRule(line, report, fld, pattern, code, regex))
        return cls(rules, str(path))

    def match(self, report: str, fields: dict[str, tuple[str, ...]]) -> tuple[str | None, int | None]:
        """The exam code and the map's line for a study, or ``(None, None)``."""
        key = (report, *(fields.get(f, ()) for f in MAP_FIELDS))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._match(report, fields)
            if len(self._cache) < 100_000:
                self._cache[key] = hit
        return hit

    def _match(self, report: str, fields: dict[str, tuple[str, ...]]) -> tuple[str | None, int | None]:
        folded = {f: [(v, _fold(v)) for v in fields.get(f, ()) if v and v.strip()] for f in MAP_FIELDS}
        for rule in self.rules:
            if rule.report and rule.report != report:
                continue
            for raw, low in folded[rule.field]:
                if rule.regex is not None:
                    if rule.regex.search(unicodedata.normalize("NFC", raw.strip())):
                        return rule.exam_code, rule.line
                elif low == rule.pattern:
                    return rule.exam_code, rule.line
        return None, None
