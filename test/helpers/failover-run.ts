/**
 * The failover scenario of issue #18's targets, shared by test/hub/failover.test.ts (reduced rates) and the
 * bench (bench/failover.ts, the full 200 presses/s and 5 000 telemetry/s): N hub processes on one PostgreSQL
 * behind one Mosquitto; presses and telemetry at the given rates; one instance killed with SIGKILL mid-load; then
 * what the targets ask for, measured rather than asserted here, so that the bench can report what it reached:
 *
 * - every press Mosquitto acknowledged has exactly one alert (each press is on its own device, so a device's
 *   alert count is the press's): `lost` and `doubled` list the devices that break it;
 * - each escalation step of each alert in the timeline once, none before it was due (read from the shared
 *   database: the whole timeline of thousands of alerts, which no API page shows at once);
 * - alarms flowing again after the kill: for every press, its first alarm on a worker's topic after
 *   max(sent, kill); the worst of these over the presses whose alarm came after the kill (`maxStallMs`);
 * - every surviving instance's board: its alert list (API, paged) and its live stream (SSE) each hold every alert.
 */
import { alertsConfigSchema } from '../../src/alerts/config.ts';
import {
  type AlarmSeen,
  collectAlarms,
  type HubCluster,
  type HubProcess,
  listAlerts,
  loginAs,
  openBoardStream,
  type Press,
  type StreamEvent,
  startHubCluster,
  startPresses,
  startTelemetry,
  waitFor,
} from './hub-cluster.ts';
import { resetStatementStats, type StatementFigures, statementFigures } from './statement-stats.ts';

export interface FailoverOptions {
  instances: number;
  pressesPerSec: number;
  telemetryPerSec: number;
  /** Seconds of press load; the kill comes at `killAtFraction` of it. */
  seconds: number;
  killAtFraction?: number;
  clockSpeed: number;
  /** GRIDHUB_MQTT_EXTERNAL_ROUTING of every instance (default `owner`). */
  routing?: 'owner' | 'shared';
  /** How long to wait for what the run should end with (alerts, escalations, streams) after the load. */
  settleMs?: number;
  /** Progress lines (the bench prints them). */
  log?: (line: string) => void;
  /** Count what the load sent PostgreSQL, from its start until the settle ends (`statements` in the result). */
  statements?: boolean;
}

export interface BoardFigures {
  instance: string;
  listed: number;
  /** Alerts of acknowledged presses missing from the list. */
  missingFromList: number;
  /** Alerts whose `opened` never came on the live stream. */
  missingFromStream: number;
  /** Stream arrival after the alarm on the worker's topic, p99 (ms): how live the board is. */
  streamLagP99Ms: number | null;
  /**
   * This instance's `gridhub_alerts_raise_delay_seconds` (reading received → raise committed), in real ms: the
   * upper bounds of the buckets holding its p50 and p99, over the whole run. Where an alarm's wait was spent:
   * here, behind the store, or before the hub had the press (the broker, the consumer connections).
   */
  raiseDelayMs: { count: number; p50UpTo: number | null; p99UpTo: number | null };
}

/** The bucket bounds (real ms) holding the p50 and p99 of a Prometheus histogram in `metrics` text. */
function histogramBounds(
  metrics: string,
  name: string,
  clockSpeed: number,
): { count: number; p50UpTo: number | null; p99UpTo: number | null } {
  const buckets: { le: number; n: number }[] = [];
  for (const m of metrics.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"[^}]*\\} (\\d+)$`, 'gm'))) {
    const le = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]);
    const at = buckets.find((b) => b.le === le);
    // summed over the label values (severities)
    if (at) at.n += Number(m[2]);
    else buckets.push({ le, n: Number(m[2]) });
  }
  buckets.sort((a, b) => a.le - b.le);
  const count = buckets.at(-1)?.n ?? 0;
  const bound = (p: number) => {
    const hit = buckets.find((b) => b.n >= p * count);
    return count && hit ? Math.round((hit.le * 1000) / clockSpeed) : null;
  };
  return { count, p50UpTo: bound(0.5), p99UpTo: bound(0.99) };
}

