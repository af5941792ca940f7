'use strict';
/**
 * Node-RED settings for GridHub's integrators' workbench (`npm run flows`, the docker-compose service, tests).
 * Everything comes from the environment:
 *   NODE_RED_HOST (127.0.0.1), NODE_RED_PORT (1880)
 *   NODE_RED_ADMIN_USER (admin), NODE_RED_ADMIN_PASSWORD or NODE_RED_ADMIN_PASSWORD_HASH (bcrypt);
 *     with neither, a password is generated and printed once at start
 *   NODE_RED_HTTP_USER (flows), NODE_RED_HTTP_PASSWORD or NODE_RED_HTTP_PASSWORD_HASH: Basic auth of the flows'
 *     own HTTP endpoints (http in nodes); with neither, a password is generated and printed once at start
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

function passwordHash(prefix, user, what) {
  if (process.env[`${prefix}_PASSWORD_HASH`]) return process.env[`${prefix}_PASSWORD_HASH`];
  let password = process.env[`${prefix}_PASSWORD`];
  if (!password) {
    password = crypto.randomBytes(12).toString('base64url');
    // flows read it with env.get (the example flow calls its own stand-in endpoint with it)
    process.env[`${prefix}_PASSWORD`] = password;
    console.log(
      `\n  ${what}: ${user} / ${password}` +
        `\n  (generated for this run; set ${prefix}_PASSWORD to choose one)\n`,
    );
  }
  return bcryptjs().hashSync(password, 10);
}

const adminUser = process.env.NODE_RED_ADMIN_USER || 'admin';
const httpUser = process.env.NODE_RED_HTTP_USER || 'flows';

/**
 * The editor's login throttle, per source address: after 5 failures each further try waits (doubling from 1 s
 * up to 5 min) and is answered 429 with Retry-After. Node-RED's own lockout (6 tries per user name within
 * 10 minutes, for everyone, answered 500) is answered 429 too.
 */
const failures = new Map();
function loginThrottle(req, res, next) {
  if (req.method !== 'POST' || !/\/auth\/token$/.test(req.path || req.url)) return next();
  const ip = req.ip || req.socket.remoteAddress || 'unknown';
  const now = Date.now();
  const f = failures.get(ip);
  if (f && f.until > now) {
    res.set('Retry-After', String(Math.ceil((f.until - now) / 1000)));
    return res
      .status(429)
      .json({ error: 'too_many_attempts', message: 'too many failed logins; try again later' });
  }
  const end = res.end;
  res.end = function (...args) {
    res.end = end;
    if (res.statusCode === 200) failures.delete(ip);
    else {
      const count = (failures.get(ip)?.count || 0) + 1;
      const wait = count > 5 ? Math.min(300_000, 1000 * 2 ** (count - 6)) : 0;
      failures.set(ip, { count, until: now + wait });
      if (failures.size > 10_000) failures.delete(failures.keys().next().value);
      if (res.statusCode >= 500 && !res.headersSent) {
        // Node-RED's own lockout: say what it is
        res.statusCode = 429;
        res.setHeader('Retry-After', '600');
      }
    }
    return end.apply(this, args);
  };
  next();
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

  // The editor and its admin API are locked; so are the flows' own HTTP endpoints (httpNodeRoot).
  adminAuth: {
    type: 'credentials',
    users: [
      {
        username: adminUser,
        password: passwordHash('NODE_RED_ADMIN', adminUser, 'Node-RED editor login'),
        permissions: '*',
      },
    ],
  },
  httpAdminMiddleware: loginThrottle,
  httpNodeAuth: {
    user: httpUser,
    pass: passwordHash('NODE_RED_HTTP', httpUser, 'Node-RED flows HTTP login'),
  },
  telemetry: { enabled: false },
  diagnostics: { enabled: false, ui: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  functionExternalModules: false,
  editorTheme: { projects: { enabled: false }, tours: false },
  logging: { console: { level: process.env.NODE_RED_LOG_LEVEL || 'info', metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};
