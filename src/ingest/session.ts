import type { Client } from 'aedes';
import type { CompiledEntry } from '../catalogue/catalogue.ts';
import type { PlacePath } from '../domain/places.ts';

export type Transport = 'tcp' | 'tls' | 'ws';

/** What we know of a connection before CONNECT is authenticated. */
export interface ConnInfo {
  ip: string;
  transport: Transport;
  /** Set by preConnect: the client id cannot be accepted (answered with CONNACK 0x02). */
  clientIdProblem: string | null;
  willTopic: string | null;
}

export interface DeviceSession {
  role: 'device';
  id: string;
  entry: CompiledEntry;
  /** The broker timed the device out (1.5 × keepalive): its will then reads as source `keepalive`. */
  keepaliveTimedOut: boolean;
  /** How the device went offline, once known (will published / keepalive), for the presence event. */
  offlineSource: 'will' | 'keepalive' | null;
}

export interface WorkerSession {
  role: 'worker';
  id: string;
  personId: string;
  alarmsTopic: string;
  /** The API token it logged in with: revoking it closes the session; so does its expiry. */
  tokenId: string;
  expiresAt: number | null;
}

/** Integrations, and anonymous clients when `mqtt.allowAnonymous` is on: read device traffic, publish nothing. */
export interface ReaderSession {
  role: 'integration' | 'anonymous';
  id: string;
  /** An integration user's scope (its user_scopes); absent = everything (anonymous, when allowed). */
  canSee?: (path: PlacePath) => boolean;
  /** Integrations: the API token they logged in with (see WorkerSession). */
  tokenId?: string;
  expiresAt?: number | null;
}

export type Session = DeviceSession | WorkerSession | ReaderSession;

export const SESSION: unique symbol = Symbol('gridhub.mqtt.session');
export const CONN: unique symbol = Symbol('gridhub.mqtt.conn');

/** aedes' Client with our state attached under symbols (set once per connection, read on every message). */
export type HubClient = Client & { [SESSION]?: Session; [CONN]?: ConnInfo };

export function connInfo(client: Client): ConnInfo {
  const c = client as HubClient;
  let info = c[CONN];
  if (!info) {
    info = { ip: 'unknown', transport: 'tcp', clientIdProblem: null, willTopic: null };
    c[CONN] = info;
  }
  return info;
}

export function sessionOf(client: Client | null): Session | undefined {
  return client ? (client as HubClient)[SESSION] : undefined;
}
