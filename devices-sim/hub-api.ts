/**
 * The few HTTP API calls the simulator needs: log in, read the hub's clock, list and read alerts, act on them,
 * read a device. Tolerant of the exact response shapes (`[...]`, `{ items }`, `{ alerts }`, `{ data }`), since
 * the checks only need ids, devices, categories, severities and the timeline text.
 */

export interface AlertSummary {
  id: string;
  deviceId: string | undefined;
  category: string;
  severity: string;
  status: string;
  /** The whole item, for word searches and for printing what was seen. */
  raw: Record<string, unknown>;
}

export interface HubClock {
  now: number;
  speed: number;
}

export class HubApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HubApiError';
  }
}

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;

function listOf(body: unknown, keys: string[]): Json[] {
  if (Array.isArray(body)) return body as Json[];
  if (body && typeof body === 'object') {
    for (const k of keys) {
      const v = (body as Json)[k];
      if (Array.isArray(v)) return v as Json[];
    }
  }
  return [];
}

export function toAlertSummary(item: Json): AlertSummary {
  const device = item.device as Json | undefined;
  return {
    id: str(item.id) ?? str(item.alertId) ?? '',
    deviceId: str(item.deviceId) ?? str(device?.id) ?? str(item.device),
    category: str(item.category) ?? str(item.type) ?? str(item.ruleId) ?? '',
    severity: str(item.severity) ?? '',
    status: str(item.status) ?? str(item.state) ?? '',
    raw: item,
  };
}

export interface HubApi {
  readonly baseUrl: string;
  login(username: string, password: string): Promise<string>;
  clock(): Promise<HubClock | undefined>;
  alerts(token: string, query?: Record<string, string>): Promise<AlertSummary[]>;
  alert(token: string, id: string): Promise<Json>;
  alertAction(token: string, id: string, action: string, body?: Record<string, unknown>): Promise<void>;
  device(token: string, id: string): Promise<Json | undefined>;
  devices(token: string): Promise<Json[]>;
  ready(): Promise<boolean>;
}

export function createHubApi(baseUrl: string): HubApi {
  const base = baseUrl.replace(/\/$/, '');
  const call = async (method: string, path: string, token?: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Keep the text for the error message.
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new HubApiError(
        res.status,
        `${method} ${path}: ${res.status} ${err?.code ?? ''} ${err?.message ?? (typeof parsed === 'string' ? parsed.slice(0, 200) : '')}`.trim(),
      );
    }
    return parsed;
  };

  return {
    baseUrl: base,
    async login(username, password) {
      const body = (await call('POST', '/api/auth/login', undefined, { username, password })) as Json;
      const token = str(body?.token) ?? str((body?.data as Json | undefined)?.token);
      if (!token) throw new Error('login answered without a token');
      return token;
    },
    async clock() {
      try {
        const body = (await call('GET', '/api/clock')) as Json;
        const now = typeof body.now === 'number' ? body.now : Date.parse(String(body.now));
        const speed = Number(body.speed);
        if (!Number.isFinite(now) || !(speed > 0)) return undefined;
        return { now, speed };
      } catch (err) {
        if (err instanceof HubApiError && (err.status === 404 || err.status === 401)) return undefined;
        throw err;
      }
    },
    async alerts(token, query = {}) {
      const qs = new URLSearchParams({ limit: '500', ...query }).toString();
      const body = await call('GET', `/api/alerts?${qs}`, token);
      return listOf(body, ['items', 'alerts', 'data', 'results']).map(toAlertSummary);
    },
    async alert(token, id) {
      const body = (await call('GET', `/api/alerts/${encodeURIComponent(id)}`, token)) as Json;
      // `{ alert, timeline, incident }` or the alert itself: keep everything, the checks search its text.
      const inner = (body.alert as Json | undefined) ?? (body.data as Json | undefined);
      return inner ? { ...inner, ...body } : body;
    },
    async alertAction(token, id, action, body = {}) {
      const path = `/api/alerts/${encodeURIComponent(id)}`;
      try {
        await call('POST', `${path}/${action.replace('_', '-')}`, token, body);
      } catch (err) {
        // Both route styles are common; try the action-in-body form before giving up.
        if (!(err instanceof HubApiError) || err.status !== 404) throw err;
        await call('POST', `${path}/actions`, token, { action, ...body });
      }
    },
    async device(token, id) {
      try {
        const body = (await call('GET', `/api/devices/${encodeURIComponent(id)}`, token)) as Json;
        return (body.device as Json | undefined) ?? body;
      } catch (err) {
        if (err instanceof HubApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    async devices(token) {
      const out: Json[] = [];
      // Bounded: 20 pages of 5 000 is more than any community the simulator drives.
      for (let page = 0; page < 20; page++) {
        const body = await call('GET', `/api/devices?limit=5000&offset=${page * 5000}`, token);
        const items = listOf(body, ['items', 'devices', 'data']);
        out.push(...items);
        if (items.length < 5000) break;
      }
      return out;
    },
    async ready() {
      try {
        const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) });
        return res.ok;
      } catch {
        return false;
      }
    },
  };
}
