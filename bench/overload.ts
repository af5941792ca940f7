/**
 * Design §10 "offered 2 × the sustainable rate for 60 s": the accepted rate stays ≥ 80 % of the sustainable
 * rate, memory is bounded, no QoS 1 acknowledged that is not recorded, QoS 0 shed first and counted.
 *
 * `runOverloadBench(options)` starts its own hub (the compiled build when `npm run build` has run, else the
 * sources through tsx) in a temp data dir with N bench devices. For each shape — two gateway connections, one
 * connection per device — it takes the sustainable QoS 0 rate of that shape (given, or measured here), offers
 * twice that for `seconds`, with QoS 1 one-key presses (probes, answered as alarms on the workers' topics) through
 * the same hub, and compares what the hub accepted with that shape's own sustainable rate: the hub sustains fewer
 * messages a second from thousands of sockets than from two, and the question is whether overload makes it take
 * fewer still (collapse), not which shape is cheaper. It samples the hub's RSS every second and its counters
 * before and after.
 *
 * Alone: `node --import tsx bench/overload.ts [--quick] [--sustainable N] [--sustainable-per-device N]
 * [--seconds S] [--devices N]`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadResult } from '../devices-sim/load.ts';
import type { DemoCredentials } from '../src/domain/wire.ts';
import { provisionBenchDevices } from './bench-devices.ts';
import {
  type Child,
  freePort,
  ROOT,
  rssKb,
  runLoadChild,
  scrapeMetrics,
  sleep,
  spawnNode,
  spawnTs,
  waitReady,
} from './lib.ts';

export interface OverloadOptions {
  quick?: boolean;
  /** The sustainable QoS 0 rate of two gateways (msg/s), when already measured (bench/run.ts: `hub.gatewayQos0`). */
  sustainable?: number;
  /** The same of one connection per device (bench/run.ts: `hub.perDeviceQos0.confirmedPerSec`). */
  sustainablePerDevice?: number;
  /** How long 2 × is offered, per shape (60 s; 10 s with --quick). */
  seconds?: number;
  /** Connections of the per-device shape (2 000; 300 with --quick). */
  devices?: number;
  /** Factor over the sustainable rate (2). */
  factor?: number;
}

/** One overloaded run: what was offered, what the hub took, what it shed, what its memory did. */
export interface OverloadRun extends Record<string, unknown> {
  connections: number;
  /** What this shape sustains (msg/s): the rate offered twice over and the one accepted is compared with. */
  sustainablePerSec: number;
  offeredPerSec: number;
  load: LoadResult;
  acceptedPerSec: number | null;
  acceptedShareOfSustainable: number | null;
  /** Accepted ÷ the two gateways' sustainable rate (the same as above for the gateway shape; information). */
  acceptedShareOfGatewaySustainable: number | null;
  shedQos0: number;
  rejected: number;
  hubRssKb: { before: number | null; max: number | null; after: number | null };
  /** QoS 1 presses: `lost` = acknowledged presses whose alarm never came back (must be 0); their latency. */
  probes: LoadResult['latencyMs'];
  meetsTarget: boolean | null;
}

export interface OverloadResult extends Record<string, unknown> {
  /** The two gateways' sustainable rate (each run carries its own shape's). */
  sustainablePerSec: number;
  sustainableMeasured: boolean;
  sustainablePerDeviceMeasured: boolean;
  seconds: number;
  /** Two gateway connections at 2 × (TCP backpressure paces them). */
  gateways: OverloadRun;
  /** One connection per device at 2 ×: QoS 0 shedding bounds the queue. */
  perDevice: OverloadRun;
}

const log = (line: string) => process.stderr.write(`bench overload: ${line}\n`);

