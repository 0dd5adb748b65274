#!/usr/bin/env bash
# The main job on the bundled sample: set up if needed, then run the notebooks
# (01 OCR of the dose-report images, 02 repair, 03 DRL quartiles, 04 clustering,
# 05 report) on data/raw/sample into data/processed/sample/<version>/ and print
# where the pages and PDFs of each edition are (identified: internal;
# pseudonymised: for publication). Extra arguments go to `drl-analysis run`,
# e.g. `bash scripts/run-sample.sh --years 2022 2023 2024` (one version per year).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
.venv/bin/drl-analysis run --input data/raw/sample "$@"
echo "run-sample: finished in $(( $(date +%s) - start )) s; data/processed/sample/latest is the newest version"
