import type { User } from './types.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Session {
  token: string;
  user: User;
  /** The community's IANA zone the pages write times in (absent in sessions saved by older hubs). */
  timeZone?: string;
}

/**
 * The session lives in localStorage under a key per page, so the board and the worker view on one browser can
 * hold different users.
 */
export function loadSession(key: string): Session | null {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(key: string, session: Session | null): void {
  if (session) localStorage.setItem(key, JSON.stringify(session));
  else localStorage.removeItem(key);
}

export async function login(username: string, password: string): Promise<Session> {
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json().catch(() => ({}))) as {
    token?: string;
    user?: User;
    timeZone?: string;
    error?: { code: string; message: string };
  };
  if (!res.ok || !body.token || !body.user) {
    throw new ApiError(res.status, body.error?.code ?? 'HTTP', body.error?.message ?? res.statusText);
  }
  return { token: body.token, user: body.user, timeZone: body.timeZone };
}

/** Revoke a token on the hub (a session on log-out, or the worker view's MQTT token); best effort. */
export function revokeToken(token: string): void {
  void fetch('/api/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(
    () => undefined,
  );
}

/** Bearer-authenticated JSON calls; a 401 calls `onUnauthorized` (the page goes back to its login). */
export function createApi(token: string, onUnauthorized: () => void) {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) onUnauthorized();
    if (res.status === 204) return undefined as T;
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    if (!res.ok) {
      throw new ApiError(res.status, json.error?.code ?? 'HTTP', json.error?.message ?? res.statusText);
    }
    return json as T;
  }
  return {
    token,
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
  };
}

export type Api = ReturnType<typeof createApi>;

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
