import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { AlertChangePoint, TelemetryReader, TelemetrySink } from '../domain/ports.ts';
import type { Reading } from '../domain/reading.ts';
import type { InfluxConfig, TelemetryConfig } from './config.ts';
import { classifyWriteError, connectInflux, influxQlTarget } from './influx-connection.ts';
import {
  ALERTS_MEASUREMENT,
  alertChangeToPoint,
  LineProtocolError,
  pointLine,
  readingToPoint,
  type SeriesPoint,
} from './line-protocol.ts';
import { createTelemetryMetrics } from './metrics.ts';
import { resolveQuery, toInfluxQl, toPoints } from './query.ts';
import { openDeadLetter, openSpool } from './spool.ts';
import { createStamper } from './timestamps.ts';

export interface InfluxStoreDeps {
  influx: InfluxConfig;
  telemetry: TelemetryConfig;
  dataDir: string;
  catalogue: Catalogue;
  log: Logger;
  metrics: Registry;
  /** Time stamps of dead letters; pacing (flush, backoff, health probe) uses real timers, see below. */
  clock: Clock;
}

export interface InfluxStoreStatus {
  /** `direct`: lines go straight to InfluxDB; `spooling`: the spool is being filled or replayed. */
  mode: 'direct' | 'spooling';
  queuedLines: number;
  spoolBytes: number;
  written: number;
  spooled: number;
  replayed: number;
  deadLettered: number;
  dropped: number;
  /** Readings with a device-given ts equal to an earlier one of their series (stored as one point). */
  replaced: number;
}

export interface InfluxStore extends TelemetrySink, TelemetryReader {
  readonly kind: 'influx';
  status(): InfluxStoreStatus;
  /**
   * Undefined when InfluxDB answers and the database/bucket exists, else a message for the start-up log. Writes
   * do not depend on it: while InfluxDB is away they wait in the spool.
   */
  check(): Promise<string | undefined>;
  /** Resolves once nothing is queued in memory or spooled (tests, shutdown tooling). */
  drained(timeoutMs: number): Promise<boolean>;
}

type Delivery = 'ok' | 'retry';

/** Alert changes share the line stream with readings; they are not readings, so not counted as reading points. */
const ALERT_PREFIX = `${ALERTS_MEASUREMENT},`;

const DEAD_LETTER_MAX_BYTES = 64 * 1024 * 1024;

/**
 * InfluxDB sink with a durable, ordered retry path.
 *
 * Lines are batched in memory (`batchSize`, `flushInterval`) and sent by ONE sender at a time through one
 * long-lived WriteApi (gzip above `gzipThreshold`). The library's own retry buffer is not used (its
 * `writeFailed` hook takes every failure): it lives in memory, retries a batch after newer batches went
 * out, is dropped by `close()` after a failure and silently sheds lines past `maxBufferLines`. Instead:
 *
 * - Every reading is one point: its time is a nanosecond timestamp no other reading of its series has (see
 *   timestamps.ts), so bursts and array payloads within one millisecond are all kept.
 * - 5xx, 429, 401/403/404 and network errors: the batch goes to the on-disk spool, and so does every later
 *   line while the spool is not empty — new lines never overtake spooled ones. The spool is replayed from its
 *   head with exponential backoff plus jitter (`retryMinDelay` … `retryMaxDelay`); while InfluxDB cannot be
 *   reached at all, its `/ping` is probed every `probeInterval` and the replay starts as soon as it answers,
 *   batch after batch with no pause. When the spool is empty, lines go straight to InfluxDB again. Order is strict FIFO, with one exception: a batch that fails while later lines
 *   had already spilled to disk (memory bound reached during its request) is retried from memory first, and
 *   only appended at the spool's tail if the process is closed before it got through.
 * - 400/422/413 and other 4xx: the batch is split in halves until the refused lines are isolated; those go to
 *   `dead-letter.jsonl` with InfluxDB's reason and are not retried. Re-sent good lines overwrite themselves.
 *
 * Flush and backoff run on real timers even under an accelerated clock: they pace network I/O, and a clock at
 * 100× must not hammer an InfluxDB that is down.
 */
