/**
 * `npm run bench [-- --quick]`: the hub against a bare aedes in the same run, on 127.0.0.1 only.
 *
 * Every party runs in its own process (hub, bare broker, load generator) so RSS figures are each process's
 * own. Every loop is bounded in count and time. Results: bench/results/<date>.json and .md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sampleTelemetry } from '../devices-sim/behaviours.ts';
import { type LoadResult, percentile } from '../devices-sim/load.ts';
import { createRng } from '../devices-sim/rng.ts';
import type { DemoCredentials } from '../src/domain/wire.ts';
import { BENCH_TYPE, provisionBenchDevices } from './bench-devices.ts';
import { failoverFigures } from './failover.ts';
import { adversityHubEnv, latencyAdversity, startHangingRobot } from './latency-adversity.ts';
import {
  benchHubEnv,
  type Child,
  freePort,
  ROOT,
  rssKb,
  runLoadChild,
  scrapeMetrics,
  sleep,
  spawnNode,
  spawnTs,
  storedCount,
  waitReady,
} from './lib.ts';
import { provisionOnPostgres, startBenchPostgres } from './postgres-hub.ts';
import { type ProfileSummary, renderProfile, summariseProfile } from './profile.ts';
import { type BenchReport, renderMarkdown, TARGETS } from './report.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    keep: { type: 'boolean', default: false },
    /** Start a local influxd (Debian's 1.x) for the run and point the hub at it. */
    influx: { type: 'boolean', default: false },
    /**
     * Run only the measurements whose section name contains one of these (comma-separated), e.g.
     * `--only "storm,idle memory"`: the hub is still built, seeded and started; nothing else is measured.
     */
    only: { type: 'string' },
    /** Override the idle-memory and reconnect-storm connection count (e.g. 10000 with --quick). */
    idle: { type: 'string' },
    /** Override the longest wait for the idle-memory RSS to settle, in seconds (see idleSettleSeconds). */
    'idle-settle': { type: 'string' },
    /** Extra node flags for the hub child (diagnosis: `--cpu-prof`, `--import <hook>`); comma-separated. */
    'hub-flags': { type: 'string' },
  },
});
const only = args.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const hubFlags = args['hub-flags']?.split(',').filter(Boolean) ?? [];
/** The three outer sections always run (with --only, they just set up what the chosen ones need). */
const OUTER = new Set(['bare aedes baseline', 'hub', 'other helpers']);
const quick = args.quick ?? false;

/** Sizes: --quick runs every case at small sizes (five to seven minutes on 2 cores, most of it the fixed cases). */
const P = quick
  ? { seconds: 3, gateways: 2, perDevice: 500, idle: 2_000, latencySeconds: 5, probes: 20 }
  : { seconds: 15, gateways: 2, perDevice: 20_000, idle: 10_000, latencySeconds: 20, probes: 20 };

if (args.idle) P.idle = Number(args.idle);
/**
 * The longest the idle-memory case gives each set of idle connections to settle after its last CONNACK
 * (settledRss): the RSS settled up to 36 s after it at 2 000 connections, up to 73 s at 10 000 on a loaded machine,
 * and a quick run's hub once had not within 60 s, so 90 s at every size. The measured set may also use what the
 * warm-up left of its wait, so each server waits at most twice this beyond the two 3 s samples: 2 × 2 × (90 − 3) =
 * 348 s a run.
 */
const idleSettleSeconds = args['idle-settle'] ? Number(args['idle-settle']) : 90;

/**
 * Each connection is a file descriptor in the hub and in the generator: stay under the open-files limit the
 * children inherit (20 000 on the reference machine, so "20 000 devices" becomes 19 000 there).
 */
const fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
if (Number.isFinite(fdLimit) && P.perDevice > fdLimit - 1_000) P.perDevice = Math.max(100, fdLimit - 1_000);
// the idle-memory figure holds half as many more as a warm-up (idleMemory)
if (Number.isFinite(fdLimit) && P.idle * 1.5 > fdLimit - 1_000)
  P.idle = Math.max(100, Math.floor((fdLimit - 1_000) / 1.5));

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const started = Date.now();
const errors: string[] = [];
const report: BenchReport = {
  date: new Date().toISOString(),
  quick,
  machine: {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  },
  versions: {
    node: process.version,
    aedes: pkgVersion('aedes'),
    mqtt: pkgVersion('mqtt'),
    gridhub: pkgVersion('.'),
  },
  commands: [`npm run bench${quick ? ' -- --quick' : ''}`],
  parameters: { ...P, idleSettleSeconds, openFilesLimit: fdLimit },
  store: process.env.GRIDHUB_INFLUX_URL ? `InfluxDB (${process.env.GRIDHUB_INFLUX_URL})` : 'embedded',
  baseline: {},
  hub: {},
  figures: {},
  extra: {},
  errors,
  durationSeconds: 0,
};