export interface FailoverResult {
  routing: 'owner' | 'shared';
  instances: string[];
  killed: string;
  clockSpeed: number;
  presses: { offeredPerSec: number; sent: number; acked: number; ackedPerSec: number };
  alerts: number;
  /** Devices whose acknowledged press has no alert. */
  lost: string[];
  /** Devices with more than one alert for their one press. */
  doubled: string[];
  escalation: {
    /** Steps that were due (with margin) at the check: each must be in its alert's timeline exactly once. */
    expected: number;
    /** Of those, present exactly once. */
    seenOnce: number;
    missing: number;
    /** Steps in a timeline more than once. */
    repeated: number;
    /** Steps in a timeline before they were due. */
    early: number;
    /** The latest a step fired after its due time, in real ms (the hub clock runs `clockSpeed` ×). */
    worstLateMs: number;
  };
  failover: {
    /** The first alarm for a press sent after the kill, after the kill (ms). */
    firstAlarmAfterKillMs: number | null;
    /** The worst first-alarm wait counted from max(sent, kill), over presses alarmed after the kill (ms). */
    maxStallMs: number | null;
    /** Presses sent in the second before the kill that were alarmed only after it: the dead one's share in flight. */
    inFlightAtKill: number;
    /** Of those, the last one's alarm after the kill (ms). */
    inFlightRecoveredMs: number | null;
    /** Acknowledged presses whose alert never reached a worker's alarm topic. */
    neverAlarmed: number;
  };
  /** Press → first alarm before the kill, for comparison (ms). */
  alarmLatencyBeforeKill: { p50: number | null; p99: number | null };
  /** Alarm messages received twice (same alert, recipient and change): at-least-once deliveries redone. */
  repeatedAlarmMessages: number;
  /**
   * Of those, the ones whose copies do not all carry one `messageId`: a phone would take the second for a new
   * alarm and ring again. A re-send of the same message (a survivor redoing a delivery the dead instance had not
   * recorded) carries its id, and the worker's app drops it.
   */
  repeatedUnderAnotherId: number;
  /**
   * Where a first alarm's time after its alert's commit went, in real ms (p50 / p99 over the alerts): from the
   * commit to the broker's PUBACK of the hub's publish (the `delivered` timeline entry), and to the phones'
   * subscriber (the message's `sentAt` against its arrival).
   */
  alarmPath: {
    commitToBrokerAck: { p50: number | null; p99: number | null };
    commitToPhone: { p50: number | null; p99: number | null };
  };
  boards: BoardFigures[];
  telemetry: { offeredPerSec: number; sentPerSec: number; acceptedPerSec: number };
  /** Seconds from the kill until every acknowledged press had its alert in the store. */
  allAlertsStoredAfterKillSec: number | null;
  /** With `statements`: what the cluster sent PostgreSQL from the load's start to the settle's end. */
  statements?: StatementFigures;
  notes: string[];
}

const CRITICAL_LADDER = alertsConfigSchema.parse({}).ladders.critical;
const CATEGORY = 'call_for_help';

function pct(values: number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? null;
}

