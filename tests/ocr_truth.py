"""Helpers of the OCR tests: a layout's fields by column, and a read table scored against the ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drl_analysis.ocr import layouts, values

EN = {f.column: f for f in layouts.load_layout("clarityiq_en").fields}
DE = {f.column: f for f in layouts.load_layout("clarityiq_de").fields}


def read(text: str, column: str, notation: str = "en", **kwargs) -> values.Reading:
    """One reading of ``text`` for ``column`` of the English (or German) ClarityIQ layout."""
    return values.parse_reading(text, (EN if notation == "en" else DE)[column], notation, **kwargs)


def fields_right(table: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int, pd.DataFrame]:
    """Fields read right, fields in all, and the wrong fields with the report's review mark."""
    table = table.assign(source_file=table["source_file"].map(lambda p: Path(p).name))
    merged = truth.merge(table, on="source_file", suffixes=("_true", ""))
    assert len(merged) == len(truth)
    wrong = []
    for column in layouts.OCR_FIELDS:
        ok = np.isclose(merged[column].astype(float), merged[f"{column}_true"], rtol=1e-9, atol=1e-9)
        for _, row in merged[~ok].iterrows():
            wrong.append({"file": row["source_file"], "column": column, "true": row[f"{column}_true"],
                          "read": row[column], "text": row.get(f"text_{column}"),
                          "needs_review": row["needs_review"]})
    total = len(merged) * len(layouts.OCR_FIELDS)
    columns = ["file", "column", "true", "read", "text", "needs_review"]
    return total - len(wrong), total, pd.DataFrame(wrong, columns=columns)
