#!/bin/sh
# First start of an empty /data: the example flow, and credentials that read the integration's user name and
# token from the environment (GRIDHUB_INTEGRATION_USER / GRIDHUB_INTEGRATION_TOKEN), so no token is stored.
set -e
if [ ! -f /data/flows.json ]; then
  cp /opt/gridhub/example-flow.json /data/flows.json
  # shellcheck disable=SC2016 # the ${...} are Node-RED's, resolved by the GridHub config node at run time
  printf '%s\n' '{"gridhub-hub":{"username":"${GRIDHUB_INTEGRATION_USER}","token":"${GRIDHUB_INTEGRATION_TOKEN}"}}' \
    > /data/flows_cred.json
  chmod 600 /data/flows_cred.json
fi
cd /usr/src/node-red
exec node $NODE_OPTIONS node_modules/node-red/red.js --settings /opt/gridhub/settings.cjs --userDir /data "$@"
