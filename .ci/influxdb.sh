#!/bin/sh
# influxd for the InfluxDB integration tests (test/telemetry/*): Debian's influxdb package (1.6.7 on Debian 12).
# Sourced by .ci/run (which passes APT_INSTALL=apt_install), or run on its own. Idempotent: installs only when
# no influxd is found. Nothing is started here: each test starts its own influxd on 127.0.0.1 with a temp config.
gridhub_ci_influxdb() {
  if command -v influxd >/dev/null 2>&1 || [ -x "${GRIDHUB_TEST_INFLUXD:-/usr/bin/influxd}" ]; then
    echo "influxd: $(command -v influxd || echo "$GRIDHUB_TEST_INFLUXD") (test/telemetry runs against it)"
    return 0
  fi
  if [ -n "${APT_INSTALL:-}" ]; then
    "$APT_INSTALL" influxdb
  elif [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
  else
    echo "influxd: not root, cannot apt-get install influxdb"
  fi
  # The package enables a systemd unit; the tests never use it.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now influxdb >/dev/null 2>&1 || true; fi
  if command -v influxd >/dev/null 2>&1; then
    echo "influxd: installed $(influxd version 2>/dev/null || true)"
  else
    echo "influxd: not installed; the InfluxDB tests in test/telemetry will skip"
  fi
  return 0
}
gridhub_ci_influxdb
