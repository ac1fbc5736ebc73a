#!/usr/bin/env bash
# `make integration`: the integration tests in two pytest processes at once (the machines have
# 2 cores and an ansible-playbook run keeps about one busy). The suites that share the session's
# emulated converge (`converged_site`) run together in one process, so it is built once; every
# other suite runs in the other. Each writes its own log, printed whole when both are done.
set -u
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
shared=() other=()
for f in tests/integration/test_*.py; do
  if grep -qE 'converged_site|clone_cluster' "$f"; then shared+=("$f"); else other+=("$f"); fi
done
other+=(tests/integration/emulator tests/integration/real_cluster)
pytest "${shared[@]}" "$@" >"$logs/shared.log" 2>&1 &
pid_shared=$!
pytest "${other[@]}" "$@" >"$logs/other.log" 2>&1 &
pid_other=$!
wait "$pid_shared"; rc_shared=$?
wait "$pid_other"; rc_other=$?
echo "=== integration, suites sharing the emulated converge (exit $rc_shared) ==="
cat "$logs/shared.log"
echo "=== integration, the other suites (exit $rc_other) ==="
cat "$logs/other.log"
rm -rf "$logs"
# pytest's 5 (no tests collected) is a failure here too: both halves must run tests.
[ "$rc_shared" -eq 0 ] && [ "$rc_other" -eq 0 ]
