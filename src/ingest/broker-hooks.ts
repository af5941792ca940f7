import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { DeviceDirectory, LoginGate, TokenAuthenticator } from '../domain/ports.ts';
import type { User } from '../domain/records.ts';
import { TOPIC_ROOT } from '../domain/wire.ts';
import type { Logger } from '../observability/logger.ts';
import { publishChannel, subscriptionAllowed, userSession } from './acl.ts';
import type { MqttConfig } from './config.ts';
import { createCredentialCheck, MAX_USERNAME } from './credentials.ts';
import { isDeviceId, isSafeMqttString } from './topics.ts';

/**
 * The device contract enforced by an external broker (EMQX 5) through its HTTP authentication and HTTP
 * authorization: the broker asks, the hub answers with the same checks its embedded broker makes (credentials.ts
 * for logins, acl.ts for topics). Answers follow EMQX 5's contract: HTTP 200 with `{"result": "allow" | "deny"}`
 * (and `is_superuser` for a login); the HTTP side (secret, rate limit) is src/api/broker-hook-routes.ts.
 */

export interface BrokerLogin {
  clientId: string;
  username: string;
  password: string;
  /** The device's address as the broker saw it: what the login throttle counts per source. */
  peerhost: string;
}

export interface BrokerAccess {
  clientId: string;
  username: string;
  topic: string;
  action: 'publish' | 'subscribe';
}

export interface LoginAnswer {
  result: 'allow' | 'deny';
  is_superuser: boolean;
  /** EMQX ≥ 5.8 disconnects the client at this Unix time (s): a token's expiry ends its MQTT session too. */
  expire_at?: number;
}

export interface AccessAnswer {
  result: 'allow' | 'deny';
}

export interface BrokerHooks {
  authenticate(login: BrokerLogin): Promise<LoginAnswer>;
  authorize(access: BrokerAccess): AccessAnswer;
}

export interface BrokerHookDeps {
  config: Pick<
    MqttConfig,
    'externalUsername' | 'externalPassword' | 'externalClientId' | 'authRefusalMaxDelayMs'
  >;
  devices: DeviceDirectory;
  tokens: TokenAuthenticator;
  users: { get(username: string): User | undefined };
  gate: LoginGate;
  log: Logger;
  metrics: Registry;
}

const MAX_CLIENT_ID = 128;
const DENY: AccessAnswer = { result: 'deny' };
const ALLOW: AccessAnswer = { result: 'allow' };

