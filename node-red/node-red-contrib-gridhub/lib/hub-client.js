'use strict';
/**
 * The hub side of the GridHub nodes: one MQTT connection per config node (shared by every `gridhub reading`
 * node using it), and small HTTP helpers for the alert stream (SSE) and the integrations API.
 * Everything goes over the hub's public interfaces with the integration's own credentials: flows can read
 * and raise alerts through the dispatcher, never write into the hub's stores.
 */
const crypto = require('node:crypto');
// The hub's wire contract (topics and JSON Schemas), generated from its TypeScript by `npm run wire`.
const wire = require('./wire.json');

const READINGS_PREFIX = wire.topics.integrationReadingsPrefix;
const READING_VARIANTS = wire.schemas.integrationReading.oneOf ?? wire.schemas.integrationReading.anyOf ?? [];

/**
 * True when `value` has the shape of a reading of the contract: a known `kind` with every property that kind
 * requires. A message that is not (a newer hub, a foreign publisher) is dropped rather than handed to flows.
 */
function isReading(value) {
  if (!value || typeof value !== 'object') return false;
  const variant = READING_VARIANTS.find((v) => v.properties?.kind?.const === value.kind);
  return !!variant && (variant.required ?? []).every((key) => key in value);
}

/** MQTT topic levels of the feed: a device type and a device id, or `+`. */
function readingsFilter(deviceType, deviceId) {
  const level = (s) => (s && /^[A-Za-z0-9_-]+$/.test(s) ? s : '+');
  return `${READINGS_PREFIX}${level(deviceType)}/${level(deviceId)}`;
}

/** True when an MQTT filter (with + and #) matches a topic. */
function topicMatches(filter, topic) {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True when a place path ({street, community, grid, estate, building, unit}) lies at or under `placeId`. */
function placeWithin(path, placeId) {
  if (!placeId) return true;
  if (!path || typeof path !== 'object') return false;
  return Object.values(path).includes(placeId);
}

/** Only what lies between an URL's scheme and path is kept for logs: never the credentials. */
function safeUrl(u) {
  try {
    const url = new URL(u);
    return `${url.protocol}//${url.host}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Shared MQTT connection of one config node. Subscribers register a filter and a handler; the first one
 * connects, the last one leaving disconnects, so an unused config node holds no connection and the hub
 * does not republish readings for it.
 */
function createMqttShare({ mqttUrl, username, token, log, onState }) {
  let client = null;
  const subs = new Map(); // id -> { filter, handler }
  const refcount = new Map(); // filter -> count

  function connect() {
    const mqtt = require('mqtt');
    client = mqtt.connect(mqttUrl, {
      username,
      password: token,
      protocolVersion: 4,
      clean: true,
      clientId: `nodered-${username}-${crypto.randomBytes(4).toString('hex')}`,
      reconnectPeriod: 5000,
      connectTimeout: 10_000,
    });
    client.on('connect', () => onState('connected'));
    client.on('reconnect', () => onState('connecting'));
    client.on('close', () => onState('disconnected'));
    client.on('error', (err) => {
      onState('error', err);
      log(`GridHub MQTT ${safeUrl(mqttUrl)}: ${err.message}`);
    });
    client.on('message', (topic, payload) => {
      let reading;
      try {
        reading = JSON.parse(payload.toString('utf8'));
      } catch {
        return;
      }
      if (!isReading(reading)) return;
      for (const s of subs.values()) {
        if (topicMatches(s.filter, topic)) s.handler(topic, reading);
      }
    });
  }

  return {
    subscribe(id, filter, handler) {
      if (!client) connect();
      subs.set(id, { filter, handler });
      const n = refcount.get(filter) ?? 0;
      refcount.set(filter, n + 1);
      if (n === 0) client.subscribe(filter, { qos: 0 });
    },
    unsubscribe(id) {
      const s = subs.get(id);
      if (!s) return;
      subs.delete(id);
      const n = (refcount.get(s.filter) ?? 1) - 1;
      if (n > 0) refcount.set(s.filter, n);
      else {
        refcount.delete(s.filter);
        client?.unsubscribe(s.filter);
      }
    },
    close() {
      return new Promise((resolve) => {
        if (!client) return resolve();
        const c = client;
        client = null;
        subs.clear();
        refcount.clear();
        c.end(true, {}, () => resolve());
      });
    },
  };
}

/** POST JSON with the integration's token; resolves with the parsed answer or rejects with the hub's error. */
async function postJson(httpUrl, path, token, body, signal) {
  const res = await fetch(new URL(path, httpUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: { code: 'BAD_ANSWER', message: text.slice(0, 200) } };
  }
  if (!res.ok) {
    const e = data?.error ? data.error : { code: `HTTP_${res.status}`, message: res.statusText };
    const err = new Error(`${e.code}: ${e.message}${e.field ? ` (${e.field})` : ''}`);
    err.code = e.code;
    err.status = res.status;
    throw err;
  }
  return data;
}

/**
 * Follow `GET /api/alerts/stream` (Server-Sent Events) and call `onMessage` with each alert change, reconnecting
 * after `retryMs` when the stream ends or fails. Returns a function that stops it.
 */
function followAlertStream({ httpUrl, token, onMessage, onState, retryMs = 3000 }) {
  let stopped = false;
  let controller = null;
  let timer = null;

  async function run() {
    controller = new AbortController();
    onState('connecting');
    try {
      const res = await fetch(new URL('/api/alerts/stream', httpUrl), {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: controller.signal,
      });
      if (!res.ok || !res.body) throw new Error(`alert stream answered ${res.status}`);
      onState('connected');
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (event !== 'alert' || data.length === 0) continue;
          try {
            onMessage(JSON.parse(data.join('\n')));
          } catch (err) {
            onState('error', err);
          }
        }
      }
      if (!stopped) onState('disconnected');
    } catch (err) {
      if (stopped) return;
      onState('error', err);
    }
    if (!stopped) timer = setTimeout(() => void run(), retryMs);
  }
  void run();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    controller?.abort();
  };
}

module.exports = {
  READINGS_PREFIX,
  isReading,
  readingsFilter,
  topicMatches,
  placeWithin,
  safeUrl,
  createMqttShare,
  postJson,
  followAlertStream,
};
