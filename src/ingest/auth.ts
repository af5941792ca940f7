import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import type { DeviceDirectory, TokenAuthenticator } from '../domain/ports.ts';
import { topics } from '../domain/wire.ts';
import type { Logger } from '../observability/logger.ts';
import type { MqttConfig } from './config.ts';
import { scopeCheck } from './integration-feed.ts';
import type { AuthFailureReason, IngestMetrics } from './metrics.ts';
import { type ConnInfo, connInfo, type HubClient, SESSION, type Session, sessionOf } from './session.ts';
import { deviceTopics, isSafeMqttString, isTopicLevel } from './topics.ts';

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */

const ALARM_RECEIVERS: ReadonlySet<string> = new Set(['worker', 'manager', 'department']);
export const CONNACK = {
  unacceptableProtocol: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUsernameOrPassword: 4,
  notAuthorized: 5,
} as const;

const MAX_CLIENT_ID = 128;
const MAX_TRACKED_ADDRESSES = 10_000;
const FAILURE_MEMORY_MS = 15 * 60_000;

/**
 * Failed logins per source address. The first few are answered at once (a device with a stale secret
 * retrying is not an attack); after that each answer is delayed, doubling up to a maximum, so guessing
 * secrets from one address gets slow. Entries are forgotten after 15 quiet minutes, and the map is capped.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, { count: number; last: number }>();
  readonly #clock: Clock;
  readonly #free: number;
  readonly #base: number;
  readonly #max: number;

  constructor(clock: Clock, options: { free: number; baseDelayMs: number; maxDelayMs: number }) {
    this.#clock = clock;
    this.#free = options.free;
    this.#base = options.baseDelayMs;
    this.#max = options.maxDelayMs;
  }

  /** Record a failure from `address`; the delay (ms) before answering it. */
  fail(address: string): number {
    const now = this.#clock.now();
    const prev = this.#failures.get(address);
    const count = prev && now - prev.last < FAILURE_MEMORY_MS ? prev.count + 1 : 1;
    this.#failures.delete(address);
    this.#failures.set(address, { count, last: now });
    if (this.#failures.size > MAX_TRACKED_ADDRESSES) {
      const oldest = this.#failures.keys().next().value;
      if (oldest !== undefined) this.#failures.delete(oldest);
    }
    if (count <= this.#free) return 0;
    return Math.min(this.#max, this.#base * 2 ** Math.min(30, count - this.#free - 1));
  }

  failures(address: string): number {
    return this.#failures.get(address)?.count ?? 0;
  }
}

export interface AuthDeps {
  config: MqttConfig;
  catalogue: Catalogue;
  devices: DeviceDirectory;
  tokens: TokenAuthenticator;
  clock: Clock;
  log: Logger;
  metrics: IngestMetrics;
  /** The connected client holding `clientId`, if any (the broker's table). */
  clientById(clientId: string): Client | undefined;
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
export function createAuthHooks(deps: AuthDeps): Pick<AedesOptions, 'preConnect' | 'authenticate'> & {
  throttle: LoginThrottle;
} {
  const { config, catalogue, devices, tokens, clock, log, metrics } = deps;
  const throttle = new LoginThrottle(clock, {
    free: config.authFreeFailures,
    baseDelayMs: config.authFailureDelayMs,
    maxDelayMs: config.authFailureMaxDelayMs,
  });

  function refuse(
    info: ConnInfo,
    done: Done,
    code: number,
    reason: AuthFailureReason,
    username: string | undefined,
    message: string,
  ): void {
    metrics.authFailures.inc({ reason });
    const slowed = code === CONNACK.badUsernameOrPassword || code === CONNACK.notAuthorized;
    const delay = slowed ? throttle.fail(info.ip) : 0;
    log.info(
      { ip: info.ip, transport: info.transport, username, reason, returnCode: code, delayMs: delay },
      'mqtt login refused',
    );
    const err = refusal(code, message);
    if (delay > 0) clock.setTimeout(() => done(err, false), delay);
    else done(err, false);
  }

  function willAllowed(session: Session, willTopic: string | null): boolean {
    if (willTopic === null) return true;
    if (session.role !== 'device') return false;
    const t = session.topics;
    return willTopic === t.status || willTopic === t.telemetry || willTopic === t.event;
  }

  function accept(client: Client, info: ConnInfo, session: Session, done: Done): void {
    if (!willAllowed(session, info.willTopic)) {
      refuse(info, done, CONNACK.notAuthorized, 'will', session.id, 'will topic not allowed');
      return;
    }
    // aedes hands a client id to whoever connects with it last, closing the holder (MQTT-3.1.4-2). Between
    // principals that would let any device or worker knock another off the air by reusing its client id.
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
    (client as HubClient)[SESSION] = session;
    done(null, true);
  }

  return {
    throttle,
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
        accept(client, info, { role: 'anonymous', id: 'anonymous' }, done);
        return;
      }
      if (username.length > MAX_CLIENT_ID || !isSafeMqttString(username)) {
        refuse(info, done, CONNACK.badUsernameOrPassword, 'username', undefined, 'bad user name');
        return;
      }
      const secret = password ? password.toString('utf8') : '';
      const device = devices.get(username);
      if (device) {
        devices.verifySecret(username, secret).then(
          (ok) => {
            if (!ok) {
              refuse(info, done, CONNACK.badUsernameOrPassword, 'bad_credentials', username, 'bad secret');
              return;
            }
            // checked after the secret, so a disabled device's existence is not revealed to guessers
            const current = devices.get(username);
            if (!current?.enabled) {
              refuse(info, done, CONNACK.notAuthorized, 'disabled', username, 'device is disabled');
              return;
            }
            accept(
              client,
              info,
              {
                role: 'device',
                id: username,
                topics: deviceTopics(username),
                entry: catalogue.get(current.type),
                keepaliveTimedOut: false,
                offlineSource: null,
              },
              done,
            );
          },
          (err: unknown) => {
            log.error({ err, deviceId: username }, 'device secret check failed');
            refuse(info, done, CONNACK.serverUnavailable, 'bad_credentials', username, 'server unavailable');
          },
        );
        return;
      }
      let user: ReturnType<TokenAuthenticator['authenticateToken']>;
      try {
        user = tokens.authenticateToken(username, secret);
      } catch (err) {
        log.error({ err, username }, 'token check failed');
        refuse(info, done, CONNACK.serverUnavailable, 'bad_credentials', username, 'server unavailable');
        return;
      }
      if (!user) {
        refuse(
          info,
          done,
          CONNACK.badUsernameOrPassword,
          'bad_credentials',
          username,
          'bad user name or token',
        );
        return;
      }
      if (!user.enabled) {
        refuse(info, done, CONNACK.notAuthorized, 'disabled', username, 'user is disabled');
        return;
      }
      // Everyone who is sent alarms as a person (grid workers, duty staff with a manager login, departments) may
      // take them on their phone; they get the same narrow ACL: their own alarms topic, no publishing.
      if (ALARM_RECEIVERS.has(user.role) && user.personId && isTopicLevel(user.personId)) {
        accept(
          client,
          info,
          {
            role: 'worker',
            id: username,
            personId: user.personId,
            alarmsTopic: topics.workerAlarms(user.personId),
          },
          done,
        );
        return;
      }
      if (user.role === 'integration') {
        // scope roots as at login; a changed scope takes effect on the next connection
        accept(client, info, { role: 'integration', id: username, canSee: scopeCheck(user.scope) }, done);
        return;
      }
      refuse(info, done, CONNACK.notAuthorized, 'role', username, `role ${user.role} has no MQTT access`);
    },
  };
}
