import { DeliveryError } from './channel.ts';

export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * POST a body and classify the answer: 2xx is taken; 408, 429 and 5xx are worth retrying; any other 4xx will
 * not get better by repeating it (dead at once). Network errors and timeouts are retried.
 */
export async function post(
  url: string,
  body: string | Uint8Array,
  options: { headers: Record<string, string>; timeoutMs: number },
): Promise<HttpAnswer> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: options.headers,
      body,
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'error',
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new DeliveryError(
      timedOut
        ? `no answer within ${options.timeoutMs} ms`
        : `request failed: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
      { cause: err },
    );
  }
  let text = '';
  try {
    text = await res.text();
  } catch {
    // The status is what matters; a body cut short is not a failed delivery.
  }
  if (res.status >= 200 && res.status < 300) return { status: res.status, body: text };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  throw new DeliveryError(`HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, {
    status: res.status,
    retryable,
  });
}

/** Answer bodies of the chat platforms: HTTP 200 with an error code inside means "not sent". */
export function parseJson(body: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(body) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
