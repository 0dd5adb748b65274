#!/usr/bin/env bash
# The whole test suite: set up if needed (test extras, Tesseract, PostgreSQL),
# start a PostgreSQL server for its test, run pytest on 2 workers.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k ingest`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
source scripts/postgres.sh
set +e
.venv/bin/python -m pytest -n 2 "$@"
rc=$?
set -e
if [ $rc = 5 ]; then echo "test.sh: pytest ran no test" >&2; exit 1; fi
exit $rc
