"""Regenerate the bundled sample survey in data/raw/sample/ from its seed.

    .venv/bin/python scripts/make_sample.py

Writes damaged survey submissions to data/raw/sample/surveys/ and what a
correct reader stores to data/raw/sample/truth/ (exposures.csv.gz,
non_exposures.csv). The sample is committed; rerun this only to change it.
"""

from __future__ import annotations

import shutil

from drl_analysis.core.paths import SAMPLE_DIR
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures, write_survey

SEED = 2025


def main() -> None:
    surveys = SAMPLE_DIR / "surveys"
    truth = SAMPLE_DIR / "truth"
    shutil.rmtree(surveys, ignore_errors=True)
    truth.mkdir(parents=True, exist_ok=True)
    model = SurveyModel(years=(2022, 2023, 2024), facilities_per_source=8, patients_per_exam=(6, 18))
    exposures = simulate_exposures(model, seed=SEED)
    survey = write_survey(surveys, exposures, seed=SEED)
    gz = {"method": "gzip", "mtime": 0}  # no time stamp: the same sample gives the same bytes
    survey.truth.to_csv(truth / "exposures.csv.gz", index=False, lineterminator="\n", compression=gz)
    survey.non_exposures.to_csv(truth / "non_exposures.csv", index=False, lineterminator="\n")
    print(f"{len(survey.files)} files, {len(survey.truth)} exposures, {len(survey.non_exposures)} other rows")


if __name__ == "__main__":
    main()
