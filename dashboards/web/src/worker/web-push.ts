import type { Api } from '../common/api.ts';

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(base64url.length / 4) * 4, '=');
  const raw = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/**
 * Register this phone for Web Push alarms (the hub's `webpush` channel), so alarms reach it while the page is
 * closed; the service worker shows them. Quietly does nothing where push is unavailable or not permitted: the
 * MQTT channel still delivers while the page is open.
 */
export async function enableWebPush(api: Api): Promise<'subscribed' | 'unavailable'> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    return 'unavailable';
  }
  if (Notification.permission !== 'granted') return 'unavailable';
  try {
    const reg = await navigator.serviceWorker.ready;
    let sub = await reg.pushManager.getSubscription();
    if (!sub) {
      const { publicKey } = await api.get<{ publicKey: string }>('/api/push/vapid-public-key');
      sub = await reg.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(publicKey),
      });
    }
    const json = sub.toJSON() as { endpoint?: string; keys?: { p256dh?: string; auth?: string } };
    await api.post('/api/push/subscriptions', { endpoint: json.endpoint, keys: json.keys });
    return 'subscribed';
  } catch {
    return 'unavailable';
  }
}
