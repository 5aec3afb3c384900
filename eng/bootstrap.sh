#!/usr/bin/env bash
# Installs what the AppHost's LocalProcesses mode and the tests need, if missing: PostgreSQL and RabbitMQ servers
# (Debian packages), Node.js, boto3 (python3-boto3), and the project's npm packages (s3rver, the flights data, an MLflow client).
# Idempotent: a second run installs nothing. Run by the AppHost before the infrastructure starts, and by eng/test.sh.
set -euo pipefail
root="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)"

missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
# boto3: a SageMaker client nobody here wrote, which the tests point at the local training service.
python3 -c 'import boto3' 2>/dev/null || missing+=(python3-boto3)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$EUID" = 0 ]; then sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo)
  else
    echo "Mlops.Aspire needs ${missing[*]} for local infrastructure and cannot install them without root. Run: sudo apt-get install -y ${missing[*]}" >&2
    exit 3
  fi
  echo "bootstrap: installing ${missing[*]}"
  # Package installs must not start system-wide servers: the AppHost runs its own, on its own ports and data.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null; "${sudo[@]}" chmod +x "$policy"; added_policy=1; fi
  trap '[ $added_policy = 1 ] && "${sudo[@]}" rm -f "$policy"' EXIT
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: reinstall only when the lock file changed since the last install.
node_dir="$root/eng/node"
stamp="$node_dir/node_modules/.mlops-installed"
if [ ! -f "$stamp" ] || [ "$node_dir/package-lock.json" -nt "$stamp" ]; then
  echo "bootstrap: installing npm packages in eng/node"
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error >/dev/null
  touch "$stamp"
fi
echo "bootstrap: ok"
