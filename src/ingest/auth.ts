import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import type { DeviceDirectory, LoginGate, TokenAuthenticator } from '../domain/ports.ts';
import type { Logger } from '../observability/logger.ts';
import { publishChannel } from './acl.ts';
import type { MqttConfig } from './config.ts';
import type { ConnectQueue } from './connect-queue.ts';
import { CONNACK, createCredentialCheck } from './credentials.ts';
import { scopeCheck } from './integration-feed.ts';
import type { AuthFailureReason, IngestMetrics } from './metrics.ts';
import type { PrincipalLimits } from './principal-limits.ts';
import { type ConnInfo, connInfo, type HubClient, SESSION, type Session, sessionOf } from './session.ts';
import { isSafeMqttString } from './topics.ts';

export { CONNACK };

const MAX_CLIENT_ID = 128;

export interface AuthDeps {
  config: MqttConfig;
  catalogue: Catalogue;
  devices: DeviceDirectory;
  tokens: TokenAuthenticator;
  clock: Clock;
  log: Logger;
  metrics: IngestMetrics;
  /** The hub's one login throttle (shared with the HTTP login). */
  gate: LoginGate;
  limits: PrincipalLimits;
  /** The connected client holding `clientId`, if any (the broker's table). */
  clientById(clientId: string): Client | undefined;
  /**
   * Where each CONNECT's check and set-up waits its turn (bounded slices, connect-queue.ts); without one it
   * runs at once.
   */
  queue?: ConnectQueue;
  /**
   * Shared store only: read the device's recent identities before its CONNACK, so a resend of what it sent
   * another instance is recognised here (journal.ts `recall`). Absent on SQLite: the CONNACK goes at once.
   */
  recall?: (deviceId: string) => Promise<void>;
}

type Done = (error: AuthenticateError | null, success: boolean | null) => void;

function refusal(code: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as unknown as AuthenticateError;
}

/**
 * preConnect and authenticate hooks. Devices log in with their id and secret, workers and integrations with
 * their user name and an API token. MQTT 5 clients never get here: aedes answers their CONNECT with return
 * code 1 (unacceptable protocol version) before authenticate runs.
 */