export async function runFailover(options: FailoverOptions): Promise<FailoverResult> {
  const log = options.log ?? (() => undefined);
  const settleMs = options.settleMs ?? 60_000;
  const pressCount = Math.round(options.pressesPerSec * options.seconds);
  const notes: string[] = [];
  const cluster: HubCluster = await startHubCluster({
    instances: options.instances,
    clockSpeed: options.clockSpeed,
    pressDevices: pressCount,
    env: { GRIDHUB_MQTT_EXTERNAL_ROUTING: options.routing ?? 'owner' },
    statementStats: options.statements === true,
  });
  const closers: (() => unknown)[] = [];
  try {
    const { hubs, credentials } = cluster;
    log(`${hubs.length} hubs up (${hubs.map((h) => h.name).join(', ')}), ${pressCount} press devices`);
    const tokens = await Promise.all(hubs.map((h) => loginAs(h, credentials, 'admin')));
    const streams = await Promise.all(hubs.map((h, i) => openBoardStream(h, tokens[i] as string)));
    for (const s of streams) closers.push(() => s.close());
    const alarms = await collectAlarms(cluster.mqttUrl);
    closers.push(() => alarms.stop());
    const victim = hubs[hubs.length - 1] as HubProcess;
    const survivors = hubs.filter((h) => h !== victim);

    const accepted = (h: HubProcess) => h.counter('gridhub_ingest_accepted_total', { channel: 'telemetry' });
    const before = await Promise.all(hubs.map(accepted));
    const telemetry = await startTelemetry(cluster.mqttUrl, credentials, options.telemetryPerSec);
    closers.push(() => telemetry.stop());
    if (options.statements) await resetStatementStats(cluster.query);
    const loadStart = Date.now();
    const load = await startPresses(cluster.mqttUrl, cluster.pressDevices, options.pressesPerSec);

    const killAfter = Math.floor(pressCount * (options.killAtFraction ?? 0.5));
    await waitFor('presses before the kill', options.seconds * 4_000, () => load.presses.length >= killAfter);
    const victimAccepted = await accepted(victim).catch(() => 0);
    const killAt = Date.now();
    await victim.kill();
    log(`killed ${victim.name} (pid ${victim.pid}) with SIGKILL after ${load.presses.length} presses`);

    await load.done;
    const pressesEnd = Date.now();
    const sentTelemetry = telemetry.sent();
    await telemetry.stop();
    const telemetryEnd = Date.now();
    const after = await Promise.all(survivors.map(accepted));
    const acceptedTotal =
      victimAccepted -
      (before[hubs.length - 1] ?? 0) +
      survivors.reduce((sum, _h, i) => sum + (after[i] ?? 0) - (before[i] ?? 0), 0);
    const presses = load.presses;
    const acked = presses.filter((p) => p.ackedAt !== undefined);
    log(`load done: ${presses.length} presses sent, ${acked.length} acknowledged by Mosquitto`);

    // the store: one alert per acknowledged press, waited for
    const ackedIds = acked.map((p) => p.deviceId);
    type AlertRow = { id: string; device_id: string; clock_start: string };
    const alertRows = () =>
      cluster.query<AlertRow>(
        'SELECT id, device_id, clock_start FROM alerts WHERE device_id = ANY($1::text[]) AND category = $2',
        [cluster.pressDevices, CATEGORY],
      );
    let rows: AlertRow[] = [];
    let allStoredAt: number | null = null;
    try {
      await waitFor('an alert for every acknowledged press', settleMs, async () => {
        rows = await alertRows();
        const have = new Set(rows.map((r) => r.device_id));
        return ackedIds.every((id) => have.has(id));
      });
      allStoredAt = Date.now();
    } catch (err) {
      notes.push((err as Error).message);
    }
    rows = await alertRows();
    const byDevice = new Map<string, AlertRow[]>();
    for (const r of rows) byDevice.set(r.device_id, [...(byDevice.get(r.device_id) ?? []), r]);
    const lost = ackedIds.filter((id) => !byDevice.has(id));
    const doubled = [...byDevice].filter(([, list]) => list.length > 1).map(([id]) => id);

    // escalation: wait until the first step of the newest alert is due (it is for every alert by then), then
    // until each alert's timeline has it; margin: a step due in the last few real seconds may be firing now
    const firstStepMs = Math.min(...(CRITICAL_LADDER[1]?.when ?? []).map((w) => w.afterMs));
    const newest = Math.max(...rows.map((r) => Number(r.clock_start)));
    const margin = 3_000 * options.clockSpeed;
    await waitFor('the first escalation step due for every alert', settleMs, () =>
      cluster.hubNow() > newest + firstStepMs + margin ? true : undefined,
    );
    type StepRow = { alert_id: string; at: string; data: string };
    const stepRows = () =>
      cluster.query<StepRow>(
        "SELECT e.alert_id, e.at, e.data FROM alert_events e JOIN alerts a ON a.id = e.alert_id WHERE e.type = 'escalated' AND a.device_id = ANY($1::text[])",
        [cluster.pressDevices],
      );
    try {
      await waitFor('the first escalation step of every alert', settleMs, async () => {
        const fired = new Set(
          (await stepRows())
            .filter((s) => (JSON.parse(s.data) as { step?: number }).step === 1)
            .map((s) => s.alert_id),
        );
        return rows.every((r) => fired.has(r.id));
      });
    } catch (err) {
      notes.push((err as Error).message);
    }
    // every step due by now (with the margin) must come, once: waited for, so that a loaded cluster firing late
    // shows as lateness, and only a step that never comes as missing
    const checkedAt = cluster.hubNow();
    const tally = (steps: StepRow[]) => {
      const escalation = { expected: 0, seenOnce: 0, missing: 0, repeated: 0, early: 0, worstLateMs: 0 };
      const timeline = new Map<string, { step: number; at: number }[]>();
      for (const s of steps) {
        const step = (JSON.parse(s.data) as { step?: number }).step;
        if (step === undefined) continue;
        timeline.set(s.alert_id, [...(timeline.get(s.alert_id) ?? []), { step, at: Number(s.at) }]);
      }
      for (const r of rows) {
        const start = Number(r.clock_start);
        const seen = timeline.get(r.id) ?? [];
        for (const [i, step] of CRITICAL_LADDER.entries()) {
          if (!step.when.length) continue;
          const due = start + Math.min(...step.when.map((w) => w.afterMs));
          const of = seen.filter((s) => s.step === i);
          if (of.length > 1) escalation.repeated++;
          if (of.some((s) => s.at < due)) escalation.early++;
          for (const s of of)
            escalation.worstLateMs = Math.max(escalation.worstLateMs, (s.at - due) / options.clockSpeed);
          if (due <= checkedAt - margin) {
            escalation.expected++;
            if (of.length === 1) escalation.seenOnce++;
            else if (of.length === 0) escalation.missing++;
          }
        }
      }
      return escalation;
    };
    let steps: StepRow[] = [];
    try {
      await waitFor('every escalation step due at the check', settleMs, async () => {
        steps = await stepRows();
        return tally(steps).missing === 0;
      });
    } catch (err) {
      notes.push((err as Error).message);
    }
    steps = await stepRows();
    const escalation = tally(steps);

    // alarms: the first for each press's device, and the stall around the kill
    const alarmList = alarms.alarms;
    const ackedDevices = new Set(ackedIds);
    // waited for the presses that have an alert: one that has none (lost) cannot alarm, and is counted already
    const alerted = [...byDevice.keys()];
    try {
      await waitFor('an alarm for every alert of a press', settleMs, () => {
        const seen = new Set(alarmList.map((a) => a.deviceId));
        return alerted.every((id) => seen.has(id));
      });
    } catch (err) {
      notes.push((err as Error).message);
    }
    const firstAlarm = new Map<string, AlarmSeen>();
    for (const a of alarmList) {
      if (!ackedDevices.has(a.deviceId)) continue;
      const known = firstAlarm.get(a.deviceId);
      if (!known || a.at < known.at) firstAlarm.set(a.deviceId, a);
    }
    const failover = failoverFigures(acked, firstAlarm, killAt);
    const latencyBefore = acked
      .filter((p) => (firstAlarm.get(p.deviceId)?.at ?? Number.POSITIVE_INFINITY) < killAt)
      .map((p) => (firstAlarm.get(p.deviceId) as AlarmSeen).at - p.sentAt);
    // the alarm's path after the commit: to the broker's acknowledgement, and on to the phones' subscriber
    type DeliveredRow = { opened: string; delivered: string };
    const deliveredRows = await cluster.query<DeliveredRow>(
      `SELECT min(o.at) AS opened, min(d.at) AS delivered FROM alerts a
         JOIN alert_events o ON o.alert_id = a.id AND o.type = 'opened'
         JOIN alert_events d ON d.alert_id = a.id AND d.type = 'delivered' AND (d.data::jsonb ->> 'channel') = 'mqtt'
       WHERE a.device_id = ANY($1::text[]) GROUP BY a.id`,
      [cluster.pressDevices],
    );
    const realMs = (hubMs: number) => Math.round(hubMs / options.clockSpeed);
    const toBroker = deliveredRows.map((r) => realMs(Number(r.delivered) - Number(r.opened)));
    const toPhone = [...firstAlarm.values()].flatMap((a) =>
      a.sentAt === undefined ? [] : [realMs(cluster.hubAt(a.at) - a.sentAt)],
    );
    const alarmPath = {
      commitToBrokerAck: { p50: pct(toBroker, 50), p99: pct(toBroker, 99) },
      commitToPhone: { p50: pct(toPhone, 50), p99: pct(toPhone, 99) },
    };

    // the ids each (alert, recipient, change) came under, one entry per copy received
    const messageKeys = new Map<string, (string | undefined)[]>();
    for (const a of alarmList) {
      const key = `${a.alertId}|${a.recipient}|${a.change}`;
      messageKeys.set(key, [...(messageKeys.get(key) ?? []), a.messageId]);
    }
    const repeated = [...messageKeys.values()].filter((ids) => ids.length > 1);
    const repeatedAlarmMessages = repeated.length;
    const repeatedUnderAnotherId = repeated.filter(
      (ids) => ids[0] === undefined || new Set(ids).size > 1,
    ).length;

    const statements = options.statements ? await statementFigures(cluster.query, rows.length) : undefined;

    // the boards of the survivors
    const alertIds = rows.map((r) => r.id);
    const boards: BoardFigures[] = [];
    for (const [i, hub] of hubs.entries()) {
      if (hub === victim) continue;
      const stream = streams[i] as { events: StreamEvent[]; closedAt(): number | undefined };
      try {
        await waitFor(`every alert on ${hub.name}’s live stream`, settleMs, () => {
          const opened = new Set(stream.events.filter((e) => e.type === 'opened').map((e) => e.alertId));
          return alertIds.every((id) => opened.has(id));
        });
      } catch (err) {
        // what the board's hub said of its stream and change feed, to tell a cut-off from a lost announcement
        const closed = stream.closedAt();
        const said = hub
          .output()
          .split('\n')
          .filter((l) => /live stream|change feed|relay/i.test(l))
          .slice(-5);
        // which alerts: all after one moment (a relay that stopped) or scattered (lost announcements), and
        // whether any other change of theirs came (a change's type lost, not the alert)
        const opened = new Set(stream.events.filter((e) => e.type === 'opened').map((e) => e.alertId));
        const missing = rows.filter((r) => !opened.has(r.id));
        const seenOtherwise = missing.filter((r) => stream.events.some((e) => e.alertId === r.id)).length;
        const alarmAfterKill = missing
          .map((r) => firstAlarm.get(r.device_id)?.at)
          .filter((at) => at !== undefined)
          .map((at) => at - killAt)
          .sort((a, b) => a - b);
        const lastEvent = stream.events.at(-1)?.at;
        // a few of them: what this stream got of each, and its timeline in the store (in order)
        const sample = missing.slice(0, 4);
        const timelines = await cluster.query<{ alert_id: string; types: string }>(
          `SELECT alert_id, string_agg(type, ',' ORDER BY id) AS types FROM alert_events
             WHERE alert_id = ANY($1::text[]) GROUP BY alert_id`,
          [sample.map((r) => r.id)],
        );
        const timelineOf = new Map(timelines.map((t) => [t.alert_id, t.types]));
        const described = sample.map(
          (r) =>
            `${r.id.slice(0, 8)} ${r.device_id}: streamed ${
              stream.events
                .filter((e) => e.alertId === r.id)
                .map((e) => e.type)
                .join(',') || 'nothing'
            }; timeline ${timelineOf.get(r.id) ?? '?'}`,
        );
        notes.push(
          `${(err as Error).message}; stream ${closed === undefined ? 'open' : `closed by the hub ${closed - loadStart} ms after the load began`}, cut-offs ${await hub.counter('gridhub_alerts_stream_cutoffs_total')}; relay heard ${await hub.counter('gridhub_live_relay_heard_total')}, streamed ${await hub.counter('gridhub_live_relay_streamed_total')}, skipped ${await hub.counter('gridhub_live_relay_skipped_total')}, waiting ${await hub.counter('gridhub_live_relay_waiting')}; ${said.join(' | ') || 'no log line on the stream or the feed'}; ${missing.length} missing (${seenOtherwise} with other changes streamed), their first alarms ${alarmAfterKill.length ? `${alarmAfterKill[0]}…${alarmAfterKill.at(-1)} ms` : 'none'} after the kill, the stream's last event ${lastEvent === undefined ? 'none' : `${lastEvent - killAt} ms`} after it; ${stream.events.length} events; e.g. ${described.join(' | ')}`,
        );
      }
      const openedAt = new Map<string, number>();
      for (const e of stream.events)
        if (e.type === 'opened' && !openedAt.has(e.alertId)) openedAt.set(e.alertId, e.at);
      const listed = await listAlerts(hub, tokens[i] as string, CATEGORY);
      const listedIds = new Set(listed.items.map((x) => x.id));
      const lags: number[] = [];
      for (const r of rows) {
        const alarm = firstAlarm.get(r.device_id);
        const at = openedAt.get(r.id);
        if (alarm && at !== undefined) lags.push(at - alarm.at);
      }
      boards.push({
        instance: hub.name,
        listed: listed.items.filter((x) => cluster.pressDevices.includes(x.deviceId)).length,
        missingFromList: alertIds.filter((id) => !listedIds.has(id)).length,
        missingFromStream: alertIds.filter((id) => !openedAt.has(id)).length,
        streamLagP99Ms: pct(lags, 99),
        raiseDelayMs: histogramBounds(
          await (await fetch(`${hub.httpUrl}/metrics`)).text(),
          'gridhub_alerts_raise_delay_seconds',
          options.clockSpeed,
        ),
      });
    }

    const loadSeconds = (pressesEnd - loadStart) / 1000;
    const telemetrySeconds = (telemetryEnd - loadStart) / 1000;
    return {
      routing: options.routing ?? 'owner',
      instances: hubs.map((h) => h.name),
      killed: victim.name,
      clockSpeed: options.clockSpeed,
      presses: {
        offeredPerSec: options.pressesPerSec,
        sent: presses.length,
        acked: acked.length,
        ackedPerSec: Math.round(acked.length / loadSeconds),
      },
      alerts: rows.length,
      lost,
      doubled,
      escalation,
      failover,
      alarmLatencyBeforeKill: { p50: pct(latencyBefore, 50), p99: pct(latencyBefore, 99) },
      repeatedAlarmMessages,
      repeatedUnderAnotherId,
      alarmPath,
      boards,
      telemetry: {
        offeredPerSec: options.telemetryPerSec,
        sentPerSec: Math.round(sentTelemetry / telemetrySeconds),
        acceptedPerSec: Math.round(acceptedTotal / telemetrySeconds),
      },
      allAlertsStoredAfterKillSec:
        allStoredAt === null ? null : Math.round((allStoredAt - killAt) / 100) / 10,
      ...(statements ? { statements } : {}),
      notes,
    };
  } finally {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await cluster.stop();
  }
}

function failoverFigures(
  acked: readonly Press[],
  firstAlarm: ReadonlyMap<string, AlarmSeen>,
  killAt: number,
): FailoverResult['failover'] {
  let firstAfter: number | null = null;
  let maxStall: number | null = null;
  let inFlight = 0;
  let inFlightRecovered: number | null = null;
  let never = 0;
  for (const p of acked) {
    const a = firstAlarm.get(p.deviceId);
    if (!a) {
      never++;
      continue;
    }
    if (p.sentAt >= killAt) firstAfter = Math.min(firstAfter ?? Number.POSITIVE_INFINITY, a.at - killAt);
    if (a.at > killAt) {
      const stall = a.at - Math.max(p.sentAt, killAt);
      maxStall = Math.max(maxStall ?? 0, stall);
      if (p.sentAt < killAt && p.sentAt >= killAt - 1_000) {
        inFlight++;
        inFlightRecovered = Math.max(inFlightRecovered ?? 0, a.at - killAt);
      }
    }
  }
  return {
    firstAlarmAfterKillMs: firstAfter,
    maxStallMs: maxStall,
    inFlightAtKill: inFlight,
    inFlightRecoveredMs: inFlightRecovered,
    neverAlarmed: never,
  };
}
