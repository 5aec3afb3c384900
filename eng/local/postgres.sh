#!/usr/bin/env bash
# Runs PostgreSQL in the foreground for the AppHost (LocalProcesses mode): initialises the data folder on first use,
# listens on 127.0.0.1 only, and runs as the postgres user when started as root (PostgreSQL refuses root).
set -euo pipefail
: "${MLOPS_PG_DATA:?}" "${MLOPS_PG_PORT:?}" "${MLOPS_PG_PASSWORD:?}"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

as_owner=()
mkdir -p "$MLOPS_PG_DATA"
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$MLOPS_PG_DATA"
  as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
chmod 700 "$MLOPS_PG_DATA"
if [ ${#as_owner[@]} -gt 0 ] && ! "${as_owner[@]}" test -w "$MLOPS_PG_DATA"; then
  echo "PostgreSQL runs as the postgres user, which cannot reach $MLOPS_PG_DATA (a parent folder is private)." \
       "Set Infrastructure:DataDirectory to a folder it can reach, e.g. /var/tmp/mlops." >&2
  exit 1
fi

if [ ! -s "$MLOPS_PG_DATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "$MLOPS_PG_PASSWORD" > "$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
  "${as_owner[@]}" "$bin/initdb" -D "$MLOPS_PG_DATA" -U postgres --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
fi

extra=()
# Throwaway data (tests) needs no crash safety; this roughly halves write latency.
if [ "${MLOPS_PG_DURABLE:-true}" = false ]; then extra+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off); fi
# A postmaster of a previous start may still be shutting down (or its backends, if it was killed): starting beside it
# fails on the lock file. Ask it for a fast shutdown and wait for it.
if [ -f "$MLOPS_PG_DATA/postmaster.pid" ]; then
  old="$(head -n 1 "$MLOPS_PG_DATA/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$old" ] && [ "$(ps -o comm= -p "$old" 2>/dev/null)" = postgres ]; then
    kill -INT "$old" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$old" 2>/dev/null || break; sleep 0.2; done
  fi
fi

# Stopping the resource sends SIGTERM, which is PostgreSQL's "smart" shutdown: it waits for every client (the services'
# connection pools) to hang up, which they never do, until the orchestrator kills it and leaves backends behind. Turn it
# into a fast shutdown (SIGINT): clients are disconnected and the server stops cleanly in well under a second.
"${as_owner[@]}" "$bin/postgres" -D "$MLOPS_PG_DATA" -p "$MLOPS_PG_PORT" \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories="$MLOPS_PG_DATA" -c max_connections=300 "${extra[@]}" &
server=$!
trap 'kill -INT "$server" 2>/dev/null || true' TERM INT
while :; do
  status=0; wait "$server" || status=$?
  kill -0 "$server" 2>/dev/null || break   # a trapped signal interrupts wait; the server is still stopping
done
exit "$status"
