import type { AedesOptions, AedesPublishPacket, Client, PublishPacket } from 'aedes';
import type { Catalogue, CompiledEntry } from '../catalogue/catalogue.ts';
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import type { EventBus } from '../domain/events.ts';
import type { DeviceDirectory, ReadingSink } from '../domain/ports.ts';
import type { EventReading, Reading, StatusReading } from '../domain/reading.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { type DeviceChannel, type DeviceErrorMessage, TOPIC_ROOT, topics } from '../domain/wire.ts';
import type { Logger } from '../observability/logger.ts';
import { publishChannel, subscriptionAllowed } from './acl.ts';
import type { MqttConfig } from './config.ts';
import { type DecodeInput, decodeMessage, type Rejection } from './decode.ts';
import type { AsyncEventJournal, EventJournal } from './journal.ts';
import type { IngestMetrics } from './metrics.ts';
import type { Presence } from './presence.ts';
import { createRedelivery, type Delivery, type Duplicate } from './redelivery.ts';
import { type DeviceSession, type Session, sessionOf } from './session.ts';
import { isDeviceTopic, isSafeMqttString, topicDepth, underOwnPrefix } from './topics.ts';

/** Our own refusals, so the broker's clientError listener does not count them twice. */
export class PublishRefused extends Error {
  override name = 'PublishRefused';
}

export type PublishCallback = (error?: Error | null) => void;

interface PendingMessage {
  readings: Reading[];
  journal: boolean;
  callback: PublishCallback;
}

/** Telemetry waiting for its turn; `callback` set when its acknowledgement (or the socket's next read) waits. */
interface QueuedTelemetry {
  readings: Reading[];
  callback: PublishCallback | null;
}

/** A shed message's acknowledgement, held so that its socket is not read again until the queue has room. */
interface HeldForRoom {
  deviceId: string;
  callback: PublishCallback;
}

/**
 * Settles once the broker has written what it was handed before this call: aedes writes a QoS 1 message to a
 * subscriber's socket in a setImmediate queued from a microtask of its publish (client.js deliverQoS, after
 * persistence.subscriptionsByTopic), so one immediate of ours queued now might run before it; the second runs
 * in the next check phase, after it.
 */
function afterAlarmWrites(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
}

/** One turn of the telemetry queue takes at most this long, so sockets bringing events are read in between. */
const TELEMETRY_SLICE_MS = 4;

export interface PipelineDeps {
  config: MqttConfig;
  catalogue: Catalogue;
  devices: DeviceDirectory;
  clock: Clock;
  log: Logger;
  metrics: IngestMetrics;
  bus: EventBus;
  /** SQLite's synchronous journal, or the shared store's, whose group commit is awaited (journal.ts). */
  journal: EventJournal | AsyncEventJournal;
  presence: Presence;
  /** Publish one message on `gh/{deviceId}/errors` (QoS 0, through the broker so every subscriber sees it). */
  publishError(topic: string, message: DeviceErrorMessage): void;
}

export interface Pipeline
  extends Required<Pick<AedesOptions, 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>> {
  /**
   * Decode, validate and hand on one message of a known device (the broker-independent core, also used by the
   * external-broker consumer). `callback` is the acknowledgement: called at once, or after the group commit for
   * a QoS 1 event. True when at least one reading was accepted.
   */
  ingestMessage(
    device: DeviceRecord,
    entry: CompiledEntry,
    channel: DeviceChannel,
    topic: string,
    payload: string | Buffer | undefined,
    qos: number,
    statusSource: StatusReading['source'],
    callback: PublishCallback,
    delivery?: Delivery,
  ): boolean;
  /** A QoS 2 exchange completed (PUBREL): its packet id is free again. */
  released(client: Client, packetId: number): void;
  /** A connection ended; `clean` when the client said DISCONNECT (so it had every acknowledgement it needed). */
  closed(client: Client, clean: boolean): void;
  /** Answer refusals on `gh/{deviceId}/errors`, count and log them. */
  reply(
    deviceId: string,
    type: DeviceTypeId | 'none',
    topic: string,
    rejections: Rejection[],
    payload: Buffer,
  ): void;
  /** Hand over everything waiting for the journal now (also used at shutdown). */
  flush(): void;
  /**
   * A worker's alarm was just handed to the broker, which writes it to the phone's socket in an immediate of its
   * own: the telemetry slice already queued ahead of that immediate steps aside for one turn, so a flood of
   * readings never stands between an alarm and its phone.
   */
  alarmQueued(): void;
  /** From now on wills are not published: the hub going down is not the devices going offline. */
  beginShutdown(): void;
  /** Hand ingest the flow that takes its readings (rules, dispatcher, telemetry); once, before messages come. */
  consume(onReading: ReadingSink): void;
  /** Synchronous on SQLite; on the shared store, once this instance's rows (and orphans) are claimed. */
  replayJournal(): number | Promise<number>;
  /**
   * While running, on a shared store: replay the events in flight of instances whose lease ran out at `now`
   * (never this instance's own, which are in its pipeline already). The heartbeat's sweep. SQLite: 0.
   */
  replayOrphans(now: number): number | Promise<number>;
  /** Journaled events waiting to be re-fed after their recording failed. */
  readonly retrying: number;
}