export function createAuthHooks(deps: AuthDeps): Pick<AedesOptions, 'preConnect' | 'authenticate'> {
  const { config, catalogue, devices, tokens, clock, log, metrics, gate, limits } = deps;
  const verify = createCredentialCheck({
    devices,
    tokens,
    gate,
    log,
    maxRefusalDelayMs: config.authRefusalMaxDelayMs,
  });
  const anonymousRoots = config.anonymousScope
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

  function refuse(
    info: ConnInfo,
    done: Done,
    code: number,
    reason: AuthFailureReason,
    username: string | undefined,
    message: string,
    delayMs = 0,
  ): void {
    metrics.authFailures.inc({ reason });
    log.info(
      { ip: info.ip, transport: info.transport, username, reason, returnCode: code, delayMs },
      'mqtt login refused',
    );
    const err = refusal(code, message);
    if (delayMs > 0) clock.setTimeout(() => done(err, false), delayMs);
    else done(err, false);
  }

  function willAllowed(session: Session, willTopic: string | null): boolean {
    if (willTopic === null) return true;
    return session.role === 'device' && publishChannel(session.id, willTopic) !== undefined;
  }

  function accept(client: Client, info: ConnInfo, session: Session, done: Done): void {
    // gone while its credential was checked (aedes ignores an answer then): counting it now would hold one of
    // the credential's connections for good, since its close has already been and gone
    if (client.closed) return;
    if (!willAllowed(session, info.willTopic)) {
      refuse(info, done, CONNACK.notAuthorized, 'will', session.id, 'will topic not allowed');
      return;
    }
    // aedes hands a client id to whoever connects with it last, closing the holder (MQTT-3.1.4-2). Between
    // principals that would let any device or worker knock another off the air by reusing its client id.
    // So each principal gets its own namespace: a device keeps its id as its client id, any other client id is
    // prefixed with whose it is, so nobody can even name another principal's session.
    client.id = namespacedClientId(session, client.id);
    const holder = deps.clientById(client.id);
    const held = holder && holder !== client ? sessionOf(holder) : undefined;
    if (held && (held.role !== session.role || held.id !== session.id)) {
      refuse(
        info,
        done,
        CONNACK.identifierRejected,
        'client_id',
        session.id,
        'client id in use by another user',
      );
      return;
    }
    if (!limits.connect(client, session)) {
      refuse(
        info,
        done,
        CONNACK.serverUnavailable,
        'connections',
        session.id,
        `more than ${config.maxConnectionsPerPrincipal} connections with one credential`,
      );
      return;
    }
    (client as HubClient)[SESSION] = session;
    done(null, true);
  }

  return {
    preConnect(client, packet, callback) {
      const info = connInfo(client);
      const id = packet.clientId ?? '';
      if (id.length > MAX_CLIENT_ID || !isSafeMqttString(id)) info.clientIdProblem = 'invalid client id';
      // [MQTT-3.1.3-8] a zero-byte client id with CleanSession 0 is answered with 0x02 and closed
      else if (id === '' && packet.clean === false)
        info.clientIdProblem = 'empty client id needs a clean session';
      info.willTopic = packet.will ? packet.will.topic : null;
      callback(null, true);
    },
    authenticate(client, username, password, done) {
      const queue = deps.queue;
      if (!queue) {
        check(client, username, password, done);
        return;
      }
      queue.push(() => {
        // gone while it waited (aedes ignores an answer then): nothing to count, nothing to check
        if (client.closed) return;
        check(client, username, password, done);
      });
    },
  };

  function check(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: Done,
  ): void {
    const info = connInfo(client);
    if (info.clientIdProblem) {
      refuse(info, done, CONNACK.identifierRejected, 'client_id', undefined, info.clientIdProblem);
      return;
    }
    if (username === undefined || username === '') {
      if (!config.allowAnonymous) {
        refuse(info, done, CONNACK.notAuthorized, 'anonymous', undefined, 'anonymous access is off');
        return;
      }
      // anonymous readers see only the places `mqtt.anonymousScope` names (none by default)
      accept(client, info, { role: 'anonymous', id: 'anonymous', canSee: scopeCheck(anonymousRoots) }, done);
      return;
    }
    const secret = password ? password.toString('utf8') : '';
    void verify(info.ip, username, secret).then((outcome) => {
      if (!outcome.ok) {
        const shown = outcome.reason === 'username' ? undefined : username;
        refuse(info, done, outcome.code, outcome.reason, shown, outcome.message, outcome.delayMs);
        return;
      }
      if (outcome.kind === 'user') {
        accept(client, info, outcome.session, done);
        return;
      }
      const device = outcome.device;
      const admit = () =>
        accept(
          client,
          info,
          {
            role: 'device',
            id: username,
            entry: catalogue.get(device.type),
            keepaliveTimedOut: false,
            offlineSource: null,
          },
          done,
        );
      if (!deps.recall) {
        admit();
        return;
      }
      deps.recall(username).then(
        // gone while its identities were read: accept() answers nothing then
        admit,
        (err: unknown) => {
          // without them a resend would open a second alert: try later rather than risk it
          log.error({ err, deviceId: username }, 'reading the device identities failed');
          refuse(info, done, CONNACK.serverUnavailable, 'bad_credentials', username, 'server unavailable');
        },
      );
    });
  }
}

/**
 * The broker-side client id: a device's own id stays as it is (what its firmware sends); anything else becomes
 * `{device}:{id}` or `~{role}:{user}:{id}`. Device ids and user names cannot contain `:` or start with `~`, so
 * no two principals' namespaces overlap.
 */
export function namespacedClientId(session: Session, clientId: string): string {
  if (session.role === 'device') return clientId === session.id ? clientId : `${session.id}:${clientId}`;
  return `~${session.role}:${session.id}:${clientId}`;
}