function pkgVersion(name: string): string {
  try {
    const file = name === '.' ? join(ROOT, 'package.json') : join(ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function section(name: string, fn: () => Promise<void>): Promise<void> {
  if (only && !OUTER.has(name) && !only.some((o) => name.includes(o))) return;
  const t = Date.now();
  try {
    await fn();
    log(`${name}: done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } catch (err) {
    const msg = `${name}: ${(err as Error).message}`;
    errors.push(msg);
    log(`FAILED ${msg}`);
  }
}

const loadTimeout = (seconds: number, connections: number) => (seconds + 30 + connections / 200) * 1000;

// ---------------------------------------------------------------------------------------------------------
// Bare aedes, the same generator as for the hub. Headline: it consumes every message in authorizePublish and
// forwards nothing (the hub's own pattern without the pipeline). Information: it forwards to one subscriber.
interface BareBroker {
  broker: Child;
  url: string;
  metrics: string;
}

async function withBroker(mode: 'consume' | 'forward', fn: (b: BareBroker) => Promise<void>): Promise<void> {
  // A fresh broker per measurement: a run that drove aedes into its queue cliff must not tax the next one.
  const broker = spawnTs('bench/aedes-baseline.ts', ['0', mode]);
  try {
    const metricsPort = Number((await broker.waitFor(/^METRICS (\d+)/, 15_000))[1]);
    const port = Number((await broker.waitFor(/^PORT (\d+)/, 15_000))[1]);
    await fn({ broker, url: `mqtt://127.0.0.1:${port}`, metrics: `http://127.0.0.1:${metricsPort}` });
  } finally {
    await broker.stop();
  }
}

async function baseline(): Promise<void> {
  report.commands.push(
    `node --import tsx bench/aedes-baseline.ts 0 consume  (bare aedes ${pkgVersion('aedes')}, noDelay, consuming in authorizePublish)`,
    `node --import tsx bench/aedes-baseline.ts 0 forward  (bare aedes ${pkgVersion('aedes')}, noDelay, no hooks)`,
  );
  report.commands.push(
    'npm run sim -- --synthetic --mqtt-url URL --devices N --rate R --qos Q --duration S  (consuming broker)',
    'npm run sim -- --synthetic --subscribe-all --mqtt-url URL --devices N --rate 0 --qos Q --duration S  (forwarding broker)',
  );
  const consumed = (key: string, devices: number, qos: 0 | 1, gateways?: number, rate = 0) =>
    withBroker('consume', async (b) => {
      const a = ['--synthetic', '--mqtt-url', b.url, '--devices', String(devices)];
      a.push('--rate', String(rate), '--qos', String(qos), '--duration', String(P.seconds));
      if (gateways) a.push('--gateways', String(gateways));
      else a.push('--window', '20');
      const sample = async () => {
        const v = (await scrapeMetrics(b.metrics, 5_000)).get('bare_aedes_consumed_total');
        return v === undefined
          ? undefined
          : { at: performance.now(), value: v, name: 'bare_aedes_consumed_total' };
      };
      const r = await measureConfirmed(sample, a, devices, qos);
      report.baseline[key] = { ...r, rssKb: rssKb(b.broker.proc.pid as number) ?? null };
      log(
        `baseline ${key} (consuming): ${r.confirmedPerSec ?? '?'} msg/s (offered ${r.load.sentPerSec}; generator ${r.load.cpuPercentOfCore} % of a core)`,
      );
    });
  const forwarded = (key: string, devices: number, qos: 0 | 1) =>
    withBroker('forward', async (b) => {
      const a = ['--synthetic', '--subscribe-all', '--mqtt-url', b.url, '--devices', String(devices)];
      a.push('--rate', '0', '--qos', String(qos), '--duration', String(P.seconds));
      const r = await runLoadChild(a, loadTimeout(P.seconds, devices));
      report.baseline[`forward_${key}`] = r;
      log(`baseline ${key} (forwarding): ${r.receivedPerSec} msg/s (sent ${r.sentPerSec})`);
    });
  await section('baseline gateway qos0', () => consumed('gatewayQos0', P.gateways, 0, P.gateways));
  await section('baseline gateway qos1', () => consumed('gatewayQos1', P.gateways, 1, P.gateways));
  // Per-device QoS 0 is offered at 1.5 × what two connections took, as for the hub (see hubBench).
  const gw = (report.baseline.gatewayQos0 as { confirmedPerSec?: number | null } | undefined)
    ?.confirmedPerSec;
  await section('baseline per-device qos0', () =>
    consumed('perDeviceQos0', P.perDevice, 0, undefined, gw ? Math.round(gw * 1.5) : 0),
  );
  await section('baseline per-device qos1', () => consumed('perDeviceQos1', P.perDevice, 1));
  await section('baseline forwarding gateway qos0', () => forwarded('gatewayQos0', P.gateways, 0));
  await section('baseline forwarding gateway qos1', () => forwarded('gatewayQos1', P.gateways, 1));
  await section('baseline forwarding per-device qos0', () => forwarded('perDeviceQos0', P.perDevice, 0));
  await section('baseline forwarding per-device qos1', () => forwarded('perDeviceQos1', P.perDevice, 1));
  await section('baseline idle memory', () =>
    withBroker('consume', async (b) => {
      report.baseline.idle = await idleMemory('bare aedes', b.broker, ['--synthetic', '--mqtt-url', b.url]);
    }),
  );
  await section('baseline reconnect storm', () =>
    withBroker('consume', async (b) => {
      report.baseline.storm = await storm(['--synthetic', '--mqtt-url', b.url]);
    }),
  );
}

/**
 * The floor under publish → worker alarm: the same generator, probe rate and duration as the hub's latency cases,
 * against a bare aedes (consuming telemetry, as for the ratios) whose one subscriber, subscribed QoS 1 to the
 * call buttons' event topics, stands for the worker: each QoS 1 press is timed until aedes delivers it there. No
 * pipeline, the same two MQTT hops and the same processes sleeping between presses: on a VM whose wake-ups are
 * slow this is most of the no-traffic figure. Runs right after the hub's probes (the hub idle) so that both see
 * the machine in the same state, at the rate the hub's half-load case used.
 */
async function bareLatency(halfLoadRate: number): Promise<void> {
  report.commands.push(
    'npm run sim -- --synthetic --mqtt-url URL --devices 1 --rate 1 --qos 0 --probes P --duration S  (consuming broker; each press timed until a subscriber on gh/+/event has it)',
    "npm run sim -- --synthetic --mqtt-url URL --devices G --gateways G --rate R --qos 0 --probes P --duration S  (the same at the hub's half-load rate)",
  );
  const probe = (key: 'latencyIdle' | 'latency', devices: number, rate: number, gateways: boolean) =>
    withBroker('consume', async (b) => {
      const a = ['--synthetic', '--mqtt-url', b.url, '--devices', String(devices)];
      if (gateways) a.push('--gateways', String(devices));
      a.push('--rate', String(rate), '--qos', '0', '--duration', String(P.latencySeconds));
      a.push('--probes', String(P.probes));
      const r = await runLoadChild(a, loadTimeout(P.latencySeconds, devices));
      if (r.latencyMs.count === 0)
        throw new Error(`no press reached the subscriber (lost ${r.latencyMs.lost})`);
      report.baseline[key] = { rate, load: r };
      log(`baseline publish → delivery at ${rate} msg/s: ${JSON.stringify(r.latencyMs)}`);
    });
  await section('baseline publish-to-alarm floor, no load', () => probe('latencyIdle', 1, 1, false));
  await section('baseline publish-to-alarm floor, half load', () =>
    probe('latency', P.gateways, halfLoadRate, true),
  );
}

/** Connections held before the idle-memory figure's first sample (see idleMemory). */
const idleWarmup = () => Math.ceil(P.idle / 2);

/** Settled means the RSS held within this much per measured connection for IDLE_STABLE_MS (0.25 KB: 2.5 MB at 10 000). */
const IDLE_STABLE_KB_PER_CONNECTION = 0.25;
const IDLE_STABLE_MS = 5_000;

interface SettledRss {
  /** RSS 3 s after the last CONNACK (what the bench measured before 2026-12-03). */
  at3sKb: number;
  /** The settled RSS, or the last one read at `maxMs` when it did not settle. */
  kb: number;
  /** Seconds from the last CONNACK to the settled sample. */
  seconds: number;
  /** False when the RSS had not settled by `maxMs`: `kb` is then the sample at that age. */
  settled: boolean;
  /** [seconds after the last CONNACK, RSS KB], every 5th sample and the settled one. */
  series: [number, number][];
}

/**
 * The RSS of a server whose connections have all been idle since `readyAt` (the last CONNACK), once V8 has
 * collected what their CONNECTs left behind. A CONNECT leaves some 20 KB in the old generation that outlive two
 * scavenges (the hub and the bare aedes alike: aedes' stream pipeline, the socket's set-up); a mark-compact frees
 * it and V8's memory reducer hands the pages back. The reducer looks every 8 s and starts only once it judges the
 * allocation rate low, which it did 2 to 9 looks after the last CONNACK (`--trace-gc-verbose`: "high alloc" for
 * 16–32 s with the process idle, longer on a loaded machine), so the RSS settled 16–36 s after the last CONNACK
 * at 2 000 connections, 18–73 s at 10 000 (bench/README.md, idle-probe). Until then the RSS is a flat plateau (the
 * bare aedes' held to the KB for 60 s at 10 000 connections), so "stable" alone would stop on the garbage:
 * settled is the RSS having fallen by at least half of
 * what the phase added (its peak since the 3 s sample over `baselineKb`, the RSS before the phase's connections)
 * and then held within `toleranceKb` for IDLE_STABLE_MS, read every second. If it has not by `maxMs`, the
 * sample at that age is returned, marked unsettled. No GC is forced: the server runs as in production.
 */
async function settledRss(
  pid: number,
  readyAt: number,
  baselineKb: number,
  toleranceKb: number,
  maxMs: number,
): Promise<SettledRss> {
  const read = () => {
    const kb = rssKb(pid);
    if (kb === undefined) throw new Error('RSS not readable (/proc)');
    return kb;
  };
  const age = () => (Date.now() - readyAt) / 1000;
  await sleep(Math.max(0, readyAt + 3_000 - Date.now()));
  const at3sKb = read();
  const series: [number, number][] = [[Math.round(age() * 10) / 10, at3sKb]];
  let peak = at3sKb;
  let fell = false;
  const recent: { at: number; kb: number }[] = [];
  let n = 0;
  for (;;) {
    await sleep(1_000);
    const kb = read();
    const at = Date.now();
    const seconds = Math.round(((at - readyAt) / 1000) * 10) / 10;
    if (!fell) peak = Math.max(peak, kb);
    if (!fell && peak - kb >= (peak - baselineKb) / 2) {
      fell = true;
      recent.length = 0;
    }
    recent.push({ at, kb });
    // keep the newest sample at least IDLE_STABLE_MS old and every one after it
    while (recent.length > 1 && (recent[1] as { at: number }).at <= at - IDLE_STABLE_MS) recent.shift();
    const kbs = recent.map((r) => r.kb);
    const stable =
      fell &&
      at - (recent[0] as { at: number }).at >= IDLE_STABLE_MS &&
      Math.max(...kbs) - Math.min(...kbs) <= toleranceKb;
    const timedOut = at - readyAt >= maxMs;
    if (stable || timedOut || ++n % 5 === 0) series.push([seconds, kb]);
    if (stable || timedOut) return { at3sKb, kb, seconds, settled: stable, series };
  }
}

/**
 * Memory per idle connection: the server's RSS with a warm-up set of P.idle / 2 idle connections held, and again
 * once P.idle more (a second holder, other devices) are connected, ÷ P.idle, each sample settled (settledRss).
 * The first connections a process takes grow its V8 heap by a fixed amount (the young generation and the old
 * space's headroom): the bare aedes, sampled from a cold start, showed 35 KB a connection with 2 000 connections
 * and 14 KB with 10 000 — the same ~9 KB a connection plus ~50 MB once (2026-12-02). From the warm-up on, it is
 * what each further connection costs. Both samples settle by the same rule, the warm-up's before the second
 * holder connects: a before-sample 3 s after the warm-up would hold the warm-up's own CONNECT garbage (some 100 MB
 * at 5 000 connections, collected later while the measured set connects) and flatter the figure.
 *
 * The figure (`kbPerConnection`) is settled − settled. For information: the RSS 3 s after the last CONNACK over the
 * same settled before (`kbPerConnectionAt3s`, the CONNECTs' garbage included; until 2026-12-03 the figure was
 * 3 s − 3 s, the warm-up's garbage in the before-sample), and the cold figure (from before the warm-up, 1 s after
 * the server started, to 3 s after the last CONNACK, over all connections: both samples hold garbage).
 */
async function idleMemory(
  who: 'hub' | 'bare aedes',
  server: Child,
  loadArgs: string[],
): Promise<{
  connections: number;
  warmupConnections: number;
  kbPerConnection: number;
  kbPerConnectionAt3s: number;
  settled: boolean;
  settledAfterSeconds: number;
  warmupSettledAfterSeconds: number;
  rssColdKb: number;
  rssBeforeAt3sKb: number;
  rssBeforeKb: number;
  rssAfterAt3sKb: number;
  rssAfterKb: number;
  coldKbPerConnection: number;
  seriesBefore: [number, number][];
  seriesAfter: [number, number][];
}> {
  const pid = server.proc.pid as number;
  const warm = idleWarmup();
  await sleep(1_000);
  const cold = rssKb(pid);
  if (cold === undefined) throw new Error('RSS not readable (/proc)');
  const tolerance = IDLE_STABLE_KB_PER_CONNECTION * P.idle;
  const hold = (devices: number, skip: number) =>
    spawnTs('devices-sim/cli.ts', [
      ...loadArgs,
      '--devices',
      String(devices),
      '--skip',
      String(skip),
      '--idle',
      '--duration',
      '600',
      '--json',
    ]);
  const warmup = hold(warm, 0);
  let holder: Child | undefined;
  try {
    const w = Number((await warmup.waitFor(/^READY connections=(\d+)/, 60_000 + warm * 20))[1]);
    if (w < warm) throw new Error(`warm-up: ${w} of ${warm} idle connections accepted`);
    const maxMs = idleSettleSeconds * 1_000;
    const before = await settledRss(pid, Date.now(), cold, tolerance, maxMs);
    log(
      `${who} idle memory: warm-up of ${w}: ${before.at3sKb} KB at 3 s, ${before.kb} KB ${before.settled ? 'settled' : 'NOT settled'} after ${before.seconds} s`,
    );
    holder = hold(P.idle, warm);
    const m = await holder.waitFor(/^READY connections=(\d+)/, 60_000 + P.idle * 20);
    const n = Number(m[1]);
    if (n === 0) throw new Error(`no idle connection was accepted: ${holder.stderr.slice(-3).join(' | ')}`);
    // the measured set may use what the warm-up left of its wait as well
    const left = before.settled ? Math.max(0, maxMs - before.seconds * 1_000) : 0;
    const after = await settledRss(pid, Date.now(), before.kb, tolerance, maxMs + left);
    const perConnection = (kb: number) => Math.round(((kb - before.kb) / n) * 100) / 100;
    log(
      `${who} idle memory: +${n}: ${after.at3sKb} KB at 3 s (${perConnection(after.at3sKb)} KB each), ${after.kb} KB ${after.settled ? 'settled' : 'NOT settled'} after ${after.seconds} s (${perConnection(after.kb)} KB each)`,
    );
    const settled = before.settled && after.settled;
    // An unsettled before-sample flatters the figure (garbage subtracted), an unsettled after-sample inflates it.
    if (!settled)
      errors.push(
        `${who} idle memory: the RSS had not settled (${before.settled ? `measured set, within ${Math.round((maxMs + left) / 1000)} s` : `warm-up, within ${idleSettleSeconds} s`}): the figure is the sample at that age`,
      );
    return {
      connections: n,
      warmupConnections: w,
      kbPerConnection: perConnection(after.kb),
      kbPerConnectionAt3s: perConnection(after.at3sKb),
      settled,
      settledAfterSeconds: after.seconds,
      warmupSettledAfterSeconds: before.seconds,
      rssColdKb: cold,
      rssBeforeAt3sKb: before.at3sKb,
      rssBeforeKb: before.kb,
      rssAfterAt3sKb: after.at3sKb,
      rssAfterKb: after.kb,
      // 3 s after, as before: the cold sample holds the start-up's own garbage (the hub's went below it settled)
      coldKbPerConnection: Math.round(((after.at3sKb - cold) / (n + w)) * 100) / 100,
      seriesBefore: before.series,
      seriesAfter: after.series,
    };
  } finally {
    await holder?.stop('SIGKILL');
    await warmup.stop('SIGKILL');
  }
}

/**
 * The reconnect storm: P.idle devices connecting all at once (as after a restart), timed until the last is
 * connected. With `probeArgs` (the hub), a device that is already connected presses its call button every
 * 100 ms from just before the storm until after it: the worst press-to-alarm time is the figure.
 */
async function storm(
  loadArgs: string[],
  probeArgs?: string[],
): Promise<{
  connections: number;
  failures: number;
  allConnectedSeconds: number;
  probe?: LoadResult['latencyMs'];
  /** Presses whose wait overlapped the storm (first CONNECT to last CONNACK): the figure. */
  duringStorm?: { count: number; p50: number | null; max: number | null };
  /** The worst press before the storm (the first press after start-up pays one-off costs: code loading). */
  beforeStormMaxMs?: number | null;
}> {
  const probeSeconds = Math.ceil(12 + P.idle / 1_000);
  const probe = probeArgs
    ? spawnTs('devices-sim/cli.ts', [
        ...probeArgs,
        '--devices',
        '1',
        '--rate',
        '1',
        '--qos',
        '0',
        '--probes',
        '10',
        '--duration',
        String(probeSeconds),
        '--json',
      ])
    : undefined;
  try {
    if (probe) {
      await probe.waitFor(/^LOAD START/, 60_000);
      // The first press goes out 500 ms after the start: let a few land before the storm.
      await sleep(1_000);
    }
    const holder = spawnTs('devices-sim/cli.ts', [
      ...loadArgs,
      '--devices',
      String(P.idle),
      '--connect-concurrency',
      String(P.idle),
      '--idle',
      '--duration',
      '600',
      '--json',
    ]);
    try {
      const m = await holder.waitFor(/^READY connections=(\d+) seconds=([\d.]+)/, 120_000 + P.idle * 20);
      const stormEnd = Date.now();
      const stormStart = stormEnd - Number(m[2]) * 1000;
      const connections = Number(m[1]);
      const failed = holder.stderr.find((l) => /^connected \d+\/\d+/.test(l));
      const [, got, of] = /^connected (\d+)\/(\d+)/.exec(failed ?? '') ?? [];
      let latency: LoadResult['latencyMs'] | undefined;
      let during: { count: number; p50: number | null; max: number | null } | undefined;
      let beforeMax: number | null = null;
      if (probe) {
        // the probe may have ended already (a storm longer than its run): its exit code, not a new 'exit' event
        const code = await probe.exited;
        const last = probe.stdout.filter((l) => l.startsWith('{')).pop();
        if (code !== 0 || !last) throw new Error(`storm probe failed: ${probe.stderr.slice(-3).join(' | ')}`);
        const result = JSON.parse(last) as LoadResult;
        latency = result.latencyMs;
        // A press counts for the storm when its wait overlaps it; the lost ones are in `latency.lost`.
        const overlapping = result.probes.filter((p) => p.at <= stormEnd && p.at + p.ms >= stormStart);
        const ms = overlapping.map((p) => p.ms).sort((a, b) => a - b);
        during = { count: ms.length, p50: percentile(ms, 50), max: ms.at(-1) ?? null };
        const before = result.probes.filter((p) => p.at + p.ms < stormStart).map((p) => p.ms);
        beforeMax = before.length ? Math.max(...before) : null;
      }
      const out = {
        connections,
        failures: got && of ? Number(of) - Number(got) : 0,
        allConnectedSeconds: Number(m[2]),
        ...(latency ? { probe: latency } : {}),
        ...(during ? { duringStorm: during, beforeStormMaxMs: beforeMax } : {}),
      };
      if (out.failures > 0) log(`storm: ${failed}`);
      log(
        `storm: ${connections} connected in ${out.allConnectedSeconds} s${latency ? `; all presses: p50 ${latency.p50} ms, max ${latency.max} ms, lost ${latency.lost}; during the storm: ${during?.count} presses, p50 ${during?.p50} ms, max ${during?.max} ms; worst before it ${beforeMax} ms` : ''}`,
      );
      return out;
    } finally {
      await holder.stop('SIGKILL');
    }
  } finally {
    await probe?.stop('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------------------
// The hub: `npm start` as a child with a temp data dir and free ports.
interface HubProc {
  child: Child;
  http: string;
  mqtt: string;
  readyMs: number;
}

/** The CPU profile summary of the profiled hub run, written beside the results. */
let profile: ProfileSummary | undefined;

/** Extra environment of the hub (InfluxDB settings when --influx started one). */
const hubEnv: Record<string, string> = {};

const HUB_ENTRY = join(ROOT, 'dist/src/main.js');
const STARTUP_RUNS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : Math.round(((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2);
}

/** `npm run build`, so the hub measured is the compiled production build. */
function buildHub(): void {
  log('building the hub (npm run build)');
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/build.ts')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (res.status !== 0) throw new Error(`npm run build failed: ${res.stderr || res.stdout}`);
}

async function startHub(
  dataDir: string,
  ports: { http: number; mqtt: number },
  nodeFlags: string[] = [],
  env: Record<string, string> = {},
): Promise<HubProc> {
  const t0 = performance.now();
  // The production build (`npm run build`, done once by the bench): what `npm run start:prod` and the image run.
  const child = spawnNode([...hubFlags, ...nodeFlags, HUB_ENTRY], {
    ...benchHubEnv(dataDir, ports),
    ...hubEnv,
    ...env,
  });
  const http = `http://127.0.0.1:${ports.http}`;
  await waitReady(child, http, 60_000);
  return { child, http, mqtt: `mqtt://127.0.0.1:${ports.mqtt}`, readyMs: Math.round(performance.now() - t0) };
}

/** Bench devices are bins: their telemetry has 4 fields (fill, temperature, tilt, battery). */
const BENCH_FIELDS = Object.keys(sampleTelemetry(BENCH_TYPE, createRng(1))).length;

type Sample = { at: number; value: number; name: string } | undefined;

/**
 * Run the generator with `args` and follow a counter through `sample`: sampled when the load starts and stops
 * offering, then until it stops growing (bounded). The same for the hub (its /metrics) and the bare broker.
 */
async function measureConfirmed(sample: () => Promise<Sample>, args: string[], devices: number, qos: 0 | 1) {
  const samples: Record<string, Sample> = {};
  let counter = 'none found in /metrics';
  // Nothing is published before the load starts, so the count before spawning stands in for a start sample
  // the server is too busy to answer (its timestamp is taken when the generator says it starts).
  const before = await sample().catch(() => undefined);
  const load = await runLoadChild(args, loadTimeout(P.seconds, devices), async (phase) => {
    const at = performance.now();
    const s = await sample().catch(() => undefined);
    samples[phase] = s ?? (phase === 'start' && before ? { ...before, at } : undefined);
    if (s) counter = s.name;
  });
  // Then wait (bounded) until it stops growing: what was taken in and confirmed after the load stopped.
  let last = await sample().catch(() => undefined);
  let lastGrowth = performance.now();
  /** The sample at which the count last grew: everything was confirmed by then. */
  let grown = last;
  const until = Date.now() + (quick ? 6_000 : 20_000);
  while (Date.now() < until) {
    // Fine-grained, so that our sampling does not blur when the last reading was confirmed.
    await sleep(100);
    const now = await sample().catch(() => undefined);
    if ((now?.value ?? 0) > (last?.value ?? 0)) {
      lastGrowth = performance.now();
      grown = now;
    } else if (performance.now() - lastGrowth > 1_500) break;
    last = now;
  }
  const s0 = samples.start;
  // A server too busy to answer at the end of the load: the first later sample bounds the rate from below.
  const s1 = samples.end ?? last;
  const inWindow =
    s0 && s1 && s1.at > s0.at ? Math.round(((s1.value - s0.value) * 1000) / (s1.at - s0.at)) : null;
  // Counted from before the generator started: the start sample may already include its first batch.
  const base = before ?? s0;
  const total = base && last ? last.value - base.value : null;
  // The headline: everything confirmed, over the time from the load's start until the last of it was
  // confirmed. A batching store (InfluxDB) makes the while-loaded window lumpy; this is not.
  const sustained =
    s0 && grown && total !== null && grown.at > s0.at
      ? Math.round((total * 1000) / (grown.at - s0.at))
      : null;
  return {
    load,
    counter,
    confirmedDuringLoad: s0 && s1 ? s1.value - s0.value : null,
    confirmedPerSec: sustained,
    confirmedPerSecWhileLoaded: inWindow,
    confirmedTotal: total,
    drainSeconds: s1 ? Math.round((lastGrowth - s1.at) / 100) / 10 : null,
    lostOrShed: total === null ? null : load.sent - total,
    // The guarantee that matters: a QoS 1 message the server acknowledged must have been taken.
    acknowledgedNotStored: qos === 1 && total !== null ? Math.max(0, load.completed - total) : null,
  };
}

async function measureIngest(
  hub: HubProc,
  credsFile: string,
  key: string,
  devices: number,
  qos: 0 | 1,
  gateways?: number,
  rate = 0,
): Promise<void> {
  const a = [
    '--credentials',
    credsFile,
    '--devices',
    String(devices),
    '--rate',
    String(rate),
    '--qos',
    String(qos),
  ];
  a.push('--duration', String(P.seconds), '--probes', '0');
  if (gateways) a.push('--gateways', String(gateways));
  // A device has a few messages in flight, not hundreds: a gateway gets a deep window, a device a short one.
  else a.push('--window', '20');
  const sample = async (): Promise<Sample> => {
    const c = storedCount(await scrapeMetrics(hub.http, quick ? 10_000 : 20_000), BENCH_FIELDS);
    return c ? { at: performance.now(), value: c.value, name: `${c.name} (${c.meaning})` } : undefined;
  };
  const r = await measureConfirmed(sample, a, devices, qos);
  report.hub[key] = {
    ...r,
    hubRssKb: rssKb(hub.child.proc.pid as number) ?? null,
    // Where the rest went, by the hub's own counters (cumulative since the hub started).
    shedCounters: await scrapeMetrics(hub.http)
      .then((m) =>
        Object.fromEntries([...m].filter(([n]) => /dropped|shed|rejected|sink_errors|overload/.test(n))),
      )
      .catch(() => ({})),
  };
  log(
    `hub ${key}: offered ${r.load.sentPerSec} msg/s, completed ${r.load.completedPerSec}, confirmed ${r.confirmedPerSec ?? '?'} msg/s (${r.confirmedPerSecWhileLoaded ?? '?'} while loaded; ${r.confirmedTotal ?? '?'} of ${r.load.sent} in all), rejected ${r.load.rejected}, generator ${r.load.cpuPercentOfCore} % of a core`,
  );
}

/** With --influx: our own influxd 1.x on a free port (test/telemetry/influxd.ts), database `gridhub`. */
async function startInflux(
  dataDir: string,
): Promise<{ stop(): Promise<void>; count(): Promise<number> } | undefined> {
  if (!args.influx) return undefined;
  const { findInfluxd, startInfluxd } = await import('../test/telemetry/influxd.ts');
  const binary = findInfluxd();
  if (!binary) throw new Error('--influx: no influxd (apt-get install -y influxdb, or GRIDHUB_TEST_INFLUXD)');
  const influxd = await startInfluxd(binary, join(dataDir, 'influxd'));
  await influxd.start();
  await influxd.query('CREATE DATABASE gridhub');
  Object.assign(hubEnv, {
    GRIDHUB_INFLUX_URL: influxd.url,
    GRIDHUB_INFLUX_API: 'v1',
    GRIDHUB_INFLUX_DATABASE: 'gridhub',
  });
  report.store = `InfluxDB 1.x (${binary}, started by the bench, v1 /write)`;
  report.commands.push(`influxd -config <tmp>/influxdb.conf  (${influxd.url}, database gridhub)`);
  return {
    stop: () => influxd.stop(),
    async count() {
      // What arrived, counted by the database itself: bench bins' points in measurement `bin`.
      const r = await influxd.query('SELECT count(fill) FROM bin', 'gridhub');
      return Number(r[0]?.values[0]?.[1] ?? 0);
    },
  };
}

async function hubBench(): Promise<void> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'gridhub-bench-'));
  const influx = await startInflux(dataDir);
  const ports = { http: await freePort(), mqtt: await freePort() };
  report.commands.push(
    'npm run build',
    `GRIDHUB_DATA_DIR=<tmp> GRIDHUB_HTTP_PORT=${ports.http} GRIDHUB_MQTT_PORT=${ports.mqtt} node dist/src/main.js`,
  );
  buildHub();
  // A group robot that accepts connections and never answers, named as a webhook endpoint from the first start
  // (nothing is sent to it until the adversity case points grid G1's robot at it).
  const robot = await startHangingRobot();
  Object.assign(hubEnv, adversityHubEnv(robot.url));
  let hub: HubProc | undefined;
  try {
    hub = await startHub(dataDir, ports);
    report.figures.firstStartReadyMs = hub.readyMs;
    log(`hub ready (first start, seeding the demo) in ${hub.readyMs} ms`);
    await hub.child.stop();
    hub = undefined;

    const demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
    const t = Date.now();
    const bench = await provisionBenchDevices(dataDir, Math.max(P.perDevice, P.idle + idleWarmup()));
    log(`provisioned ${bench.length} bench devices in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const credsFile = join(dataDir, 'bench-credentials.json');
    // Bench devices first (load uses the first N); the demo's call buttons stay available for probes.
    writeFileSync(credsFile, JSON.stringify({ ...demo, devices: [...bench, ...demo.devices] }));

    // Start-up to ready on the existing data dir: the median of 5 restarts (the last one stays up for the rest).
    const starts: number[] = [];
    for (let i = 0; i < STARTUP_RUNS; i++) {
      if (hub) await hub.child.stop();
      hub = await startHub(dataDir, ports);
      starts.push(hub.readyMs);
    }
    report.figures.startupReadyMs = median(starts);
    report.extra.startupReadyRunsMs = starts;
    log(`hub ready in ${starts.join(', ')} ms (median ${report.figures.startupReadyMs} ms)`);
    if (!hub) throw new Error('hub did not start');
    const h = hub;
    await section('hub idle memory', async () => {
      report.hub.idle = await idleMemory('hub', h.child, ['--credentials', credsFile]);
    });
    // The probe of the storm is a demo device that is no part of the storm (a take-over would cut it off).
    const probeCreds = join(dataDir, 'storm-probe-credentials.json');
    writeFileSync(probeCreds, JSON.stringify(demo));
    await section('hub reconnect storm', async () => {
      report.hub.storm = await storm(['--credentials', credsFile], ['--credentials', probeCreds]);
    });
    await section('hub gateway qos0', () =>
      measureIngest(h, credsFile, 'gatewayQos0', P.gateways, 0, P.gateways),
    );
    await section('hub gateway qos1', () =>
      measureIngest(h, credsFile, 'gatewayQos1', P.gateways, 1, P.gateways),
    );
    // QoS 0 has no acknowledgement to pace a thousand publishers: offered unbounded, the kernel's socket buffers
    // take gigabytes that the hub then works through for a minute. Offer 1.5 × what two connections achieved.
    const gw = (report.hub.gatewayQos0?.confirmedPerSec as number | null | undefined) ?? 0;
    const qos0Rate = gw > 0 ? Math.round(gw * 1.5) : 0;
    await section('hub per-device qos0', () =>
      measureIngest(h, credsFile, 'perDeviceQos0', P.perDevice, 0, undefined, qos0Rate),
    );
    await section('hub per-device qos1', () => measureIngest(h, credsFile, 'perDeviceQos1', P.perDevice, 1));
    await section('hub publish-to-alarm latency', async () => {
      const max = (report.hub.gatewayQos0?.confirmedPerSec as number | null | undefined) ?? 0;
      const rate = Math.max(100, Math.round(max / 2));
      const a = [
        '--credentials',
        credsFile,
        '--devices',
        String(P.gateways),
        '--gateways',
        String(P.gateways),
      ];
      a.push(
        '--rate',
        String(rate),
        '--qos',
        '0',
        '--duration',
        String(P.latencySeconds),
        '--probes',
        String(P.probes),
      );
      const r = await runLoadChild(a, loadTimeout(P.latencySeconds, P.gateways));
      report.hub.latency = { rate, load: r };
      log(`latency at ${rate} msg/s: ${JSON.stringify(r.latencyMs)}`);
    });
    // For context: the same probes with no other traffic (what a quiet evening looks like).
    await section('hub publish-to-alarm latency, no load', async () => {
      const a = ['--credentials', credsFile, '--devices', '1', '--rate', '1', '--qos', '0'];
      a.push('--duration', String(P.latencySeconds), '--probes', String(P.probes));
      const r = await runLoadChild(a, loadTimeout(P.latencySeconds, 1));
      report.hub.latencyIdle = { rate: 1, load: r };
      log(`latency without load: ${JSON.stringify(r.latencyMs)}`);
    });
    // The same probes at half load with grid G1's robot hanging and a second phone of its worker frozen:
    // everyone else's alarms must not notice (issue #13).
    await section('hub publish-to-alarm latency, hanging robot + frozen phone', async () => {
      const rate = (report.hub.latency as { rate?: number } | undefined)?.rate ?? 100;
      const r = await latencyAdversity({
        http: h.http,
        mqtt: h.mqtt,
        demo,
        credsFile,
        rate,
        seconds: P.latencySeconds,
        probes: P.probes,
        gateways: P.gateways,
        robotRequests: robot.requests,
      });
      report.hub.latencyAdversity = r;
      log(
        `latency with a hanging robot and a frozen phone at ${rate} msg/s: ${JSON.stringify(r.load.latencyMs)}`,
      );
    });
    // The floor under the three cases above: the same probes through a bare aedes, at the same rates.
    await bareLatency((report.hub.latency as { rate?: number } | undefined)?.rate ?? 100);
    // Where the hub's CPU goes: a separate, profiled hub (profiling slows it, so no figure above comes from it)
    // under the few-connection QoS 0 and QoS 1 loads; summarised by module beside the results.
    await section('hub CPU profile', async () => {
      await h.child.stop();
      hub = undefined;
      const dir = join(dataDir, 'cpu-profile');
      const profiled = await startHub(dataDir, ports, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      hub = profiled;
      for (const [k, qos] of [
        ['profileQos0', 0],
        ['profileQos1', 1],
      ] as const) {
        await measureIngest(profiled, credsFile, k, P.gateways, qos, P.gateways);
      }
      await profiled.child.stop();
      hub = undefined;
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error('the profiled hub wrote no .cpuprofile');
      profile = summariseProfile(join(dir, file), 30);
      profile.file = `hub under ${P.gateways} connections, QoS 0 then 1, ${P.seconds} s each (node --cpu-prof)`;
      report.extra.cpuProfileByModule = profile.modules.slice(0, 15);
    });
    // The same ingest on a shared PostgreSQL (issue #18: ≥ 0.8 × the SQLite figures above, same run).
    await section('hub on PostgreSQL', async () => {
      if (hub) await (hub as HubProc).child.stop();
      hub = undefined;
      const pg = await startBenchPostgres();
      if ('skipped' in pg) {
        report.hub.postgres = { skipped: pg.skipped };
        return;
      }
      try {
        const keyFile = join(dataDir, 'hub.key');
        const env = {
          GRIDHUB_DATABASE_URL: pg.url,
          GRIDHUB_INSTANCE_ID: 'bench-pg',
          GRIDHUB_SECRET_KEY_FILE: keyFile,
        };
        const pgDir = join(dataDir, 'postgres-hub');
        mkdirSync(pgDir);
        report.commands.push(
          'postgres (PostgreSQL defaults: fsync on, synchronous_commit on) on 127.0.0.1, a fresh database',
          `GRIDHUB_DATABASE_URL=postgres://…/gridhub_bench GRIDHUB_SECRET_KEY_FILE=<the SQLite hub's hub.key> node dist/src/main.js`,
        );
        // the first start seeds the demo places on the database; then the bench devices go into its registry
        await (await startHub(pgDir, ports, [], env)).child.stop();
        await provisionOnPostgres(pg.url, keyFile, bench);
        const onPg = await startHub(pgDir, ports, [], env);
        hub = onPg;
        report.figures.postgresStartupReadyMs = onPg.readyMs;
        await measureIngest(onPg, credsFile, 'postgresGatewayQos0', P.gateways, 0, P.gateways);
        await measureIngest(onPg, credsFile, 'postgresGatewayQos1', P.gateways, 1, P.gateways);
        await measureIngest(onPg, credsFile, 'postgresPerDeviceQos1', P.perDevice, 1);
        await onPg.child.stop();
        hub = undefined;
      } finally {
        await pg.stop();
      }
    });
  } finally {
    if (hub) await (hub as HubProc).child.stop();
    await robot.close();
    if (influx) {
      // Cross-check the hub's counter with the database after the hub flushed on stop.
      // Points with the same device and millisecond overwrite each other in InfluxDB, so this counts distinct
      // (device, ms) points: a floor for what arrived, not a tally of messages.
      report.extra.influxDistinctPointsInBin = await influx.count().catch((err: Error) => err.message);
      report.extra.hubConfirmedReadingsAllRuns = [
        'gatewayQos0',
        'gatewayQos1',
        'perDeviceQos0',
        'perDeviceQos1',
      ]
        .map((k) => (report.hub[k]?.confirmedTotal as number | null | undefined) ?? 0)
        .reduce((a, b) => a + b, 0);
      await influx.stop();
    }
    if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
    else log(`kept ${dataDir}`);
  }
}

/**
 * The other helpers' figures: the rule engine's cost per reading, the InfluxDB sink's throughput and the
 * embedded store's cost per reading with 2 and 20 000 devices.
 */
async function extras(): Promise<void> {
  const call = async (file: string, fn: string) => {
    if (!existsSync(join(ROOT, 'bench', file))) {
      report.extra[fn] = { skipped: `bench/${file} not present` };
      return;
    }
    const mod = (await import(`./${file}`)) as Record<string, unknown>;
    const f = mod[fn];
    if (typeof f !== 'function') throw new Error(`bench/${file} does not export ${fn}()`);
    // --quick asks the other benches for a short run through the options they understand.
    const options = quick ? { quick, lines: 50_000, batchSizes: [1_000, 5_000], gzip: [true] } : { quick };
    report.extra[fn] = (await (f as (o: object) => Promise<unknown>)(options)) as Record<string, unknown>;
  };
  await section('rules cost', () => call('rules-cost.ts', 'runRulesCostBench'));
  await section('telemetry sink', () => call('telemetry-sink.ts', 'runTelemetrySinkBench'));
  await section('embedded telemetry store', () => call('telemetry-embedded.ts', 'runEmbeddedStoreBench'));
  await section('dispatcher raise', () => call('raise.ts', 'runRaiseBench'));
  await section('device credential check', () => call('device-auth.ts', 'runDeviceAuthBench'));
  await section('registry statement per store', () => call('store-lookup.ts', 'runStoreLookupBench'));
  await section('alerts read side, 100 000 alerts', () => call('alert-reads.ts', 'runAlertReadsBench'));
  await section('alerts read side on both stores', () =>
    call('alert-reads-stores.ts', 'runAlertReadsStoresBench'),
  );
  // Overload: 2 × the sustainable rate measured above, of each shape (the few-connection and the per-device QoS 0
  // figures), for 60 s (10 s quick).
  await section('overload, 2 × sustainable', async () => {
    const { runOverloadBench } = await import('./overload.ts');
    const confirmed = (key: string): number | undefined => {
      const v = (report.hub[key] as { confirmedPerSec?: unknown } | undefined)?.confirmedPerSec;
      return typeof v === 'number' && v > 0 ? v : undefined;
    };
    const sustainable = confirmed('gatewayQos0');
    const sustainablePerDevice = confirmed('perDeviceQos0');
    report.extra.runOverloadBench = await runOverloadBench({
      quick,
      ...(sustainable ? { sustainable } : {}),
      ...(sustainablePerDevice ? { sustainablePerDevice } : {}),
    });
  });
  // Last: three more hubs, PostgreSQL and Mosquitto; nothing else of the bench runs beside them.
  await section('failover, 3 hubs on PostgreSQL', () => call('failover.ts', 'runFailoverBench'));
  // Other cases add one line here: `call('<file>.ts', '<exported function>')` returning their figures.
}

await section('bare aedes baseline', baseline);
await section('hub', hubBench);
await section('other helpers', extras);

// ---------------------------------------------------------------------------------------------------------
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const b = report.baseline as Record<string, LoadResult | undefined>;
const hubFig = (k: string) =>
  num((report.hub[k] as { confirmedPerSec?: unknown } | undefined)?.confirmedPerSec);
const f = report.figures;
const consumedFig = (k: string) =>
  num((report.baseline[k] as { confirmedPerSec?: unknown } | undefined)?.confirmedPerSec);
for (const k of ['gatewayQos0', 'gatewayQos1', 'perDeviceQos0', 'perDeviceQos1']) {
  const h = hubFig(k);
  const a = consumedFig(k);
  const fw = num(b[`forward_${k}`]?.receivedPerSec);
  f[`hub_${k}`] = h;
  f[`aedes_${k}`] = a;
  f[`ratio_${k}`] = h !== null && a ? Math.round((h / a) * 100) / 100 : null;
  // Information: against an aedes that forwards to a subscriber (heavier work than the hub's).
  f[`aedesForward_${k}`] = fw;
  f[`ratioForward_${k}`] = h !== null && fw ? Math.round((h / fw) * 100) / 100 : null;
  const hl = (report.hub[k] as { load?: LoadResult } | undefined)?.load;
  const bl = (report.baseline[k] as { load?: LoadResult } | undefined)?.load;
  f[`generatorCpuHub_${k}`] = num(hl?.cpuPercentOfCore);
  f[`generatorCpuAedes_${k}`] = num(bl?.cpuPercentOfCore);
}
// The hub on PostgreSQL against itself on SQLite, same run (issue #18: ≥ 0.8 ×).
const onPostgres = [
  ['gatewayQos0', 'postgresGatewayQos0'],
  ['gatewayQos1', 'postgresGatewayQos1'],
  ['perDeviceQos1', 'postgresPerDeviceQos1'],
] as const;
for (const [sqliteKey, pgKey] of onPostgres) {
  const h = hubFig(sqliteKey);
  const p = hubFig(pgKey);
  f[`hub_${pgKey}`] = p;
  f[`postgresRatio_${sqliteKey}`] = p !== null && h ? Math.round((p / h) * 100) / 100 : null;
}
const pgRatios = onPostgres.map(([k]) => f[`postgresRatio_${k}`]).filter((v): v is number => v != null);
f.postgresRatioMin = pgRatios.length === onPostgres.length ? Math.min(...pgRatios) : null;
type StormFig = {
  allConnectedSeconds?: number;
  probe?: { max?: number | null; p50?: number | null; lost?: number };
  duringStorm?: { count: number; p50: number | null; max: number | null };
  beforeStormMaxMs?: number | null;
};
const hubStorm = report.hub.storm as StormFig | undefined;
f.stormAllConnectedSeconds = num(hubStorm?.allConnectedSeconds);
// The figure: presses whose wait overlapped the storm. All presses (before and after it too) for information.
f.stormPressMaxMs = num(hubStorm?.duringStorm?.max);
f.stormPressesDuring = num(hubStorm?.duringStorm?.count);
f.stormPressAllMaxMs = num(hubStorm?.probe?.max);
f.stormPressBeforeMaxMs = num(hubStorm?.beforeStormMaxMs);
f.stormPressP50Ms = num(hubStorm?.duringStorm?.p50 ?? hubStorm?.probe?.p50);
f.stormPressLost = num(hubStorm?.probe?.lost);
f.aedesStormAllConnectedSeconds = num((report.baseline.storm as StormFig | undefined)?.allConnectedSeconds);
Object.assign(f, failoverFigures(report.extra.runFailoverBench));
f.raiseP50Ms = num((report.extra.runRaiseBench as { p50Ms?: number } | undefined)?.p50Ms);
f.raiseP99Ms = num((report.extra.runRaiseBench as { p99Ms?: number } | undefined)?.p99Ms);
f.raiseHandleP50Ms = num((report.extra.runRaiseBench as { handleP50Ms?: number } | undefined)?.handleP50Ms);
const lat = (report.hub.latency as { load?: LoadResult } | undefined)?.load?.latencyMs;
f.latencyP50Ms = num(lat?.p50);
f.latencyP99Ms = num(lat?.p99);
f.latencyLost = num(lat?.lost);
const latIdle = (report.hub.latencyIdle as { load?: LoadResult } | undefined)?.load?.latencyMs;
f.latencyIdleP50Ms = num(latIdle?.p50);
f.latencyIdleP99Ms = num(latIdle?.p99);
f.latencyRate = num((report.hub.latency as { rate?: number } | undefined)?.rate);
const latAdv = (report.hub.latencyAdversity as { load?: LoadResult } | undefined)?.load?.latencyMs;
f.latencyAdversityP50Ms = num(latAdv?.p50);
f.latencyAdversityP99Ms = num(latAdv?.p99);
f.latencyAdversityLost = num(latAdv?.lost);
// The bare aedes floor (bareLatency) and the hub above it; the adversity case runs at the half-load rate.
const bareLat = (report.baseline.latency as { load?: LoadResult } | undefined)?.load?.latencyMs;
const bareLatIdle = (report.baseline.latencyIdle as { load?: LoadResult } | undefined)?.load?.latencyMs;
f.aedesLatencyP50Ms = num(bareLat?.p50);
f.aedesLatencyP99Ms = num(bareLat?.p99);
f.aedesLatencyLost = num(bareLat?.lost);
f.aedesLatencyRate = num((report.baseline.latency as { rate?: number } | undefined)?.rate);
f.aedesLatencyIdleP50Ms = num(bareLatIdle?.p50);
f.aedesLatencyIdleP99Ms = num(bareLatIdle?.p99);
f.aedesLatencyIdleLost = num(bareLatIdle?.lost);
const overFloor = (hub: number | null, floor: number | null) =>
  hub !== null && floor !== null ? Math.round((hub - floor) * 1000) / 1000 : null;
f.latencyOverFloorP50Ms = overFloor(f.latencyP50Ms, f.aedesLatencyP50Ms);
f.latencyOverFloorP99Ms = overFloor(f.latencyP99Ms, f.aedesLatencyP99Ms);
f.latencyIdleOverFloorP50Ms = overFloor(f.latencyIdleP50Ms, f.aedesLatencyIdleP50Ms);
f.latencyIdleOverFloorP99Ms = overFloor(f.latencyIdleP99Ms, f.aedesLatencyIdleP99Ms);
f.latencyAdversityOverFloorP50Ms = overFloor(f.latencyAdversityP50Ms, f.aedesLatencyP50Ms);
f.latencyAdversityOverFloorP99Ms = overFloor(f.latencyAdversityP99Ms, f.aedesLatencyP99Ms);
type OverloadRunFig = {
  acceptedShareOfSustainable?: number | null;
  acceptedShareOfGatewaySustainable?: number | null;
  shedQos0?: number;
};
const over = report.extra.runOverloadBench as
  | { gateways?: OverloadRunFig; perDevice?: OverloadRunFig }
  | undefined;
const overRuns = [over?.gateways, over?.perDevice].filter((r): r is OverloadRunFig => r !== undefined);
f.overloadMinAcceptedShare = overRuns.length
  ? Math.min(...overRuns.map((r) => r.acceptedShareOfSustainable ?? 0))
  : null;
f.overloadPerDeviceShareOfGatewaySustainable = num(over?.perDevice?.acceptedShareOfGatewaySustainable);
f.overloadShedQos0 = overRuns.length ? overRuns.reduce((a, r) => a + (r.shedQos0 ?? 0), 0) : null;
const reads = report.extra.runAlertReadsBench as { firstPage?: { p99Ms?: number } } | undefined;
f.alertListP99Ms = num(reads?.firstPage?.p99Ms);
const storeReads = report.extra.runAlertReadsStoresBench as
  | { postgres?: { firstPage?: { p99Ms?: number } } }
  | undefined;
f.alertListPostgresStatementsP99Ms = num(storeReads?.postgres?.firstPage?.p99Ms);
type IdleFig = {
  kbPerConnection?: number;
  kbPerConnectionAt3s?: number;
  settled?: boolean;
  settledAfterSeconds?: number;
  warmupSettledAfterSeconds?: number;
};
const idleFigures = (prefix: 'hub' | 'aedes', idle: IdleFig | undefined) => {
  // settled RSS − settled RSS (the target); the 3 s figure and the settling ages for the table's labels
  f[`${prefix}KbPerIdleConnection`] = num(idle?.kbPerConnection);
  f[`${prefix}KbPerIdleConnectionAt3s`] = num(idle?.kbPerConnectionAt3s);
  f[`${prefix}IdleSettledAfterSeconds`] = num(idle?.settledAfterSeconds);
  f[`${prefix}IdleWarmupSettledAfterSeconds`] = num(idle?.warmupSettledAfterSeconds);
  f[`${prefix}IdleSettled`] = idle?.settled === undefined ? null : idle.settled ? 1 : 0;
};
idleFigures('hub', report.hub.idle as IdleFig | undefined);
idleFigures('aedes', report.baseline.idle as IdleFig | undefined);
f.hubColdKbPerIdleConnection = num(
  (report.hub.idle as { coldKbPerConnection?: number } | undefined)?.coldKbPerConnection,
);
f.aedesColdKbPerIdleConnection = num(
  (report.baseline.idle as { coldKbPerConnection?: number } | undefined)?.coldKbPerConnection,
);
report.durationSeconds = Math.round((Date.now() - started) / 100) / 10;

mkdirSync(args.out as string, { recursive: true });
const stamp = report.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
const base = join(args.out as string, `${stamp}${quick ? '-quick' : ''}`);
writeFileSync(`${base}.json`, `${JSON.stringify({ ...report, targets: TARGETS }, null, 2)}\n`);
writeFileSync(`${base}.md`, renderMarkdown(report));
if (profile) {
  writeFileSync(
    `${base}-profile.md`,
    `# GridHub bench CPU profile — ${report.date}\n\n${renderProfile(profile, 'the hub')}`,
  );
  log(`CPU profile summary: ${base}-profile.md`);
}
log(`results: ${base}.json and ${base}.md (${report.durationSeconds} s)`);
process.stdout.write(renderMarkdown(report));
process.exit(0);
