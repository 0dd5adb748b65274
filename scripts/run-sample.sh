#!/usr/bin/env bash
# The main job on the bundled sample: set up if needed, then ingest the sample
# survey into data/processed/sample/drl.sqlite and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p data/processed/sample
db="sqlite:///$(pwd)/data/processed/sample/drl.sqlite"
.venv/bin/drl-analysis ingest data/raw/sample/surveys --db "$db" --no-progress
.venv/bin/drl-analysis export --db "$db" --out data/processed/sample/exposures.csv
