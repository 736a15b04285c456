#!/usr/bin/env bash
# Run every benchmark and print its figures. SQLite by default; with DATABASE_URL set
# (e.g. postgres://postgres@127.0.0.1:5432/postgres) the database benchmarks create and drop
# a temporary PostgreSQL database instead. Each script also runs on its own (see its header).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "run 'bash scripts/test' once first to create .venv" >&2; exit 1; }
export SECRET_KEY="${SECRET_KEY:-evalsite-benchmarks-only}"
# Benchmarks only: a fixed encryption key (for DATABASE_URL runs) and loopback allowed for
# the fake agents and judges on 127.0.0.1.
export EVALSITE_ENCRYPTION_KEY="${EVALSITE_ENCRYPTION_KEY:-YmVuY2htYXJrcy1vbmx5LW5vdC1hLXNlY3JldC0xMjM=}"
export EVALSITE_ALLOW_LOOPBACK="${EVALSITE_ALLOW_LOOPBACK:-1}"
# How fast this machine's cores are right now (a shared host's speed moves by a quarter from
# one hour to the next): the same pure-Python loop at the start and at the end.
calibrate() { "$PY" -c 'import sys, time; t=time.perf_counter(); s=0
for i in range(10_000_000): s+=i*i
print(f"calibration ({sys.argv[1]}): 10M-iteration Python loop {time.perf_counter()-t:.2f} s")' "$1"; }
calibrate start
for bench in bench_metrics bench_workflows bench_datasets bench_runs bench_e2e bench_results_table bench_api bench_ingest; do
  echo
  echo "=============== $bench ($([ -n "${DATABASE_URL:-}" ] && echo PostgreSQL || echo SQLite)) ==============="
  "$PY" "benchmarks/$bench.py"
done
calibrate end
