import type { DeviceDirectory, LoginGate, TokenAuthenticator } from '../domain/ports.ts';
import type { DeviceRecord } from '../domain/records.ts';
import type { Logger } from '../observability/logger.ts';
import { userSession } from './acl.ts';
import type { AuthFailureReason } from './metrics.ts';
import type { ReaderSession, WorkerSession } from './session.ts';
import { isSafeMqttString } from './topics.ts';

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */
export const CONNACK = {
  unacceptableProtocol: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUsernameOrPassword: 4,
  notAuthorized: 5,
} as const;

export const MAX_USERNAME = 128;

export type CredentialOutcome =
  | { ok: true; kind: 'device'; device: DeviceRecord }
  | { ok: true; kind: 'user'; session: WorkerSession | ReaderSession }
  | {
      ok: false;
      reason: AuthFailureReason;
      /** The CONNACK return code the embedded broker answers with. */
      code: number;
      message: string;
      /** Throttled: how long to hold the answer, so a device retrying in a loop is slowed as well. */
      delayMs: number;
      /** The store could not answer (not the caller's fault): try later. */
      unavailable?: true;
    };

export interface CredentialDeps {
  devices: DeviceDirectory;
  tokens: TokenAuthenticator;
  /** The hub's one login throttle (shared with the HTTP login). */
  gate: LoginGate;
  log: Logger;
  /** Cap of the wait before a throttled refusal is answered (mqtt.authRefusalMaxDelayMs). */
  maxRefusalDelayMs: number;
}

/**
 * The one check of an MQTT login by user name and password, for the embedded broker's CONNECT (auth.ts) and an
 * external broker's authentication hook (broker-hooks.ts) alike: devices log in with their id and secret,
 * workers and integrations with their user name and an API token. Every attempt passes the login gate first
 * (per address and per account, the same gate as the HTTP login); a wrong credential stays counted.
 */
export function createCredentialCheck(deps: CredentialDeps) {
  const { devices, tokens, gate, log, maxRefusalDelayMs } = deps;

  const refused = (
    reason: AuthFailureReason,
    code: number,
    message: string,
    delayMs = 0,
  ): CredentialOutcome => ({ ok: false, reason, code, message, delayMs });
  const unavailable = (): CredentialOutcome => ({
    ok: false,
    reason: 'bad_credentials',
    code: CONNACK.serverUnavailable,
    message: 'server unavailable',
    delayMs: 0,
    unavailable: true,
  });

  return async function verify(ip: string, username: string, secret: string): Promise<CredentialOutcome> {
    if (username.length > MAX_USERNAME || !isSafeMqttString(username))
      return refused('username', CONNACK.badUsernameOrPassword, 'bad user name');
    // Counted before the check, per address and per account.
    const admission = gate.admit(ip, username);
    if (!admission.ok) {
      // 3 = try later: nothing was checked, so "bad credentials" would be a lie to a device with a good secret
      const delay = Math.min(admission.retryAfterMs, maxRefusalDelayMs);
      return refused('throttled', CONNACK.serverUnavailable, 'too many failed logins', delay);
    }
    if (devices.get(username)) {
      let ok: boolean;
      try {
        ok = await devices.verifySecret(username, secret);
      } catch (err) {
        admission.settle(true);
        log.error({ err, deviceId: username }, 'device secret check failed');
        return unavailable();
      }
      if (!ok) {
        admission.settle(false);
        return refused('bad_credentials', CONNACK.badUsernameOrPassword, 'bad secret');
      }
      admission.settle(true);
      // checked after the secret, so a disabled device's existence is not revealed to guessers
      const current = devices.get(username);
      if (!current?.enabled) return refused('disabled', CONNACK.notAuthorized, 'device is disabled');
      return { ok: true, kind: 'device', device: current };
    }
    // The token is checked in the store (async), so a token revoked on any instance is refused at once.
    let login: Awaited<ReturnType<TokenAuthenticator['authenticateToken']>>;
    try {
      login = await tokens.authenticateToken(username, secret);
    } catch (err) {
      admission.settle(true);
      log.error({ err, username }, 'token check failed');
      return unavailable();
    }
    if (!login) {
      admission.settle(false);
      return refused('bad_credentials', CONNACK.badUsernameOrPassword, 'bad user name or token');
    }
    admission.settle(true);
    const session = userSession(login.user, login);
    if (session === 'disabled') return refused('disabled', CONNACK.notAuthorized, 'user is disabled');
    if (session === 'role')
      return refused('role', CONNACK.notAuthorized, `role ${login.user.role} has no MQTT access`);
    return { ok: true, kind: 'user', session };
  };
}

export type CredentialCheck = ReturnType<typeof createCredentialCheck>;
