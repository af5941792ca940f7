/** Requests to a hub's API as a signed-in user: the bearer token, and JSON when there is a body. */
export function apiOf(httpUrl: string) {
  return (token: string, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${httpUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers ?? {}),
      },
    });
}