/** Re-feeds of journaled events whose recording failed: 250 ms, doubling, at most 30 s apart. */
const RETRY_MS = 250;
const RETRY_MAX_MS = 30_000;

const PAYLOAD_LOG_CHARS = 256;
const NO_IDS: string[] = [];
/**
 * Acknowledgements of shed QoS 0 telemetry held per device; the rest of what it brings while the queue is full is
 * answered at once. aedes reads a socket again once every message of its last read is answered, so a few held
 * keep a fast sender (a gateway, whose reads fill the socket's buffer and stop TCP) unread; a device that sends
 * a message at a time is read again after as many arrivals as it has held (aedes counts one down at each), so
 * holding all of its messages only cost memory: 19 000 devices flooding at QoS 0 held 1.1 million of them,
 * 2 GB, in the full bench.
 */
const SHED_HOLDS_PER_DEVICE = 4;
const SHED_TELEMETRY_QOS0 = { channel: 'telemetry', qos: '0' } as const;
const EMPTY_PAYLOAD = Buffer.alloc(0);

function payloadBuffer(p: string | Buffer | undefined): Buffer {
  if (p === undefined) return EMPTY_PAYLOAD;
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
}

function printable(s: string): string {
  const short = s.length > PAYLOAD_LOG_CHARS ? `${s.slice(0, PAYLOAD_LOG_CHARS)}…` : s;
  return isSafeMqttString(short) ? short : JSON.stringify(short);
}

/**
 * Where device messages enter the hub: aedes' `authorizePublish` hook.
 *
 * Why there: it is the one hook that runs (1) before aedes writes the PUBACK of a QoS 1 publish
 * (handlers/publish.js: authorizePublish → PUBACK → broker.publish → `published`), so a QoS 1 event can be
 * journaled before it is acknowledged, and (2) inside the client's own packet processing: aedes parses one
 * socket read at a time and reads the socket again only when every packet of that read has called back
 * (client.js `_parsingBatch` / `nextBatch`). Doing the work synchronously here, or holding the callback until
 * the journal commit, therefore stops reading that socket while ingest is busy: the kernel buffer fills and
 * TCP pushes back on the device. The `published` hook would run after the PUBACK and after routing, i.e. too
 * late for both.
 *
 * Two lanes, so that an alarm never waits behind a telemetry flood:
 * - events and status take the fast path: decoded at once, QoS 1/2 events journaled in the group commit that
 *   follows the socket read that brought them (`pending`, a microtask), then handed to the rules and
 *   acknowledged, in arrival order per device;
 * - telemetry is decoded at once (its errors answered, its payload kept from subscribers when refused) and then
 *   queued (`telemetry`), handed on in turns of at most TELEMETRY_SLICE_MS between socket reads. A QoS 1
 *   message is acknowledged only after it was handed on. Over `telemetryBackpressureReadings` queued, QoS 0
 *   telemetry also holds its socket's next read until handed on (TCP backpressure); over
 *   `telemetryQueueReadings` it is shed and counted (design §10: QoS 0 is shed first, QoS 1 never). So the
 *   queue is bounded, and an event's socket is read and its alarm raised within one turn of the queue.
 *
 * Device topics have no subscribers of their own (the hub consumes them here), so once we return, aedes'
 * routing of the message finds nobody to deliver to and costs one trie lookup: nothing piles up in its queues.
 */