async function startHub(
  dataDir: string,
  ports: { http: number; mqtt: number },
): Promise<{ child: Child; http: string }> {
  const env = {
    GRIDHUB_DATA_DIR: dataDir,
    GRIDHUB_HTTP_PORT: String(ports.http),
    GRIDHUB_MQTT_PORT: String(ports.mqtt),
    GRIDHUB_HOST: '127.0.0.1',
    GRIDHUB_LOG_LEVEL: 'warn',
  };
  const built = join(ROOT, 'dist/src/main.js');
  const child = existsSync(built) ? spawnNode([built], env) : spawnTs('src/main.ts', [], env);
  const http = `http://127.0.0.1:${ports.http}`;
  await waitReady(child, http, 90_000);
  return { child, http };
}

/** Readings ingest handed on (all channels; the probes' presses are a few per second of it). */
const accepted = (m: Map<string, number>) => m.get('gridhub_ingest_accepted_total') ?? 0;

export async function runOverloadBench(options: OverloadOptions = {}): Promise<OverloadResult> {
  const quick = options.quick ?? false;
  const seconds = options.seconds ?? (quick ? 10 : 60);
  const devices = options.devices ?? (quick ? 300 : 2_000);
  const factor = options.factor ?? 2;
  const dataDir = mkdtempSync(join(os.tmpdir(), 'gridhub-overload-'));
  const ports = { http: await freePort(), mqtt: await freePort() };
  let hub = await startHub(dataDir, ports);
  try {
    // first start seeds the demo (its call buttons and workers are the probes); then the bench devices
    await hub.child.stop();
    const demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
    const bench = await provisionBenchDevices(dataDir, devices, 'overload');
    const credsFile = join(dataDir, 'overload-credentials.json');
    writeFileSync(credsFile, JSON.stringify({ ...demo, devices: [...bench, ...demo.devices] }));
    hub = await startHub(dataDir, ports);
    const h = hub;
    const pid = h.child.proc.pid as number;
    const timeout = (s: number, n: number) => (s + 60 + n / 100) * 1000;
    const gatewayArgs = ['--credentials', credsFile, '--devices', '2', '--gateways', '2', '--qos', '0'];
    const deviceArgs = [
      '--credentials',
      credsFile,
      '--devices',
      String(devices),
      '--qos',
      '0',
      '--window',
      '20',
    ];

    /** Accepted per second between the load's start and end, sampled when the generator says so. */
    const loadWithMarks = async (args: string[], s: number, n: number) => {
      const marks: Partial<Record<'start' | 'end', { at: number; m: Map<string, number> }>> = {};
      const load = await runLoadChild(args, timeout(s, n), async (phase) => {
        const at = performance.now();
        const m = await scrapeMetrics(h.http, 30_000).catch(() => undefined);
        if (m) marks[phase] = { at, m };
      });
      const { start, end } = marks;
      const perSec =
        start && end && end.at > start.at
          ? Math.round(((accepted(end.m) - accepted(start.m)) * 1000) / (end.at - start.at))
          : null;
      return { load, perSec };
    };
    /** Until the hub has worked through what the kernel's buffers held (bounded). */
    const settle = async () => {
      let last = -1;
      for (let i = 0; i < 120; i++) {
        const n = accepted(await scrapeMetrics(h.http, 30_000).catch(() => new Map<string, number>()));
        if (n === last) return;
        last = n;
        await sleep(1_000);
      }
    };

    /** What the hub confirms over a short run of `args` at `rate` (0: unpaced), when not given already. */
    const measureSustainable = async (label: string, args: string[], n: number, rate: number) => {
      const s = quick ? 5 : 15;
      const r = await loadWithMarks(
        [...args, '--rate', String(rate), '--duration', String(s), '--probes', '0'],
        s,
        n,
      );
      if (r.perSec === null) throw new Error('the hub did not answer /metrics during the load');
      log(`sustainable (${label}, QoS 0, ${s} s): ${r.perSec} msg/s`);
      await settle();
      return r.perSec;
    };
    const sustainableMeasured = !options.sustainable;
    // Two gateway connections as fast as the hub takes them (as bench/run.ts measures ingest). Not thousands of
    // unpaced device sockets: their QoS 0 parks gigabytes in the kernel's buffers, and the generator then takes
    // the cores the hub needs — so, as bench/run.ts does, the devices are offered 1.5 × what two gateways took.
    const sustainable =
      options.sustainable || (await measureSustainable('2 gateways, unpaced', gatewayArgs, 2, 0));
    const sustainablePerDeviceMeasured = !options.sustainablePerDevice;
    const sustainablePerDevice =
      options.sustainablePerDevice ||
      (await measureSustainable(`${devices} devices`, deviceArgs, devices, Math.round(sustainable * 1.5)));
    const probes = quick ? '5' : '10';
    const shareOf = (perSec: number | null, of: number) =>
      perSec !== null && of > 0 ? Math.round((perSec / of) * 100) / 100 : null;

    const overloaded = async (
      label: string,
      args: string[],
      n: number,
      shapeSustainable: number,
    ): Promise<OverloadRun> => {
      const offered = Math.round(shapeSustainable * factor);
      const rssBefore = rssKb(pid) ?? null;
      let rssMax = rssBefore ?? 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          rssMax = Math.max(rssMax, rssKb(pid) ?? 0);
          await sleep(1_000);
        }
      })();
      const m0 = await scrapeMetrics(h.http, 60_000);
      const { load, perSec } = await loadWithMarks(
        [...args, '--rate', String(offered), '--duration', String(seconds), '--probes', probes],
        seconds,
        n,
      );
      sampling = false;
      await sampler;
      await settle();
      const m1 = await scrapeMetrics(h.http, 60_000);
      const delta = (name: string) => (m1.get(name) ?? 0) - (m0.get(name) ?? 0);
      const share = shareOf(perSec, shapeSustainable);
      const run: OverloadRun = {
        connections: n,
        sustainablePerSec: shapeSustainable,
        offeredPerSec: offered,
        load,
        acceptedPerSec: perSec,
        acceptedShareOfSustainable: share,
        acceptedShareOfGatewaySustainable: shareOf(perSec, sustainable),
        shedQos0: delta('gridhub_ingest_shed_total'),
        rejected: delta('gridhub_ingest_rejected_total'),
        hubRssKb: { before: rssBefore, max: rssMax || null, after: rssKb(pid) ?? null },
        probes: load.latencyMs,
        meetsTarget: share === null ? null : share >= 0.8 && load.latencyMs.lost === 0,
      };
      const errors = h.child.stderr.filter((l) => /"level":(50|60)/.test(l)).slice(-3);
      if (errors.length) log(`hub errors: ${errors.join(' | ')}`);
      log(
        `${label}: offered ${offered} msg/s (generator sent ${load.sentPerSec}/s) for ${seconds} s: accepted ${perSec ?? '?'} msg/s = ${share ?? '?'} × this shape's sustainable ${shapeSustainable}, shed ${run.shedQos0} QoS 0, hub RSS ${Math.round((rssBefore ?? 0) / 1024)} → max ${Math.round(rssMax / 1024)} MB, probes ${JSON.stringify(load.latencyMs)}`,
      );
      return run;
    };

    const gateways = await overloaded('2 gateways', gatewayArgs, 2, sustainable);
    const perDevice = await overloaded(`${devices} devices`, deviceArgs, devices, sustainablePerDevice);
    return {
      sustainablePerSec: sustainable,
      sustainableMeasured,
      sustainablePerDeviceMeasured,
      seconds,
      gateways,
      perDevice,
    };
  } finally {
    await hub.child.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sustainable: { type: 'string' },
      'sustainable-per-device': { type: 'string' },
      seconds: { type: 'string' },
      devices: { type: 'string' },
    },
  });
  const result = await runOverloadBench({
    quick: values.quick ?? false,
    ...(values.sustainable ? { sustainable: Number(values.sustainable) } : {}),
    ...(values['sustainable-per-device']
      ? { sustainablePerDevice: Number(values['sustainable-per-device']) }
      : {}),
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    ...(values.devices ? { devices: Number(values.devices) } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exit(0);
}
