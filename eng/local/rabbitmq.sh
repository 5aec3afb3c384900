#!/usr/bin/env bash
# Runs RabbitMQ in the foreground for the AppHost (LocalProcesses mode), with its node, data, logs and config in a
# private folder, listening on 127.0.0.1 only, with the user and password the AppHost passes.
set -euo pipefail
: "${MLOPS_RABBITMQ_DATA:?}" "${MLOPS_RABBITMQ_PORT:?}" "${MLOPS_RABBITMQ_DIST_PORT:?}" "${MLOPS_RABBITMQ_USER:?}" "${MLOPS_RABBITMQ_PASSWORD:?}"
mkdir -p "$MLOPS_RABBITMQ_DATA/mnesia" "$MLOPS_RABBITMQ_DATA/log"
chmod 700 "$MLOPS_RABBITMQ_DATA"

# default_user/default_pass take effect when the node's database is first created.
umask 077
cat > "$MLOPS_RABBITMQ_DATA/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$MLOPS_RABBITMQ_PORT
default_user = $MLOPS_RABBITMQ_USER
default_pass = $MLOPS_RABBITMQ_PASSWORD
loopback_users = none
CONF
echo '[].' > "$MLOPS_RABBITMQ_DATA/enabled_plugins"

# One node per data folder, so a test run and a developer's AppHost can share the machine.
node_id="$(printf '%s' "$MLOPS_RABBITMQ_DATA" | md5sum | cut -c1-8)"
export HOME="$MLOPS_RABBITMQ_DATA"
export RABBITMQ_NODENAME="mlops-$node_id@localhost"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$MLOPS_RABBITMQ_PORT"
export RABBITMQ_DIST_PORT="$MLOPS_RABBITMQ_DIST_PORT"
export RABBITMQ_MNESIA_BASE="$MLOPS_RABBITMQ_DATA/mnesia"
export RABBITMQ_LOG_BASE="$MLOPS_RABBITMQ_DATA/log"
export RABBITMQ_LOGS=-
export RABBITMQ_CONFIG_FILE="$MLOPS_RABBITMQ_DATA/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$MLOPS_RABBITMQ_DATA/enabled_plugins"
export RABBITMQ_ADVANCED_CONFIG_FILE="$MLOPS_RABBITMQ_DATA/advanced.config"
# Erlang distribution and its port mapper listen on all interfaces by default; keep them on loopback.
# Schedulers that find no work sleep at once instead of spinning (RabbitMQ's advice for machines with few cores):
# spinning schedulers took CPU from the services and PostgreSQL on the 2-core machines this runs on.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
export ERL_EPMD_ADDRESS=127.0.0.1
exec /usr/lib/rabbitmq/bin/rabbitmq-server
