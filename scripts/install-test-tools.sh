#!/usr/bin/env bash
# Install the programs the test suite runs, from Debian's packages, when they are absent:
#
#   postgresql       initdb, pg_ctl      tests/services/postgres.py
#   redis-server     redis-server        tests/services/redis.py
#   rabbitmq-server  rabbitmq-server     tests/services/rabbitmq.py
#   nodejs, npm      node, npm           tests/live/test_js_client.py (socket.io-client)
#   curl             curl                tests/e2e/test_readme.py (the README's commands)
#   prometheus       promtool            tests/unit/test_monitoring.py (the alert rules)
#
# Nothing else. The tests start private PostgreSQL, Redis and RabbitMQ servers of their own
# on free loopback ports (tests/services); this script starts, stops and configures no
# service, and creates no role, user or vhost: the machine's own services are left as they
# are. Safe to run again and again.
set -euo pipefail

log() { printf '[test-tools] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have() { command -v "$1" >/dev/null 2>&1; }
# The same places tests/services looks in.
have_postgres() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
    { have pg_config && [ -x "$(pg_config --bindir)/initdb" ] && [ -x "$(pg_config --bindir)/pg_ctl" ]; }
}
have_rabbitmq() { [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || have rabbitmq-server; }

missing=()
have_postgres || missing+=(postgresql)
have redis-server || missing+=(redis-server)
have_rabbitmq || missing+=(rabbitmq-server)
have node || missing+=(nodejs)
have npm || missing+=(npm)
have curl || missing+=(curl)
have promtool || missing+=(prometheus)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi

# Debian starts a server's service when its package is installed; the tests need only the
# programs. A policy-rc.d that answers 101 (read by invoke-rc.d and deb-systemd-invoke)
# forbids that during this install. A machine that has a policy-rc.d of its own keeps it.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Written by fitboard scripts/install-test-tools.sh for one apt-get run.\nexit 101\n' |
    $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi

log "apt-get update"
$SUDO apt-get update -qq
log "installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
