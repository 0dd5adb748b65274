"""Survey years: the one parser and the one formatter every stage uses.

Years are written as ``"2021-2023"`` (a range), ``"2021,2023"`` (a list) or a
mix such as ``"2019,2021-2023"``; a list of such items (``--years 2021 2022``)
reads the same way. :func:`format_years` writes the compact form back, so
``parse_years([format_years(ys)]) == sorted(set(ys))``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import UserError


def _items(values: object) -> list[str]:
    if values is None:
        return []
    if isinstance(values, (str, int, np.integer)):
        return [str(values)]
    if isinstance(values, float):
        return [] if values != values else [str(int(values))]
    return [str(v) for v in values]


def parse_years(values: object, *, name: str = "--years") -> list[int] | None:
    """Years from ``"2021-2023"``, ``["2021", "2022"]``, ``["2021,2022"]``, ``2022`` or ``[2021, 2022]``.

    Parameters
    ----------
    values : str, int, or sequence of str or int, optional
        None, ``""`` or an empty sequence mean "all years".
    name : str, default "--years"
        The parameter's name in the error message.

    Returns
    -------
    list of int or None
        Sorted, without repeats; None for "all years".

    Raises
    ------
    UserError
        For an item that is not a year or a range ``low-high`` with ``low <= high``.

    >>> parse_years(["2021-2023"])
    [2021, 2022, 2023]
    >>> parse_years("2019,2021-2022")
    [2019, 2021, 2022]
    >>> parse_years("") is None
    True
    """
    years: set[int] = set()
    items = _items(values)
    for value in items:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                if "-" in part:
                    lo, hi = (int(x) for x in part.split("-", 1))
                    if hi < lo:
                        raise ValueError
                    years.update(range(lo, hi + 1))
                else:
                    years.add(int(part))
            except ValueError:
                raise UserError(f"{name}: {value!r} is not a year or a range such as 2021-2023") from None
    return sorted(years) if years else None


def format_years(years: Iterable[int] | None) -> str:
    """Years as a compact label: ``[2019, 2021, 2022, 2023]`` -> ``"2019,2021-2023"``.

    An empty or missing list gives ``""``.

    >>> format_years([2023, 2021, 2022])
    '2021-2023'
    >>> format_years([2019, 2021, 2022, 2023])
    '2019,2021-2023'
    """
    runs: list[list[int]] = []
    for y in sorted({int(y) for y in years or []}):
        if runs and y == runs[-1][1] + 1:
            runs[-1][1] = y
        else:
            runs.append([y, y])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
