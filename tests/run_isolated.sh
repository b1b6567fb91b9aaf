#!/usr/bin/env bash
# Runs every test marked `isolated` in a pytest process of its own, then prints one summary line.
# Why: kafka-python keeps state across the consumers of one process (see tests/kafka/test_kafka_e2e.py).
set -uo pipefail
pytest_bin=${1:-.venv/bin/pytest}
mapfile -t ids < <("$pytest_bin" -q --collect-only -m isolated -p no:cacheprovider | grep '::')
if [ "${#ids[@]}" -eq 0 ]; then
  echo "no isolated tests collected" >&2
  exit 1
fi
passed=0
failed=0
for id in "${ids[@]}"; do
  echo "== $id (own process)"
  if "$pytest_bin" -q -p no:cacheprovider "$id"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "isolated: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
