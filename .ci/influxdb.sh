#!/bin/sh
# Make an influxd binary available for the InfluxDB integration tests (test/telemetry/*).
# Idempotent: installs Debian's influxdb package (1.6.7 on Debian 12) only when influxd is missing.
# The package is not started here: each test starts its own influxd on 127.0.0.1 with a temp config.
set -eu
if command -v influxd >/dev/null 2>&1 || [ -x "${GRIDHUB_TEST_INFLUXD:-/usr/bin/influxd}" ]; then
  echo "influxdb.sh: influxd present: $(command -v influxd || echo "${GRIDHUB_TEST_INFLUXD:-/usr/bin/influxd}")"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq influxdb >/dev/null
# The package enables a systemd unit; the tests do not use it.
$SUDO systemctl disable --now influxdb >/dev/null 2>&1 || true
echo "influxdb.sh: installed $(influxd version 2>/dev/null || echo influxd)"
