'use strict';
/**
 * Node-RED settings for GridHub's integrators' workbench (`npm run flows`, the docker-compose service, tests).
 * Everything comes from the environment:
 *   NODE_RED_HOST (127.0.0.1), NODE_RED_PORT (1880)
 *   NODE_RED_ADMIN_USER (admin), NODE_RED_ADMIN_PASSWORD or NODE_RED_ADMIN_PASSWORD_HASH (bcrypt);
 *     with neither, a password is generated and printed once at start
 *   NODE_RED_CREDENTIAL_SECRET: key of flows_cred.json (without it Node-RED generates one in .config.runtime.json)
 *   GRIDHUB_NODES_DIR: where node-red-contrib-gridhub is, when it is not installed in the user dir
 *   GRIDHUB_HTTP_URL, GRIDHUB_MQTT_URL, GRIDHUB_INTEGRATION_USER, GRIDHUB_INTEGRATION_TOKEN: used by the flows
 *     (`${VAR}` in the GridHub config node)
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function bcryptjs() {
  // node-red depends on bcryptjs; resolve it from node-red wherever that is installed
  const from = [__dirname, process.cwd()];
  try {
    from.push(path.dirname(require.resolve('node-red/package.json', { paths: from })));
  } catch {}
  return require(require.resolve('bcryptjs', { paths: from }));
}

function adminPassword() {
  if (process.env.NODE_RED_ADMIN_PASSWORD_HASH) return process.env.NODE_RED_ADMIN_PASSWORD_HASH;
  let password = process.env.NODE_RED_ADMIN_PASSWORD;
  if (!password) {
    password = crypto.randomBytes(12).toString('base64url');
    console.log(
      `\n  Node-RED editor login: ${process.env.NODE_RED_ADMIN_USER || 'admin'} / ${password}` +
        '\n  (generated for this run; set NODE_RED_ADMIN_PASSWORD to choose one)\n',
    );
  }
  return bcryptjs().hashSync(password, 10);
}

const nodesDir = [];
const bundled =
  process.env.GRIDHUB_NODES_DIR || path.resolve(__dirname, '../node-red/node-red-contrib-gridhub');
if (fs.existsSync(path.join(bundled, 'package.json'))) nodesDir.push(bundled);

module.exports = {
  uiHost: process.env.NODE_RED_HOST || '127.0.0.1',
  uiPort: Number(process.env.NODE_RED_PORT || 1880),
  flowFile: 'flows.json',
  flowFilePretty: true,
  ...(process.env.NODE_RED_CREDENTIAL_SECRET
    ? { credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET }
    : {}),
  nodesDir,

  // The editor and its admin API are locked; flows' own HTTP endpoints (httpNodeRoot) stay open.
  adminAuth: {
    type: 'credentials',
    users: [
      { username: process.env.NODE_RED_ADMIN_USER || 'admin', password: adminPassword(), permissions: '*' },
    ],
  },
  telemetry: { enabled: false },
  diagnostics: { enabled: false, ui: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  functionExternalModules: false,
  editorTheme: { projects: { enabled: false }, tours: false },
  logging: { console: { level: process.env.NODE_RED_LOG_LEVEL || 'info', metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};
