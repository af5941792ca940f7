import { DEVICE_ID_PATTERN, type DeviceChannel, RESERVED_IDS, TOPIC_ROOT } from '../domain/wire.ts';

/**
 * True when `s` is fit to reach routing tables, storage names and logs: no NUL or other C0/C1 control
 * characters (MQTT-1.5.3-2 forbids U+0000 and discourages the rest), and no U+FFFD, which is what
 * mqtt-packet's UTF-8 decoding leaves where the wire bytes were not valid UTF-8 (MQTT-1.5.3-1).
 */
export function isSafeMqttString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // also the noncharacters U+FFFE/U+FFFF (MQTT-1.5.3-2 discourages them) and bidi overrides and isolates,
    // which make a topic or client id read differently in a log or a console than it is
    if (
      c < 0x20 ||
      (c >= 0x7f && c <= 0x9f) ||
      c >= 0xfffd ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069)
    )
      return false;
  }
  return true;
}

export function topicDepth(topic: string): number {
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++;
  return levels;
}

const RESERVED = new Set<string>(RESERVED_IDS);

/** A string that can be a device id (the pattern provisioning enforces, not a reserved word). */
export function isDeviceId(s: string): boolean {
  return DEVICE_ID_PATTERN.test(s) && !RESERVED.has(s.toLowerCase());
}

/** Worker ids come from the registry; refuse anything that would change the topic's shape. */
export function isTopicLevel(s: string): boolean {
  return s.length > 0 && s.length <= 128 && !/[/+#]/.test(s) && isSafeMqttString(s);
}

/** A device's own topics: the three it publishes on and its errors topic (its only downlink). */
export type OwnTopic = DeviceChannel | 'errors';

const OWN_TOPICS: readonly OwnTopic[] = ['telemetry', 'event', 'status', 'errors'];
const ROOT_LEVEL = `${TOPIC_ROOT}/`;

/**
 * True when `topic` is under the device's own prefix, `gh/{deviceId}/`. Compared in place rather than against
 * topic strings built per connection: a session keeps only its device id, since five topic strings a session
 * were some 500 bytes of every idle connection (issue #19).
 */
export function underOwnPrefix(deviceId: string, topic: string): boolean {
  const slash = ROOT_LEVEL.length + deviceId.length;
  return (
    topic.length > slash &&
    topic.charCodeAt(slash) === 47 &&
    topic.startsWith(ROOT_LEVEL) &&
    topic.startsWith(deviceId, ROOT_LEVEL.length)
  );
}

/** Which of the device's own topics `topic` is exactly (wire.ts `topics`), else undefined. */
export function ownTopic(deviceId: string, topic: string): OwnTopic | undefined {
  if (!underOwnPrefix(deviceId, topic)) return undefined;
  const rest = topic.length - ROOT_LEVEL.length - deviceId.length - 1;
  for (const t of OWN_TOPICS) if (t.length === rest && topic.endsWith(t)) return t;
  return undefined;
}

const INTEGRATION_CHANNELS = new Set(['telemetry', 'event', 'status', 'errors', '+']);

/**
 * Integrations (and anonymous clients when allowed) read device traffic: `gh/{deviceId|+}/{channel|+}`. The
 * filter has exactly three levels, so no wildcard can reach `gh/workers/{id}/alarms`.
 */
export function integrationMaySubscribe(filter: string): boolean {
  const parts = filter.split('/');
  if (parts[0] !== TOPIC_ROOT) return false;
  if (parts[1] === 'integrations') return integrationFeedFilter(parts);
  if (parts.length !== 3) return false;
  const [, device, channel] = parts as [string, string, string];
  return (device === '+' || isDeviceId(device)) && INTEGRATION_CHANNELS.has(channel);
}

/**
 * The readings feed: `gh/integrations/readings/{type|+}/{deviceId|+}`, or `#` in place of the last one or two
 * levels. Nothing else under `gh/integrations/` exists.
 */
function integrationFeedFilter(parts: string[]): boolean {
  if (parts[2] !== 'readings') return false;
  const [type, device] = [parts[3], parts[4]];
  if (parts.length === 4) return type === '#';
  if (parts.length !== 5) return false;
  const typeOk = type === '+' || (type !== undefined && /^[a-z][a-z0-9_]{0,63}$/.test(type));
  return typeOk && (device === '+' || device === '#' || (device !== undefined && isDeviceId(device)));
}

const DEVICE_SUFFIXES = ['/telemetry', '/event', '/status'];

/** `gh/{deviceId}/telemetry|event|status`: what devices publish and this hub instance consumes itself. */
export function isDeviceTopic(topic: string): boolean {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return false;
  const second = topic.indexOf('/', TOPIC_ROOT.length + 1);
  if (second < 0) return false;
  const rest = topic.slice(second);
  return DEVICE_SUFFIXES.includes(rest);
}
