#!/usr/bin/env bash
# The test command (README, CI): installs what the tests need, builds, and runs every test project.
# The integration tests boot the real AppHost in LocalProcesses mode (PostgreSQL, RabbitMQ and s3rver as processes).
set -euo pipefail
root="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)"
cd "$root"

bash eng/bootstrap.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
results="$(mktemp -d)"
status=0
dotnet test Mlops.Aspire.sln --logger "trx" --results-directory "$results" "$@" || status=$?

# One closing line over all test projects.
passed=0 failed=0 skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters="$(grep -o '<Counters [^>]*>' "$trx")"
  value() { printf '%s' "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  passed=$((passed + $(value passed))); failed=$((failed + $(value failed)))
  skipped=$((skipped + $(value notExecuted)))
done
rm -rf "$results"
echo "Tests: $passed passed, $failed failed, $skipped skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then echo "No test ran." >&2; exit 1; fi
exit "$status"
