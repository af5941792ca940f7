import {
  HttpError,
  InfluxDB,
  type SendOptions,
  type Transport,
  type WriteApi,
  type WriteOptions,
} from '@influxdata/influxdb-client';
import type { InfluxConfig } from './config.ts';

/**
 * InfluxDB 1.x before 1.8 has no `/api/v2/write`. The client lets us supply the transport, so this wrapper
 * keeps the library's request building, gzip and error parsing and only rewrites the write path:
 * `/api/v2/write?bucket=db/rp&precision=ns` → `/write?db=db&rp=rp&precision=n`, and adds Basic auth
 * (1.x takes user and password, not a token).
 */
export function v1Transport(base: Transport, auth: { username?: string; password?: string }): Transport {
  const authorization =
    auth.username !== undefined
      ? `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`
      : undefined;
  const mapPath = (path: string): string => {
    if (!path.startsWith('/api/v2/write')) return path;
    const q = new URLSearchParams(path.slice(path.indexOf('?') + 1));
    const [db = '', rp] = (q.get('bucket') ?? '').split('/');
    const out = new URLSearchParams({ db });
    if (rp) out.set('rp', rp);
    const precision = q.get('precision') ?? 'ns';
    out.set('precision', precision === 'ns' ? 'n' : precision === 'us' ? 'u' : precision);
    const consistency = q.get('consistency');
    if (consistency) out.set('consistency', consistency);
    return `/write?${out}`;
  };
  const withAuth = (o: SendOptions): SendOptions =>
    authorization ? { ...o, headers: { ...o.headers, authorization } } : o;
  return {
    send: (path, body, options, callbacks) => base.send(mapPath(path), body, withAuth(options), callbacks),
    request: (path, body, options, started) => base.request(mapPath(path), body, withAuth(options), started),
    iterate: (path, body, options) => base.iterate(mapPath(path), body, withAuth(options)),
    get chunkCombiner() {
      return base.chunkCombiner;
    },
  };
}

/** The InfluxQL database (and retention policy) that reads use, and writes go to on v1. */
export function influxQlTarget(config: InfluxConfig): { db: string; rp: string | undefined } {
  if (config.api === 'v1') return { db: config.database, rp: config.retentionPolicy };
  // v2 servers map a bucket to database/retention-policy (DBRP); `db/rp` buckets carry both.
  const [db = config.bucket, rp] = config.bucket.split('/');
  return { db, rp };
}

export interface InfluxQlSeries {
  name: string;
  columns: string[];
  values?: unknown[][];
}

export interface InfluxConnection {
  readonly writeApi: WriteApi;
  /** Run InfluxQL on `/query` (every InfluxDB version answers it), times as epoch ms. */
  query(q: string, method?: 'GET' | 'POST'): Promise<InfluxQlSeries[]>;
  /** Undefined when the server answers and the InfluxQL database is there, else what is wrong. */
  check(): Promise<string | undefined>;
  /** True when `/ping` answers (1.x, 2.x and 3.x all serve it): the health probe while writes cannot get through. */
  ping(): Promise<boolean>;
}

export function connectInflux(config: InfluxConfig, writeOptions: Partial<WriteOptions>): InfluxConnection {
  if (!config.url) throw new Error('influx.url is not set');
  const token =
    config.api === 'v2'
      ? (config.token ??
        (config.username !== undefined ? `${config.username}:${config.password ?? ''}` : undefined))
      : undefined;
  const base = new InfluxDB({ url: config.url, timeout: config.timeout, ...(token ? { token } : {}) });
  const transport = config.api === 'v1' ? v1Transport(base.transport, config) : base.transport;
  const client = new InfluxDB({ url: config.url, timeout: config.timeout, transport });
  const { db, rp } = influxQlTarget(config);
  const bucket = config.api === 'v1' ? (rp ? `${db}/${rp}` : db) : config.bucket;
  // Nanoseconds: every reading gets a point time of its own within its millisecond (timestamps.ts).
  const writeApi = client.getWriteApi(config.org, bucket, 'ns', writeOptions);
  return {
    writeApi,
    async query(q, method = 'GET') {
      const params = new URLSearchParams({ db, q, epoch: 'ms' });
      if (rp) params.set('rp', rp);
      const body = (await transport.request(`/query?${params}`, '', {
        method,
        headers: { accept: 'application/json' },
      })) as { results?: { error?: string; series?: InfluxQlSeries[] }[]; error?: string } | undefined;
      if (body?.error) throw new Error(body.error);
      const first = body?.results?.[0];
      if (first?.error) throw new Error(first.error);
      return first?.series ?? [];
    },
    async ping() {
      try {
        await transport.request('/ping', '', { method: 'GET' });
        return true;
      } catch {
        return false;
      }
    },
    async check() {
      // A query on a measurement that need not exist: it fails only when the server is away or the
      // database/bucket (its DBRP mapping on v2) is missing. Works the same on 1.x, 2.x and 3.x.
      try {
        await this.query('SELECT * FROM "gridhub_check" LIMIT 1');
        return undefined;
      } catch (err) {
        const e = err as { message?: string; code?: string };
        return `InfluxDB at ${config.url}, database/bucket ${db}: ${e.message || e.code || String(err)}`;
      }
    },
  };
}

/** How a failed write is handled: resend later (spool), or isolate the bad lines (dead letter). */
export type FailureClass = 'retry' | 'malformed';

export function classifyWriteError(err: unknown): { cls: FailureClass; status: string; reason: string } {
  if (err instanceof HttpError) {
    const s = err.statusCode;
    const json = err.json as { error?: unknown; message?: unknown } | undefined;
    const detail = json?.error ?? json?.message ?? err.body ?? err.message;
    const reason = String(detail).slice(0, 1000);
    // 401/403/404 are a wrong token or a missing database/bucket: the lines are fine, keep them (spool) until
    // the operator fixes the setting, rather than dead-lettering every reading.
    if (s === 429 || s >= 500 || s === 401 || s === 403 || s === 404)
      return { cls: 'retry', status: String(s), reason };
    return { cls: 'malformed', status: String(s), reason };
  }
  const e = err as { code?: unknown; message?: unknown };
  return { cls: 'retry', status: 'network', reason: String(e?.code ?? e?.message ?? err) };
}
