"""Regenerate the bundled sample survey in data/raw/sample/ from its seed.

    .venv/bin/python scripts/make_sample.py [--only surveys|rdsr]

Writes damaged survey submissions to data/raw/sample/surveys/ and what a
correct reader stores to data/raw/sample/truth/ (exposures.csv.gz,
non_exposures.csv); and DICOM dose reports (RDSR) to data/raw/sample/rdsr/
with their truth in data/raw/sample/truth/rdsr.csv. The sample is committed;
rerun this only to change it.
"""

from __future__ import annotations

import argparse
import shutil

from drl_analysis.core.paths import SAMPLE_DIR
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures, write_survey

SEED = 2025


def make_surveys() -> None:
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


def make_rdsrs() -> None:
    from drl_analysis.synthetic.rdsr import write_sample

    folder = SAMPLE_DIR / "rdsr"
    shutil.rmtree(folder, ignore_errors=True)
    (SAMPLE_DIR / "truth").mkdir(parents=True, exist_ok=True)
    sample = write_sample(folder, seed=SEED)
    sample.truth.to_csv(SAMPLE_DIR / "truth" / "rdsr.csv", index=False, lineterminator="\n")
    counts = sample.truth["outcome"].value_counts().to_dict()
    print(f"{len(sample.files)} RDSR files ({counts})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("surveys", "rdsr"))
    args = ap.parse_args()
    if args.only in (None, "surveys"):
        make_surveys()
    if args.only in (None, "rdsr"):
        make_rdsrs()


if __name__ == "__main__":
    main()
