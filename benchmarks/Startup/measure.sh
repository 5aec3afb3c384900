#!/usr/bin/env bash
# Measures `dotnet run --project AppHost` from launch to every service answering /health with 200
# (a service is healthy only once its database, the bus and S3 are). Prints one line per run.
# Usage: benchmarks/Startup/measure.sh [runs] [fresh|kept]   (fresh: a new data folder each run, so initdb is included)
# Known problem (2026-11-26): a detached AppHost sometimes does not exit on SIGINT, so a second run in one invocation
# can find the first still holding the ports. Until that is fixed, measure one run per invocation and check that no
# AppHost, postgres, beam.smp or s3rver process is left before the next.
set -euo pipefail
root="$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)"
runs="${1:-1}"; data_mode="${2:-fresh}"
ports=(5101 5102 5103 5104 5105)   # the services' launch-profile ports (proxied by the AppHost)
kept="$(mktemp -d /var/tmp/mlops-startup-XXXX)"
dotnet build "$root/AppHost" -v q -nologo >/dev/null

all_healthy() {
  for p in "${ports[@]}"; do
    [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://localhost:$p/health")" = 200 ] || return 1
  done
}

for i in $(seq "$runs"); do
  data="$kept"; [ "$data_mode" = fresh ] && data="$(mktemp -d /var/tmp/mlops-startup-XXXX)"
  chmod 755 "$data"  # PostgreSQL runs as the postgres user when started as root: it must be able to enter the folder
  start=$(date +%s.%N)
  # Its own session, so Ctrl+C can be sent to the whole group (dotnet run and the AppHost) as a terminal would.
  setsid dotnet run --project "$root/AppHost" --no-build -- "--Infrastructure:DataDirectory=$data" >/tmp/mlops-startup.log 2>&1 &
  pid=$!
  deadline=$(( $(date +%s) + 180 ))
  until all_healthy; do
    sleep 0.25
    if [ "$(date +%s)" -gt "$deadline" ]; then echo "not healthy within 180 s; see /tmp/mlops-startup.log" >&2; kill -INT -- -"$pid"; exit 1; fi
    kill -0 "$pid" 2>/dev/null || { echo "AppHost exited; see /tmp/mlops-startup.log" >&2; exit 1; }
  done
  end=$(date +%s.%N)
  printf 'run %d (%s data): %.1f s to all-healthy\n' "$i" "$data_mode" "$(echo "$end - $start" | bc)"
  kill -INT -- -"$pid"; wait "$pid" || true
  sleep 3
done
