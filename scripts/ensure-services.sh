#!/usr/bin/env bash
# For `make bench` only (bench/deployment.py), never for the tests: make sure the machine's
# PostgreSQL, Redis and RabbitMQ run on loopback with the credentials the benchmarks use.
# Installs them from Debian's packages when absent, starts them when stopped, and creates
# the role, vhost and user idempotently. Safe to run again and again. The tests use private
# servers of their own instead (tests/services; `make test` runs
# scripts/install-test-tools.sh, which installs programs and starts nothing).
#
#   PostgreSQL  127.0.0.1:5432  role fitboard/fitboard (CREATEDB)
#   Redis       127.0.0.1:6379  (the benchmarks use database 11)
#   RabbitMQ    127.0.0.1:5672  user fitboard/fitboard, vhost fitboard_test
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 tries=${3:-60}
  for _ in $(seq "$tries"); do
    if port_open "$port"; then return 0; fi
    sleep 1
  done
  log "$name did not open port $port"; return 1
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"; $SUDO apt-get update -qq; apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# ---------------------------------------------------------------- PostgreSQL
if ! command -v pg_ctlcluster >/dev/null 2>&1; then apt_install postgresql; fi
if ! port_open 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 PostgreSQL
fi
psql_admin() { $SUDO -u postgres psql -v ON_ERROR_STOP=1 -qtA "$@" 2>/dev/null || su postgres -c "psql -v ON_ERROR_STOP=1 -qtA $(printf '%q ' "$@")"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='fitboard'")" != "1" ]; then
  log "creating PostgreSQL role fitboard"
  psql_admin -c "CREATE ROLE fitboard LOGIN CREATEDB PASSWORD 'fitboard'"
fi

# ---------------------------------------------------------------- Redis
if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server; fi
if ! port_open 6379; then
  log "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
fi

# ---------------------------------------------------------------- RabbitMQ
if ! command -v rabbitmq-server >/dev/null 2>&1; then apt_install rabbitmq-server; fi
if ! port_open 5672; then
  log "starting RabbitMQ"
  $SUDO rabbitmq-server -detached
  wait_port 5672 RabbitMQ 120
fi
$SUDO rabbitmqctl await_startup >/dev/null 2>&1 || true
if ! $SUDO rabbitmqctl list_users -q 2>/dev/null | grep -q '^fitboard\b'; then
  log "creating RabbitMQ user fitboard"
  $SUDO rabbitmqctl add_user fitboard fitboard >/dev/null
fi
if ! $SUDO rabbitmqctl list_vhosts -q 2>/dev/null | grep -qx 'fitboard_test'; then
  log "creating RabbitMQ vhost fitboard_test"
  $SUDO rabbitmqctl add_vhost fitboard_test >/dev/null
fi
$SUDO rabbitmqctl set_permissions -p fitboard_test fitboard '.*' '.*' '.*' >/dev/null
# The management API is not needed; policies and queues are declared by fitboard itself.
log "PostgreSQL, Redis and RabbitMQ are up on loopback"