export function createPipeline(deps: PipelineDeps): Pipeline {
  const { config, catalogue, devices, clock, log, metrics, bus, journal, presence, publishError } = deps;
  let onReading: ReadingSink = () => {
    throw new Error('ingest has no consumer: call consume() before taking messages');
  };
  const subscriberCap = config.subscriberQueueBytes;
  const maxDepth = config.maxTopicDepth;
  const backpressureAt = config.telemetryBackpressureReadings;
  const shedAt = config.telemetryQueueReadings;
  const redelivery = createRedelivery({
    journal,
    redeliveryWindowMs: config.redeliveryWindowMs,
    eventIdWindowMs: config.eventIdWindowMs,
  });

  const telemetry: (QueuedTelemetry | undefined)[] = [];
  let telemetryHead = 0;
  /** Readings in `telemetry` (what the bounds count). */
  let telemetryQueued = 0;
  let drainScheduled = false;
  /** A worker's alarm waits for the broker's immediate behind the queued slice (alarmQueued). */
  let alarmWaiting = false;
  /** Workers' alarms handed to the broker so far (alarmQueued): a batch that raised one acknowledges after it. */
  let alarmsQueued = 0;
  /**
   * Acknowledgements of shed QoS 0 telemetry, oldest first: their sockets are read again as the queue makes
   * room, a few at a time (see releaseShedSockets). `heldFor` counts them by device (SHED_HOLDS_PER_DEVICE).
   */
  let waitingForRoom: (HeldForRoom | undefined)[] = [];
  let waitingHead = 0;
  const heldFor = new Map<string, number>();
  const releaseBelow = Math.floor(shedAt * 0.75);
  /** A turn of the queue is under way (takeTurn). */
  let draining = false;
  /** When the last turn of the queue began (drainIfStarved). */
  let lastTurnAt = 0;

  /** Hold a shed message's acknowledgement until the queue has room, up to SHED_HOLDS_PER_DEVICE a device. */
  function holdForRoom(deviceId: string, callback: PublishCallback): void {
    const held = heldFor.get(deviceId) ?? 0;
    if (held >= SHED_HOLDS_PER_DEVICE) {
      callback(null);
      return;
    }
    heldFor.set(deviceId, held + 1);
    waitingForRoom.push({ deviceId, callback });
  }

  /**
   * Let shed sockets be read again, oldest first, while the queue is under three quarters of its bound. A
   * released socket's next read is parsed (and queued) within the callback, so the queue grows as this loop
   * goes and stops it: releasing them all at once would have every socket's next read parsed only to be shed.
   * None starves: a socket that was only held (not shed) is itself shed once the queue is full again, and
   * joins the back of this line (a gateway's alarms share its socket with its telemetry).
   */
  function releaseShedSockets(all: boolean): void {
    while (waitingHead < waitingForRoom.length && (all || telemetryQueued < releaseBelow)) {
      const held = waitingForRoom[waitingHead] as HeldForRoom;
      waitingForRoom[waitingHead++] = undefined;
      // before the answer, which may bring the socket's next read (and its holds) into ingest at once
      const n = (heldFor.get(held.deviceId) ?? 1) - 1;
      if (n > 0) heldFor.set(held.deviceId, n);
      else heldFor.delete(held.deviceId);
      held.callback(null);
    }
    if (waitingHead === waitingForRoom.length) {
      waitingForRoom = [];
      waitingHead = 0;
    } else if (waitingHead > 4096 && waitingHead * 2 > waitingForRoom.length) {
      // only once the released part is the larger: each compaction then copies no more than was released
      waitingForRoom = waitingForRoom.slice(waitingHead);
      waitingHead = 0;
    }
  }

  /** Payload buffers of fully refused messages: aedes still routes them, authorizeForward drops them. */
  const refusedPayloads = new WeakSet<object>();
  let pending: PendingMessage[] = [];
  let flushScheduled = false;
  /** The shared store's group commit is in flight (never on SQLite, whose commit returns done). */
  let committing = false;
  let shuttingDown = false;

  // One reusable decode input: decoding is synchronous, so nothing else holds it between messages.
  const input: DecodeInput = {
    channel: 'telemetry',
    payload: EMPTY_PAYLOAD,
    device: undefined as never,
    entry: undefined as never,
    receivedAt: 0,
    qos: 0,
    statusSource: 'device',
    maxFutureSkewMs: config.maxFutureSkewMs,
  };

  /**
   * Hand a reading on: true when it was taken, false when its results could not be recorded. A promise when the
   * flow answers with one (its recording awaits the store); it never rejects.
   */
  function deliver(reading: Reading): boolean | Promise<boolean> {
    metrics.accepted(reading.deviceType, reading.kind).n++;
    let taken: void | Promise<void>;
    try {
      taken = onReading(reading);
    } catch (err) {
      return handOffFailed(reading, err);
    }
    if (taken instanceof Promise)
      return taken.then(
        () => handedOn(reading),
        (err: unknown) => handOffFailed(reading, err),
      );
    return handedOn(reading);
  }

  function handedOn(reading: Reading): true {
    if (reading.kind === 'status')
      presence.status(reading.deviceId, reading.status === 'online', reading.source, reading.receivedAt);
    if (bus.listenerCount('reading.accepted') > 0) bus.emit('reading.accepted', reading);
    return true;
  }

  function handOffFailed(reading: Reading, err: unknown): false {
    metrics.sinkErrors.inc();
    log.error({ err, deviceId: reading.deviceId, kind: reading.kind }, 'reading hand-off failed');
    return false;
  }

  function deliverAll(readings: Reading[]): void {
    // what deliver answers is only for the journal; a promise of it never rejects
    for (let i = 0; i < readings.length; i++) void deliver(readings[i] as Reading);
  }

  /**
   * Visit items in order, each after the one before was taken: `visit` answers whether it was (a promise of it
   * when the flow awaits the store), or undefined for an item it passed over; `after` learns the answer. On
   * SQLite every answer is at hand, so this runs to the end before it returns; else it answers a promise that
   * resolves after the last.
   */
  function inOrder<T>(
    items: readonly T[],
    visit: (item: T) => boolean | Promise<boolean> | undefined,
    after: (item: T, taken: boolean) => void,
    from = 0,
  ): Promise<void> | undefined {
    for (let i = from; i < items.length; i++) {
      const item = items[i] as T;
      const taken = visit(item);
      if (taken === undefined) continue;
      if (taken instanceof Promise)
        return taken.then((ok) => {
          after(item, ok);
          return inOrder(items, visit, after, i + 1);
        });
      after(item, taken);
    }
    return undefined;
  }

  function eventIdsOf(readings: Reading[]): string[] {
    let ids: string[] | undefined;
    for (const r of readings) {
      if (r.kind !== 'event' || r.eventId === undefined) continue;
      if (ids === undefined) ids = [];
      ids.push(r.eventId);
    }
    return ids ?? NO_IDS;
  }

  /** `hold`: call back only once handed on (QoS 1: the PUBACK; QoS 0 under pressure: the socket's next read). */
  function queueTelemetry(readings: Reading[], callback: PublishCallback, hold: boolean): void {
    telemetry.push({ readings, callback: hold ? callback : null });
    telemetryQueued += readings.length;
    if (!drainScheduled) {
      drainScheduled = true;
      setImmediate(drainTelemetry);
    }
    if (!hold) callback(null);
  }

  /**
   * One turn of the telemetry queue: in the event loop's check phase, after the poll phase has read the sockets
   * (and raised their events' alarms), for at most TELEMETRY_SLICE_MS unless `all` (shutdown).
   */
  function drainTelemetry(all = false): void {
    drainScheduled = false;
    if (alarmWaiting && !all) {
      // queued behind this immediate: the broker's write of an alarm (alarmQueued); the slice goes after it
      alarmWaiting = false;
      drainScheduled = true;
      setImmediate(drainTelemetry);
      return;
    }
    takeTurn(all);
    if (telemetryHead < telemetry.length && !drainScheduled) {
      drainScheduled = true;
      setImmediate(drainTelemetry);
    }
  }

  /**
   * A turn of the queue now, from ingest, when the last one began more than a turn ago. The immediate turns run
   * once per pass of the event loop, after its poll phase has read every socket that has data: with thousands of
   * devices flooding at QoS 0 that phase reads and sheds for seconds (the full bench's 19 000 devices: one turn
   * in 1.3–3.3 s, 210 readings a second stored), so the queue never made room. Taking turns with the reads keeps
   * half of the time for handing on what was taken.
   */
  function drainIfStarved(): void {
    if (!alarmWaiting && performance.now() - lastTurnAt >= TELEMETRY_SLICE_MS) takeTurn(false);
  }

  /** One turn, unless one is under way: an answer a turn gives can bring a socket's next read into ingest. */
  function takeTurn(all: boolean): void {
    if (draining) return;
    draining = true;
    try {
      turn(all);
    } finally {
      draining = false;
    }
  }

  function turn(all: boolean): void {
    lastTurnAt = performance.now();
    const deadline = all ? Number.POSITIVE_INFINITY : lastTurnAt + TELEMETRY_SLICE_MS;
    let n = 0;
    while (telemetryHead < telemetry.length) {
      const m = telemetry[telemetryHead] as QueuedTelemetry;
      telemetry[telemetryHead++] = undefined;
      telemetryQueued -= m.readings.length;
      deliverAll(m.readings);
      m.callback?.(null);
      if ((++n & 31) === 0 && performance.now() > deadline) break;
    }
    if (telemetryHead === telemetry.length) {
      telemetry.length = 0;
      telemetryHead = 0;
    } else if (telemetryHead > 4096) {
      telemetry.splice(0, telemetryHead);
      telemetryHead = 0;
    }
    metrics.telemetryQueued.set(telemetryQueued);
    releaseShedSockets(all);
  }

  /**
   * Group commit: every QoS 1 event of one socket read is journaled in one transaction, then everything is
   * handed to the rules in arrival order, then the rows are marked done, then the PUBACKs go out. One commit per
   * read instead of one per event is what keeps QoS 1 near QoS 0 rates.
   */
  function flush(): void {
    flushScheduled = false;
    // the shared store's commit in flight: this batch follows it (and grows meanwhile: the group commit)
    if (pending.length === 0 || committing) return;
    const batch = pending;
    pending = [];
    const toJournal: EventReading[] = [];
    for (const m of batch) if (m.journal) for (const r of m.readings) toJournal.push(r as EventReading);
    let journalFailed = false;
    const seen = redelivery.staged();
    if (toJournal.length > 0 || seen.length > 0) {
      try {
        const commit = journal.record(toJournal, seen);
        if (commit !== undefined) {
          // PostgreSQL: one statement; the PUBACKs go after its COMMIT, batches one after another in order
          committing = true;
          commit.then(
            () => committed(batch, false),
            (err: unknown) => committed(batch, journalWriteFailed(err, toJournal.length)),
          );
          return;
        }
      } catch (err) {
        journalFailed = journalWriteFailed(err, toJournal.length);
      }
    }
    committed(batch, journalFailed);
  }

  function journalWriteFailed(err: unknown, events: number): true {
    log.error({ err, events }, 'event journal write failed; QoS 1 events not acknowledged');
    return true;
  }

  function committed(batch: PendingMessage[], journalFailed: boolean): void {
    let settling: Promise<void> | undefined;
    try {
      settling = settle(batch, journalFailed);
    } finally {
      if (settling === undefined) next();
    }
    if (settling !== undefined) {
      // The flow awaits the store: batches behind this one wait until its readings are taken, so a device's
      // events keep their order across batches.
      committing = true;
      settling.then(next, (err: unknown) => {
        log.error({ err }, 'settling an event batch failed');
        next();
      });
    }
  }

  /** Whatever happened to the batch settled, the ones gathered behind it go next. */
  function next(): void {
    if (committing) {
      committing = false;
      if (pending.length > 0) scheduleFlush();
    }
  }

  function settle(batch: PendingMessage[], journalFailed: boolean): Promise<void> | undefined {
    // committed or not, the identities are no longer "waiting": a failed batch is not acknowledged, so its
    // resend is a new message
    redelivery.clear();
    redelivery.prune(clock.now());
    const doneIds: number[] = [];
    const items: { r: Reading; journal: boolean }[] = [];
    for (const m of batch) {
      if (m.journal && journalFailed) continue;
      for (const r of m.readings) items.push({ r, journal: m.journal });
    }
    const alarmsBefore = alarmsQueued;
    const finish = () => {
      markDone(doneIds);
      for (const m of batch) {
        // without a PUBACK the device keeps the message and sends it again; closing makes it do so now
        m.callback(m.journal && journalFailed ? new PublishRefused('event journal unavailable') : null);
      }
    };
    const going = inOrder(
      items,
      ({ r, journal }) => {
        // A later event of a device must not overtake its earlier one that waits for a retry.
        if (journal && retryDevices.has(r.deviceId)) {
          queueRetry(r as EventReading);
          return undefined;
        }
        return deliver(r);
      },
      ({ r, journal }, taken) => {
        if (!journal) return;
        if (taken) doneIds.push((r as EventReading).journalId as number);
        else queueRetry(r as EventReading);
      },
    );
    if (going === undefined && alarmsQueued === alarmsBefore) {
      finish();
      return undefined;
    }
    // The workers' alarms these events raised go to their sockets before the journal delete and the PUBACKs:
    // the broker writes them in immediates of its own (alarmQueued); the events are durable in the journal
    // meanwhile, so acknowledging them a turn later costs nothing but that turn.
    const settled = (): Promise<void> | undefined => {
      if (alarmsQueued !== alarmsBefore) return afterAlarmWrites().then(finish);
      finish();
      return undefined;
    };
    return going === undefined ? settled() : going.then(settled);
  }

  function refuse(
    session: Session | undefined,
    type: DeviceTypeId | 'none',
    topic: string,
    code: 'NOT_AUTHORIZED' | 'TOPIC_INVALID' | 'DEVICE_DISABLED' | 'DEVICE_UNKNOWN',
    callback: PublishCallback,
  ): void {
    metrics.rejected.inc({ code, type });
    log.warn(
      { clientRole: session?.role, username: session?.id, topic: printable(topic), code },
      'publish refused; closing the connection',
    );
    // MQTT 3.1.1 has no negative PUBACK: the server acks-and-discards or closes (MQTT-3.3.5-2). Closing
    // tells a misconfigured client something is wrong, where a silent discard would not.
    callback(new PublishRefused(`${code}: ${topic.slice(0, 128)}`));
  }

  function reply(
    deviceId: string,
    type: DeviceTypeId | 'none',
    topic: string,
    rejections: Rejection[],
    payload: Buffer,
  ) {
    const errorsTopic = topics.errors(deviceId);
    const at = new Date(clock.now()).toISOString();
    for (const r of rejections) {
      metrics.rejected.inc({ code: r.code, type });
      const msg: DeviceErrorMessage = { code: r.code, topic, message: r.message, at };
      if (r.field !== undefined) msg.field = r.field;
      if (r.index !== undefined) msg.index = r.index;
      publishError(errorsTopic, msg);
    }
    if (bus.listenerCount('reading.rejected') > 0)
      for (const r of rejections)
        bus.emit('reading.rejected', {
          deviceId,
          topic,
          code: r.code,
          ...(r.field !== undefined ? { field: r.field } : {}),
        });
    log.warn(
      {
        deviceId,
        topic,
        rejected: rejections.length,
        errors: rejections.slice(0, 3),
        payload: printable(payload.toString('utf8', 0, Math.min(payload.length, PAYLOAD_LOG_CHARS * 4))),
      },
      'payload rejected',
    );
  }

  function unknownTopic(
    client: Client,
    session: DeviceSession,
    packet: PublishPacket,
    callback: PublishCallback,
  ) {
    const topic = packet.topic;
    const type = session.entry.id;
    if (!underOwnPrefix(session.id, topic)) {
      refuse(session, type, topic, isSafeMqttString(topic) ? 'NOT_AUTHORIZED' : 'TOPIC_INVALID', callback);
      return;
    }
    if (!isSafeMqttString(topic) || topicDepth(topic) > maxDepth) {
      refuse(session, type, topic, 'TOPIC_INVALID', callback);
      return;
    }
    const payload = payloadBuffer(packet.payload);
    if (typeof packet.payload === 'object') refusedPayloads.add(packet.payload);
    reply(
      session.id,
      type,
      topic,
      [
        {
          code: 'TOPIC_UNKNOWN',
          message: `devices publish on ${topics.telemetry(session.id)}, ${topics.event(session.id)} or ${topics.status(session.id)}`,
        },
      ],
      payload,
    );
    if (log.isLevelEnabled('debug')) log.debug({ clientId: client.id }, 'unknown device topic answered');
    callback(null);
  }

  /**
   * A will with no client: in a cluster, a surviving instance publishes the wills of devices that were on an
   * instance that died (aedes `_clearWills`). The topic names the device.
   */
  function orphanWill(packet: PublishPacket, callback: PublishCallback): void {
    const topic = packet.topic;
    const slash = topic.indexOf('/', TOPIC_ROOT.length + 1);
    const channel = slash > 0 && isDeviceTopic(topic) ? (topic.slice(slash + 1) as DeviceChannel) : undefined;
    const device = channel ? devices.get(topic.slice(TOPIC_ROOT.length + 1, slash)) : undefined;
    if (!channel || !device?.enabled || shuttingDown) {
      callback(new PublishRefused('will of an unknown client'));
      return;
    }
    packet.retain = false;
    ingestMessage(
      device,
      catalogue.get(device.type),
      channel,
      topic,
      packet.payload,
      packet.qos,
      'will',
      callback,
    );
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, callback: PublishCallback): void {
    if (client === null) {
      orphanWill(packet, callback);
      return;
    }
    const session = sessionOf(client);
    // aedes asks about a will when it is about to publish it: the client is closed by then (client.js close)
    const isWill = client.closed;
    if (isWill && shuttingDown) {
      callback(new PublishRefused('hub shutting down'));
      return;
    }
    if (session === undefined || session.role !== 'device') {
      refuse(session, 'none', packet.topic, 'NOT_AUTHORIZED', callback);
      return;
    }
    const topic = packet.topic;
    const channel = publishChannel(session.id, topic);
    if (channel === undefined) {
      unknownTopic(client, session, packet, callback);
      return;
    }
    const device = devices.get(session.id);
    if (!device?.enabled) {
      refuse(session, session.entry.id, topic, device ? 'DEVICE_DISABLED' : 'DEVICE_UNKNOWN', callback);
      return;
    }
    // device readings are consumed here, not kept: a retained copy per topic would only cost memory
    packet.retain = false;
    const statusSource = isWill ? (session.keepaliveTimedOut ? 'keepalive' : 'will') : 'device';
    // what tells a redelivered event from a new one (redelivery.ts); a will is the broker's, not a resend
    const delivery: Delivery | undefined =
      channel === 'event' && packet.qos > 0 && !isWill && packet.messageId !== undefined
        ? {
            packetId: packet.messageId,
            qos: packet.qos,
            dup: packet.dup === true,
            conn: redelivery.connectionId(client),
          }
        : undefined;
    const accepted = ingestMessage(
      device,
      session.entry,
      channel,
      topic,
      packet.payload,
      packet.qos,
      statusSource,
      callback,
      delivery,
    );
    if (accepted && isWill && channel === 'status')
      session.offlineSource = statusSource === 'keepalive' ? 'keepalive' : 'will';
  }

  function ingestMessage(
    device: DeviceRecord,
    entry: CompiledEntry,
    channel: DeviceChannel,
    topic: string,
    rawPayload: string | Buffer | undefined,
    qos: number,
    statusSource: StatusReading['source'],
    callback: PublishCallback,
    delivery?: Delivery,
  ): boolean {
    const receivedAt = clock.now();
    const needsJournal = channel === 'event' && qos > 0;
    if (channel === 'telemetry' && qos === 0 && telemetryQueued >= shedAt) {
      // Over the bound: QoS 0 telemetry goes first, before it costs a decode (design §10). A few held
      // acknowledgements keep a fast sender's socket unread until the queue has room (acknowledging at once
      // would let a flood be read and shed as fast as it comes), and the queue takes its turn from here when
      // reads leave it none.
      metrics.shed.inc(SHED_TELEMETRY_QOS0);
      if (typeof rawPayload === 'object') refusedPayloads.add(rawPayload);
      holdForRoom(device.id, callback);
      drainIfStarved();
      return false;
    }
    const payload = payloadBuffer(rawPayload);
    let digest = '';
    if (delivery !== undefined) {
      digest = redelivery.digest(payload);
      const dup = redelivery.check(device.id, delivery, digest, receivedAt);
      if (dup !== null) {
        duplicate(device.id, delivery, dup, rawPayload, callback);
        return false;
      }
    }
    input.channel = channel;
    input.payload = payload;
    input.device = device;
    input.entry = entry;
    input.receivedAt = receivedAt;
    input.qos = qos === 0 ? 0 : 1;
    input.statusSource = statusSource;
    const decoded = decodeMessage(input);
    input.payload = EMPTY_PAYLOAD;
    if (decoded.rejections !== null) reply(device.id, device.type, topic, decoded.rejections, payload);
    let readings = decoded.readings;
    if (readings.length === 0) {
      // before the callback: aedes routes a QoS 0 message, and asks authorizeForward, within it
      if (typeof rawPayload === 'object') refusedPayloads.add(rawPayload);
      callback(null);
      return false;
    }
    // A will or keepalive status is the broker speaking for a silent device: it is not "last seen".
    if (statusSource === 'device') devices.touch(device.id, receivedAt);
    if (channel === 'telemetry') {
      queueTelemetry(readings, callback, qos > 0 || telemetryQueued >= backpressureAt);
      return true;
    }
    if (needsJournal) {
      const fresh = takeOnce(device.id, readings as EventReading[], delivery, rawPayload, callback);
      if (fresh === null) return false;
      readings = fresh;
      redelivery.take(device.id, delivery, digest, eventIdsOf(readings), receivedAt);
    }
    if (!needsJournal && pending.length === 0) {
      deliverAll(readings);
      callback(null);
      return true;
    }
    // queued behind earlier events of this tick so that readings keep their arrival order
    pending.push({ readings, journal: needsJournal, callback });
    scheduleFlush();
    return true;
  }

  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    // A microtask, not setImmediate: the commit then follows the socket read that brought the event, instead
    // of waiting for every other readable socket of this poll phase — under load that wait was most of the
    // publish-to-alarm latency. Events of one read still share one commit.
    queueMicrotask(flush);
  }

  /**
   * Events whose `eventId` was taken before are dropped (counted); null when nothing of the message is left,
   * which is then answered as a duplicate.
   */
  function takeOnce(
    deviceId: string,
    readings: EventReading[],
    delivery: Delivery | undefined,
    rawPayload: string | Buffer | undefined,
    callback: PublishCallback,
  ): EventReading[] | null {
    let fresh: EventReading[] | null = null;
    let last: Duplicate | null = null;
    let ids: Set<string> | undefined;
    const now = clock.now();
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i] as EventReading;
      const id = r.eventId;
      let dup = id === undefined ? null : redelivery.checkEventId(deviceId, id, now);
      // an array naming the same eventId twice takes it once
      if (dup === null && id !== undefined) {
        if (ids === undefined) ids = new Set();
        if (ids.has(id)) dup = { reason: 'event_id', pending: true };
        else ids.add(id);
      }
      if (dup === null) {
        fresh?.push(r);
      } else {
        last = dup;
        metrics.duplicates.inc({ reason: dup.reason });
        if (fresh === null) fresh = readings.slice(0, i);
      }
    }
    if (fresh === null) return readings;
    if (fresh.length > 0) return fresh;
    duplicate(
      deviceId,
      delivery,
      last ?? { reason: 'event_id', pending: false },
      rawPayload,
      callback,
      false,
    );
    return null;
  }

  /**
   * A redelivery: acknowledged, not taken again. Its acknowledgement waits for its original's commit when that
   * is still pending, so a duplicate is never acknowledged before the event it repeats is durable.
   */
  function duplicate(
    deviceId: string,
    delivery: Delivery | undefined,
    dup: Duplicate,
    rawPayload: string | Buffer | undefined,
    callback: PublishCallback,
    count = true,
  ): void {
    if (count) metrics.duplicates.inc({ reason: dup.reason });
    // not forwarded to raw-traffic subscribers either: they saw the original
    if (typeof rawPayload === 'object') refusedPayloads.add(rawPayload);
    log.info(
      { deviceId, reason: dup.reason, packetId: delivery?.packetId, dup: delivery?.dup },
      'redelivered event recognised; acknowledged, not taken again',
    );
    if (!dup.pending) {
      callback(null);
      return;
    }
    pending.push({ readings: [], journal: true, callback });
    scheduleFlush();
  }

  function authorizeSubscribe(
    client: Client,
    sub: Parameters<Pipeline['authorizeSubscribe']>[1],
    callback: Parameters<Pipeline['authorizeSubscribe']>[2],
  ): void {
    const session = sessionOf(client);
    const filter = sub.topic;
    if (!subscriptionAllowed(session, filter)) {
      metrics.subscribeDenied.inc({ role: session?.role ?? 'none' });
      log.info(
        { clientRole: session?.role, username: session?.id, filter: printable(filter) },
        'subscription denied',
      );
      // a null subscription makes aedes answer this filter with 0x80 (MQTT 3.1.1 §3.9.3) and keep the connection
      callback(null, null);
      return;
    }
    if (sub.qos > 1) sub.qos = 1;
    callback(null, sub);
  }

  /**
   * Per delivery to a subscriber. A subscriber whose socket already holds more than `subscriberQueueBytes`
   * unwritten gets nothing more until it drains (drops counted); together with the drain timeout this bounds
   * what one slow or frozen subscriber can make the broker hold.
   */
  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const payload = packet.payload;
    if (typeof payload === 'object' && refusedPayloads.has(payload)) return null;
    if (client.conn.writableLength > subscriberCap) {
      metrics.dropped.inc({ reason: 'subscriber_queue', qos: String(packet.qos) });
      return null;
    }
    return packet;
  }

  /**
   * Journaled events whose recording failed (the alert store threw, say): they stay in the journal, already
   * acknowledged, and are re-fed in journal order with back-off until they are taken — without a restart. The
   * rules rolled their state back, and the dispatcher knows each journal id it has recorded, so a re-feed
   * neither loses the event nor doubles its alert.
   */
  const retry: EventReading[] = [];
  const retryDevices = new Map<string, number>();
  let retryTimer: TimerHandle | undefined;
  let retryFailures = 0;

  function queueRetry(reading: EventReading): void {
    retry.push(reading);
    retryDevices.set(reading.deviceId, (retryDevices.get(reading.deviceId) ?? 0) + 1);
    scheduleRetry();
  }

  function scheduleRetry(): void {
    if (retryTimer || retryChecking || shuttingDown || retry.length === 0) return;
    const ms = Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** retryFailures);
    retryTimer = clock.setTimeout(retryNow, ms);
  }

  /** A re-feed is checking, on the shared store, which of its rows are still this instance's. */
  let retryChecking = false;

  function retryNow(): void {
    retryTimer = undefined;
    if (!('claim' in journal)) {
      refeed();
      return;
    }
    // On a shared store another instance may have taken these rows while this one's lease had run out (a
    // pause, a lost network): it replays them, so this one must not hand them on a second time.
    retryChecking = true;
    journal
      .owned(
        retry.map((r) => r.journalId as number),
        clock.now(),
      )
      .then(
        ({ mine, live }) => {
          retryChecking = false;
          if (shuttingDown) return;
          let lost = 0;
          for (let i = retry.length - 1; i >= 0; i--) {
            const reading = retry[i] as EventReading;
            if (mine.has(reading.journalId as number)) continue;
            retry.splice(i, 1);
            unblock(reading.deviceId);
            lost++;
          }
          metrics.journalTakenOver.inc(lost);
          if (lost > 0)
            log.warn({ lost }, 'journaled events taken over by another instance; not re-fed here');
          if (live) refeed();
          else scheduleRetry();
        },
        (err: unknown) => {
          retryChecking = false;
          log.error({ err }, 'event journal ownership check failed; re-feed postponed');
          retryFailures++;
          scheduleRetry();
        },
      );
  }

  function unblock(deviceId: string): void {
    const left = (retryDevices.get(deviceId) ?? 1) - 1;
    if (left > 0) retryDevices.set(deviceId, left);
    else retryDevices.delete(deviceId);
  }

  function refeed(): void {
    const blocked = new Set<string>();
    const done: number[] = [];
    // What waits now; events queued for a retry while these are re-fed wait for the next round.
    const round = [...retry];
    const finish = () => {
      retryChecking = false;
      markDone(done);
      metrics.journalRetried.inc(done.length);
      retryFailures = retry.length > 0 ? retryFailures + 1 : 0;
      if (done.length > 0 || retry.length > 0)
        log.info({ refed: done.length, waiting: retry.length }, 'journaled events re-fed');
      scheduleRetry();
    };
    // no other re-feed starts while this one awaits the flow
    retryChecking = true;
    const going = inOrder(
      round,
      (reading) => {
        if (blocked.has(reading.deviceId)) return undefined;
        return deliver(reading);
      },
      (reading, taken) => {
        if (!taken) {
          blocked.add(reading.deviceId);
          return;
        }
        done.push(reading.journalId as number);
        retry.splice(retry.indexOf(reading), 1);
        unblock(reading.deviceId);
      },
    );
    if (going === undefined) finish();
    else void going.then(finish);
  }

  function markDone(ids: number[]): void {
    try {
      journal.done(ids);
    } catch (err) {
      // the rows stay and are replayed at the next start; downstream can tell by journalId
      log.error({ err }, 'event journal could not mark events processed');
    }
  }

  function replayJournal(): number | Promise<number> {
    if ('claim' in journal) return journal.claim(clock.now()).then(replay);
    return replay(journal.pending());
  }

  function replayOrphans(now: number): number | Promise<number> {
    if ('claimOrphans' in journal) return journal.claimOrphans(now).then(replay);
    return 0;
  }

  function replay(events: EventReading[]): number | Promise<number> {
    const done: number[] = [];
    const finish = () => {
      markDone(done);
      metrics.journalReplayed.inc(done.length);
      if (events.length > 0)
        log.info({ replayed: done.length, failed: events.length - done.length }, 'event journal replayed');
      return done.length;
    };
    const going = inOrder(
      events,
      (reading) => {
        if (!retryDevices.has(reading.deviceId)) return deliver(reading);
        queueRetry(reading);
        return undefined;
      },
      (reading, taken) => {
        if (taken) done.push(reading.journalId as number);
        else queueRetry(reading);
      },
    );
    return going === undefined ? finish() : going.then(finish);
  }

  return {
    authorizePublish,
    authorizeSubscribe,
    authorizeForward,
    ingestMessage,
    reply,
    flush() {
      flush();
      drainTelemetry(true);
    },
    alarmQueued() {
      alarmsQueued++;
      // only a slice already waiting can stand in the way: one queued later runs after the broker's write
      if (drainScheduled) alarmWaiting = true;
    },
    released(client, packetId) {
      const session = sessionOf(client);
      if (session?.role === 'device')
        redelivery.released(session.id, redelivery.connectionId(client), packetId);
    },
    closed(client, clean) {
      const session = sessionOf(client);
      if (clean && session?.role === 'device')
        redelivery.settled(session.id, redelivery.connectionId(client));
    },
    beginShutdown() {
      shuttingDown = true;
      if (retryTimer) clock.clearTimeout(retryTimer);
      retryTimer = undefined;
    },
    consume(sink) {
      onReading = sink;
    },
    replayJournal,
    replayOrphans,
    get retrying() {
      return retry.length;
    },
  };
}
