# Sourced by test.sh: start the machine's PostgreSQL cluster if it is down and
# export DRL_ANALYSIS_TEST_POSTGRES_URL for the storage test. Needs root or sudo.
pg_as() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
if [ -z "${DRL_ANALYSIS_TEST_POSTGRES_URL:-}" ] && command -v pg_lsclusters >/dev/null; then
  cluster=$(pg_lsclusters -h | head -n 1)
  if [ -n "$cluster" ]; then
    read -r pg_version pg_name port pg_status _ <<< "$cluster"
    if [ "$pg_status" != online ]; then
      if [ "$(id -u)" = 0 ]; then pg_ctlcluster "$pg_version" "$pg_name" start
      else sudo pg_ctlcluster "$pg_version" "$pg_name" start; fi
    fi
    pg_as "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='drl'\" | grep -q 1 || psql -p $port -qc \"CREATE ROLE drl LOGIN PASSWORD 'drl' CREATEDB\""
    pg_as "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='drl_test'\" | grep -q 1 || createdb -p $port -O drl drl_test"
    export DRL_ANALYSIS_TEST_POSTGRES_URL="postgresql+psycopg://drl:drl@127.0.0.1:$port/drl_test"
  fi
fi
