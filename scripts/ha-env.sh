#!/bin/sh
# Random secrets for docker-compose.yml's `ha` profile, as a .env file on stdout:
#   scripts/ha-env.sh > .env
# Keep the file out of version control and in the backups with the volumes: the database and the hub key are
# useless without each other, and a changed GRIDHUB_PG_PASSWORD no longer opens an initialised database.
set -eu
secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
cat <<ENV
GRIDHUB_PG_PASSWORD=$(secret)
GRIDHUB_MQTT_EXTERNAL_PASSWORD=$(secret)
GRIDHUB_MQTT_HOOK_SECRET=$(secret)
EMQX_NODE_COOKIE=$(secret)
EMQX_DASHBOARD_PASSWORD=$(secret)
INFLUXDB_ADMIN_PASSWORD=$(secret)
INFLUXDB_TOKEN=$(secret)
GRAFANA_ADMIN_PASSWORD=$(secret)
ENV