export function createBrokerHooks(deps: BrokerHookDeps): BrokerHooks {
  const { config, devices, users, gate } = deps;
  const log = deps.log.child({ module: 'ingest', broker: 'hooks' });
  const verify = createCredentialCheck({
    devices,
    tokens: deps.tokens,
    gate,
    log,
    maxRefusalDelayMs: config.authRefusalMaxDelayMs,
  });
  const refusals = new Counter({
    name: 'gridhub_broker_hook_refusals_total',
    help: 'Logins and topic accesses the external broker asked about and the hub refused, by hook and reason',
    labelNames: ['hook', 'reason'] as const,
    registers: [deps.metrics],
  });
  // the hub's own consumer sessions (external.ts) are named `{prefix}-{n}`: nobody else may take such an id
  const hubClientPrefix = config.externalClientId ? `${config.externalClientId}-` : 'gridhub-';
  const hubSecret =
    config.externalUsername !== undefined && config.externalPassword !== undefined
      ? digest(config.externalPassword)
      : undefined;

  function denyLogin(login: BrokerLogin, reason: string, deviceId?: string): LoginAnswer {
    refusals.inc({ hook: 'authn', reason });
    log.info(
      { deviceId, username: deviceId ? undefined : login.username, clientId: login.clientId, reason },
      'external broker login refused',
    );
    return { result: 'deny', is_superuser: false };
  }

  /**
   * The embedded broker gives every principal its own client-id namespace (auth.ts namespacedClientId); an
   * external broker cannot rename a client id, so the id is checked instead: a device uses exactly its own id,
   * and nobody else may use an id in a device's namespace or the hub's — which would let them take over that
   * session (MQTT-3.1.4-2) and knock the device, or the hub's consumer, off the air. Exactly its own id also
   * because EMQX's `hash_clientid` picks the hub instance by the publisher's client id: a second connection
   * under another id would spread one device's readings over two instances.
   */
  function clientIdProblem(login: BrokerLogin, isDevice: boolean): string | undefined {
    const id = login.clientId;
    if (id === '' || id.length > MAX_CLIENT_ID || !isSafeMqttString(id)) return 'client_id';
    if (isDevice) return id === login.username ? undefined : 'client_id';
    if (id.startsWith(hubClientPrefix)) return 'client_id';
    const colon = id.indexOf(':');
    const head = colon < 0 ? id : id.slice(0, colon);
    return devices.get(head) ? 'client_id' : undefined;
  }

  async function hubLogin(login: BrokerLogin): Promise<LoginAnswer> {
    const admission = gate.admit(login.peerhost, login.username);
    if (!admission.ok) return denyLogin(login, 'throttled');
    const given = digest(login.password);
    if (!hubSecret || !timingSafeEqual(given, hubSecret)) {
      admission.settle(false);
      return denyLogin(login, 'bad_credentials');
    }
    admission.settle(true);
    // superuser: the broker lets the hub subscribe to `$share/…/gh/+/…` and publish alarms and error answers
    return { result: 'allow', is_superuser: true };
  }

  return {
    async authenticate(login) {
      if (login.username === '') return denyLogin(login, 'anonymous');
      if (login.username.length > MAX_USERNAME || !isSafeMqttString(login.username))
        return denyLogin(login, 'username');
      if (config.externalUsername !== undefined && login.username === config.externalUsername)
        return hubLogin(login);
      const isDevice = devices.get(login.username) !== undefined;
      const problem = clientIdProblem(login, isDevice);
      if (problem) return denyLogin(login, problem, isDevice ? login.username : undefined);
      const outcome = await verify(login.peerhost, login.username, login.password);
      if (!outcome.ok)
        return denyLogin(
          login,
          outcome.unavailable ? 'unavailable' : outcome.reason,
          isDevice ? login.username : undefined,
        );
      if (outcome.kind === 'device') return { result: 'allow', is_superuser: false };
      const expiresAt = outcome.session.expiresAt;
      return expiresAt
        ? { result: 'allow', is_superuser: false, expire_at: Math.floor(expiresAt / 1000) }
        : { result: 'allow', is_superuser: false };
    },

    authorize(access) {
      const deny = (reason: string, deviceId?: string): AccessAnswer => {
        refusals.inc({ hook: 'authz', reason });
        log.info(
          {
            deviceId,
            username: deviceId ? undefined : access.username,
            clientId: access.clientId,
            action: access.action,
            topic: isSafeMqttString(access.topic) ? access.topic.slice(0, 200) : '(unprintable)',
            reason,
          },
          'external broker access refused',
        );
        return DENY;
      };
      // the hub's own account logs in as superuser, so the broker does not ask; if it does, the answer is yes
      if (config.externalUsername !== undefined && access.username === config.externalUsername) return ALLOW;
      const device = devices.get(access.username);
      if (device) {
        if (!device.enabled) return deny('disabled', device.id);
        const ok =
          access.action === 'publish'
            ? publishChannel(device.id, access.topic) !== undefined
            : subscriptionAllowed({ role: 'device', id: device.id }, access.topic);
        return ok ? ALLOW : deny('topic', device.id);
      }
      const user = users.get(access.username);
      if (!user) return deny('unknown');
      // the token was checked at login; what the user may reach follows the account as it is now
      const session = userSession(user, { tokenId: '', expiresAt: null });
      if (typeof session === 'string') return deny(session);
      // workers and integrations only read
      if (access.action === 'publish') return deny('topic');
      if (session.role === 'worker')
        return subscriptionAllowed(session, access.topic) ? ALLOW : deny('topic');
      // An integration's scope is checked per message by the embedded broker; an external broker cannot, so it
      // may only name the devices of its scope one by one: `gh/{deviceId}/{channel|+}`.
      if (!subscriptionAllowed(session, access.topic)) return deny('topic');
      const deviceId = access.topic.split('/')[1] ?? '';
      if (access.topic.startsWith(`${TOPIC_ROOT}/integrations/`) || !isDeviceId(deviceId))
        return deny('scope');
      const target = devices.get(deviceId);
      if (!target || !session.canSee?.(target.place)) return deny('scope');
      return ALLOW;
    },
  };
}

/** Fixed-length digests, so the constant-time comparison does not reveal the length either. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