export function createInfluxStore(deps: InfluxStoreDeps): InfluxStore {
  const { influx: cfg, telemetry, catalogue, clock } = deps;
  const log = deps.log.child({ module: 'telemetry', store: 'influx' });
  const m = createTelemetryMetrics(deps.metrics);
  const spoolDir = join(deps.dataDir, 'spool');
  const counts = { written: 0, spooled: 0, replayed: 0, deadLettered: 0, dropped: 0, replaced: 0 };
  const stamper = createStamper();
  const readingsCell = m.readings.labels({ store: 'influx' });
  const pointsCell = m.pointsWritten.labels({ store: 'influx' });
  const replacedCell = m.replacedPoints.labels({ store: 'influx' });

  const conn = connectInflux(cfg, {
    // Batching is done here; the library only sends what it is given, in one request.
    batchSize: cfg.batchSize + 1,
    flushInterval: 0,
    maxBatchBytes: 1024 * 1024 * 1024,
    gzipThreshold: cfg.gzipThreshold,
    maxRetries: 0,
    maxBufferLines: cfg.batchSize,
    writeFailed: (err) => Promise.reject(err),
    writeRetrySkipped: (entry) => drop('retry_buffer', entry.lines.length),
  });
  const spool = openSpool({
    dir: spoolDir,
    maxBytes: telemetry.spoolMaxBytes,
    log,
    onTorn: (n) => drop('torn', n),
  });
  const deadLetter = openDeadLetter(join(spoolDir, 'dead-letter.jsonl'), DEAD_LETTER_MAX_BYTES);

  let pending: string[] = [];
  let inflight = 0;
  /** A failed batch that must be retried before the spool (see the ordering note above). */
  let head: string[] | undefined;
  /** Lines at the head of `pending` to send even though they do not fill a batch (flush timer, flush()). */
  let drainCount = 0;
  let running: Promise<void> | undefined;
  let rerun = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryAt = 0;
  let backoff = cfg.retryMinDelay;
  let stopping = false;
  let closed = false;
  let outageSince: number | undefined;
  /** The last failure was InfluxDB not answering at all (connection refused, reset, timeout): probe it. */
  let unreachable = false;
  let probeTimer: NodeJS.Timeout | undefined;
  const dropLog = { last: 0, since: 0 };

  function updateGauges(): void {
    m.queuedLines.set(pending.length + inflight + (head?.length ?? 0));
    m.spoolBytes.set(spool.bytes);
  }

  function drop(reason: string, n: number): void {
    if (n <= 0) return;
    counts.dropped += n;
    m.droppedLines.inc({ reason }, n);
    dropLog.since += n;
    const now = Date.now();
    if (now - dropLog.last >= 60_000) {
      log.error(
        { reason, lines: dropLog.since, totalDropped: counts.dropped, spoolBytes: spool.bytes },
        'telemetry lines dropped',
      );
      dropLog.last = now;
      dropLog.since = 0;
    }
  }

  function toSpool(lines: readonly string[]): void {
    if (lines.length === 0) return;
    const { written, dropped } = spool.append(lines);
    counts.spooled += written;
    m.spooledLines.inc(written);
    drop('spool_full', dropped);
  }

  function spillPending(): void {
    const lines = pending;
    pending = [];
    toSpool(lines);
  }

  /** Stamp a point with its unique time and queue its line; a point the encoder refuses is counted and logged. */
  function write(
    point: () => SeriesPoint,
    tsMs: number,
    receivedAt: number,
    deviceTs: boolean,
    deviceId: string,
  ) {
    let line: string;
    try {
      const p = point();
      const t = stamper.stamp(p.series, tsMs, receivedAt, deviceTs);
      if (t.replaces) {
        counts.replaced++;
        replacedCell.inc();
      }
      line = pointLine(p, t);
    } catch (err) {
      const reason = err instanceof LineProtocolError ? err.reason : 'ENCODER_FAILED';
      log.warn({ err, deviceId, reason }, 'point cannot be written as line protocol; dropped');
      drop('unwritable', 1);
      return;
    }
    enqueue(line);
  }

  function enqueue(line: string): void {
    if (closed) {
      drop('closed', 1);
      return;
    }
    pending.push(line);
    if (pending.length >= cfg.batchSize) void kick();
    else if (!flushTimer) {
      flushTimer = setTimeout(() => {
        flushTimer = undefined;
        drainCount = Math.max(drainCount, pending.length);
        void kick();
      }, cfg.flushInterval);
      flushTimer.unref();
    }
    // Memory bound: while a request is slow or InfluxDB is away, further lines wait on disk instead.
    if (pending.length + inflight > cfg.maxQueuedLines) {
      if (!outageSince)
        log.warn({ queued: pending.length + inflight }, 'telemetry queue full; spilling to spool');
      spillPending();
    }
  }

  /** One write request; never throws. */
  async function post(
    lines: string[],
  ): Promise<{ ok: true } | ({ ok: false } & ReturnType<typeof classifyWriteError>)> {
    const end = m.writeDuration.startTimer();
    try {
      conn.writeApi.writeRecords(lines);
      await conn.writeApi.flush();
      end();
      return { ok: true };
    } catch (err) {
      end();
      const c = classifyWriteError(err);
      m.writeFailures.inc({ status: c.status });
      return { ok: false, ...c };
    }
  }

  /** Write `lines`, isolating malformed ones into the dead letter by halving. */
  async function deliver(lines: string[]): Promise<Delivery> {
    const r = await post(lines);
    if (r.ok) {
      counts.written += lines.length;
      m.writtenLines.inc({ store: 'influx' }, lines.length);
      let points = 0;
      for (const l of lines) if (!l.startsWith(ALERT_PREFIX)) points++;
      pointsCell.inc(points);
      unreachable = false;
      return 'ok';
    }
    if (r.cls === 'retry') {
      unreachable = r.status === 'network';
      if (unreachable) startProbing();
      if (!outageSince) {
        outageSince = Date.now();
        log.warn(
          { status: r.status, reason: r.reason },
          'InfluxDB write failed; spooling to disk until it is back',
        );
      } else if (log.isLevelEnabled('debug'))
        log.debug({ status: r.status, reason: r.reason }, 'retry failed');
      return 'retry';
    }
    if (lines.length === 1) {
      const line = lines[0] as string;
      log.warn(
        { status: r.status, reason: r.reason, line: line.slice(0, 300) },
        'line refused; dead-lettered',
      );
      counts.deadLettered++;
      m.deadLetterLines.inc();
      drop(
        'dead_letter_full',
        deadLetter.add([{ line, status: Number(r.status), reason: r.reason }], clock.now()),
      );
      return 'ok';
    }
    const mid = lines.length >> 1;
    if ((await deliver(lines.slice(0, mid))) === 'retry') return 'retry';
    return deliver(lines.slice(mid));
  }

  function scheduleRetry(): void {
    const delay = Math.min(backoff, cfg.retryMaxDelay) + Math.random() * cfg.retryJitter;
    backoff = Math.min(backoff * 2, cfg.retryMaxDelay);
    retryAt = Date.now() + delay;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void kick();
    }, delay);
    retryTimer.unref();
  }

  function recovered(): void {
    backoff = cfg.retryMinDelay;
    retryAt = 0;
  }

  /**
   * While InfluxDB does not answer, ask `/ping` every `probeInterval` rather than wait out a back-off that may
   * have grown long: the replay starts within one interval of its return.
   */
  function startProbing(): void {
    if (probeTimer || closed || stopping) return;
    probeTimer = setTimeout(() => {
      void conn.ping().then((up) => {
        probeTimer = undefined;
        if (closed || stopping) return;
        if (up && unreachable) {
          log.info(
            { outageMs: outageSince ? Date.now() - outageSince : 0 },
            'InfluxDB answers again; replaying',
          );
          unreachable = false;
          if (retryTimer) clearTimeout(retryTimer);
          retryTimer = undefined;
          recovered();
          void kick();
        }
        if (unreachable) startProbing();
      });
    }, cfg.probeInterval);
    probeTimer.unref();
  }

  async function work(): Promise<void> {
    for (;;) {
      updateGauges();
      if (closed || (stopping && drainCount === 0)) return;
      if (head || !spool.isEmpty()) {
        // Spool mode: everything new queues behind what is already waiting.
        if (pending.length) spillPending();
        if (stopping || Date.now() < retryAt) return;
        const fromHead = head !== undefined;
        const lines = head ?? spool.peek(cfg.batchSize);
        if (lines.length === 0) {
          if (head || !spool.isEmpty()) {
            // Unreadable right now (should not happen: only whole lines are appended); try again later.
            scheduleRetry();
            return;
          }
          continue;
        }
        inflight = lines.length;
        const r = await deliver(lines);
        inflight = 0;
        if (r === 'retry') {
          scheduleRetry();
          return;
        }
        recovered();
        if (fromHead) head = undefined;
        else spool.commit();
        counts.replayed += lines.length;
        m.replayedLines.inc(lines.length);
        if (!head && spool.isEmpty() && outageSince) {
          log.info(
            { replayed: counts.replayed, outageMs: Date.now() - outageSince },
            'InfluxDB back; spool replayed, writing directly again',
          );
          outageSince = undefined;
        }
        continue;
      }
      // Full batches go at once; a partial one only when its oldest line has waited `flushInterval` (or on
      // flush/close). Lines that arrive while a request is in flight wait for a full batch or their own timer.
      if (!(pending.length >= cfg.batchSize || (drainCount > 0 && pending.length > 0))) {
        drainCount = 0;
        return;
      }
      const batch = pending.splice(0, cfg.batchSize);
      drainCount = Math.max(0, drainCount - batch.length);
      inflight = batch.length;
      const r = await deliver(batch);
      inflight = 0;
      if (r === 'retry') {
        // Lines spilled during the request are newer than this batch: keep it in front of them.
        if (spool.isEmpty()) toSpool(batch);
        else head = batch;
        spillPending();
        scheduleRetry();
        return;
      }
      recovered();
    }
  }

  function kick(): Promise<void> {
    if (running !== undefined) {
      rerun = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          rerun = false;
          await work();
        } while (rerun && !closed);
      } catch (err) {
        log.error({ err }, 'telemetry sender failed');
      } finally {
        running = undefined;
        updateGauges();
      }
    })();
    return running;
  }

  if (!spool.isEmpty()) {
    log.info({ spoolBytes: spool.bytes }, 'replaying telemetry spool left by the previous run');
    outageSince = Date.now();
    void kick();
  }

  return {
    kind: 'influx',

    writeReading(reading: Reading) {
      readingsCell.inc();
      write(
        () => readingToPoint(reading, catalogue),
        reading.ts,
        reading.receivedAt,
        reading.deviceTs === true,
        reading.deviceId,
      );
    },

    writeAlertChange(change: AlertChangePoint) {
      // Hub time: unique per series like any hub stamp (two alerts of one device can change in one millisecond).
      write(() => alertChangeToPoint(change), change.at, change.at, false, change.deviceId);
    },

    async flush() {
      drainCount = Math.max(drainCount, pending.length);
      await kick();
      if (running !== undefined) await running;
    },

    async query(q) {
      const r = resolveQuery(q, catalogue);
      try {
        const series = await conn.query(toInfluxQl(r, influxQlTarget(cfg).rp));
        const points = toPoints(series[0]?.values);
        // Selectors (min/max/last) over the whole range report their point's time; aggregates the range start.
        // Both stores answer with the range start, one point per bucket.
        return r.agg && q.everyMs === undefined
          ? points.map((p) => ({ ...p, ts: Math.trunc(q.from) }))
          : points;
      } catch (err) {
        log.warn({ err, deviceId: q.deviceId, field: q.field }, 'InfluxDB query failed');
        throw new GridHubError('STORAGE_UNAVAILABLE', 'InfluxDB query failed', { cause: err });
      }
    },

    check: () => conn.check(),

    status() {
      return {
        mode: head || !spool.isEmpty() ? 'spooling' : 'direct',
        queuedLines: pending.length + inflight + (head?.length ?? 0),
        spoolBytes: spool.bytes,
        ...counts,
      };
    },

    async drained(timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (running === undefined && pending.length === 0 && !head && spool.isEmpty()) return true;
        drainCount = Math.max(drainCount, pending.length);
        void kick();
        await new Promise((r) => setTimeout(r, 20));
      }
      return false;
    },

    async close() {
      if (closed) return;
      stopping = true;
      if (flushTimer) clearTimeout(flushTimer);
      if (retryTimer) clearTimeout(retryTimer);
      if (probeTimer) clearTimeout(probeTimer);
      flushTimer = retryTimer = probeTimer = undefined;
      // One last attempt for what is in memory when InfluxDB is up; otherwise it waits in the spool.
      drainCount = Number.POSITIVE_INFINITY;
      if (running !== undefined) await running;
      if (!head && spool.isEmpty() && pending.length) {
        retryAt = 0;
        await kick();
      }
      if (head) {
        log.warn({ lines: head.length }, 'closing with a failed batch: appended at the spool tail');
        toSpool(head);
        head = undefined;
      }
      spillPending();
      closed = true;
      updateGauges();
      await conn.writeApi
        .close()
        .catch((err: unknown) => log.warn({ err }, 'closing the InfluxDB write API'));
      spool.close();
      log.info({ ...counts, spoolBytes: spool.bytes }, 'telemetry sink closed');
    },
  };
}
