// GridHub worker view service worker: an offline shell, and notifications for alarms.
const CACHE = 'gridhub-worker-v1';
const SHELL = ['/worker/', '/worker/manifest.webmanifest', '/worker/icon.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  // API calls and the MQTT socket always go to the network: alarms must never come from a cache.
  if (
    event.request.method !== 'GET' ||
    url.origin !== self.location.origin ||
    url.pathname.startsWith('/api/')
  ) {
    return;
  }
  event.respondWith(
    fetch(event.request)
      .then((res) => {
        if (res.ok && (url.pathname.startsWith('/assets/') || SHELL.includes(url.pathname))) {
          const copy = res.clone();
          void caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return res;
      })
      .catch(() => caches.match(event.request).then((hit) => hit ?? Response.error())),
  );
});

// Web Push from the hub's `webpush` channel: { kind, alertId, severity, title, body, url }.
self.addEventListener('push', (event) => {
  let msg = {};
  try {
    msg = event.data ? event.data.json() : {};
  } catch {
    msg = { title: 'GridHub', body: event.data ? event.data.text() : '' };
  }
  const critical = msg.severity === 'critical';
  event.waitUntil(
    self.registration.showNotification(msg.title || 'GridHub', {
      body: msg.body || '',
      tag: msg.alertId || undefined,
      renotify: Boolean(msg.alertId),
      requireInteraction: critical,
      vibrate: critical ? [300, 100, 300, 100, 300] : [200],
      icon: '/worker/icon.svg',
      data: { url: msg.url || '/worker/' },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = event.notification.data?.url || '/worker/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => {
      const open = list.find((c) => new URL(c.url).pathname.startsWith('/worker/'));
      if (open) return open.navigate(url).then((c) => (c || open).focus());
      return self.clients.openWindow(url);
    }),
  );
});
