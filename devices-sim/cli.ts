/**
 * `npm run sim -- [options]`: the device simulator.
 *
 *   npm run sim                                   every device of the credentials file, living its day
 *   npm run sim -- --scenario fire-drill          a scripted scenario with outcome checks (exit 1 on failure)
 *   npm run sim -- --devices 2000 --rate 20000 --qos 1 --duration 30    load mode
 */

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createSystemClock } from '../src/clock/clock.ts';
import { parseWorkerMessage } from './checks.ts';
import { type Credentials, loadCredentials } from './credentials.ts';
import { createFleet, listenToWorkerAlarms } from './fleet.ts';
import { createHubApi } from './hub-api.ts';
import { runLoad, syntheticDevices, syntheticProbes } from './load.ts';
import { runScenario } from './runner.ts';
import { loadScenario } from './scenario.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Call buttons invented for --synthetic --probes: presses rotate over them, one pending per button. */
const SYNTHETIC_PROBE_DEVICES = 10;

const USAGE = `usage: npm run sim -- [options]

common:
  --credentials FILE   demo credentials file (default ./data/demo-credentials.json)
  --mqtt-url URL       override the broker URL of the credentials file
  --http-url URL       override the API URL of the credentials file
  --log-level LEVEL    pino level for the simulator's own log (default warn)
  --seed S             seed of the behaviours (default: the scenario name / "sim")

scenario mode:
  --scenario NAME|FILE one of devices-sim/scenarios/*.yaml, or a path
  --speed N            virtual ms per real ms when the hub does not report GET /api/clock; the hub must then
                       run with GRIDHUB_CLOCK_SPEED=N

free-running mode (no --scenario, no --devices):
  --speed N            as above
  --duration S         real seconds to run (default: until Ctrl-C)
  --incident-factor F  multiply the incident rates (default 1; demos like 50)

load mode (--devices or --rate):
  --devices N          publishing device connections (default: all non-probe devices of the file)
  --rate R             total msg/s offered (0 = as fast as the windows allow)
  --qos 0|1            QoS of the telemetry (default 0)
  --gateways G         publish through G connections only, each for its own device id (the ACL allows a
                       connection to publish only its own topics, so a gateway is a device publishing fast)
  --duration S         seconds of load (default 10)
  --probes P           publish-to-alarm probes per second (call-button presses, timed until the alarm
                       arrives on a worker's topic; default 10 when the file has workers)
  --window W           unfinished publishes allowed per connection
  --synthetic          invent device ids (for a broker without authentication, e.g. a bare aedes); with
                       --probes, presses of invented call buttons are timed until a subscriber on
                       gh/+/event receives them (the broker's own publish → delivery floor)
  --subscribe-all      count what a subscriber on gh/+/telemetry receives (broker forwarding)
  --idle               connect and stay idle for --duration (memory per connection)
  --skip K             leave out the first K devices (a second run beside one holding them)
  --connect-concurrency C   connections opened at once (default 100; the reconnect storm uses all)
  --json               print the result as JSON on stdout
`;

async function main(): Promise<number> {
  const { values: a } = parseArgs({
    options: {
      credentials: { type: 'string', default: './data/demo-credentials.json' },
      'mqtt-url': { type: 'string' },
      'http-url': { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      seed: { type: 'string' },
      scenario: { type: 'string' },
      speed: { type: 'string' },
      duration: { type: 'string' },
      'incident-factor': { type: 'string', default: '1' },
      devices: { type: 'string' },
      rate: { type: 'string' },
      qos: { type: 'string', default: '0' },
      gateways: { type: 'string' },
      probes: { type: 'string' },
      window: { type: 'string' },
      synthetic: { type: 'boolean', default: false },
      'subscribe-all': { type: 'boolean', default: false },
      idle: { type: 'boolean', default: false },
      skip: { type: 'string' },
      'connect-concurrency': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (a.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = pino(
    { level: a['log-level'] ?? 'warn', base: { service: 'gridhub-sim' } },
    pino.destination(2),
  );
  const num = (name: string, v: string | undefined, def?: number): number | undefined => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} expects a non-negative number, got ${v}`);
    return n;
  };
  const speed = num('speed', a.speed);
  const err = (l: string) => process.stderr.write(`${l}\n`);

  const loadMode = a.devices !== undefined || a.rate !== undefined || a.idle;
  let creds: Credentials;
  if (loadMode && a.synthetic) {
    // With --probes, invented call buttons and one subscriber on their event topics stand in for the hub's.
    const probes =
      (num('probes', a.probes, 0) ?? 0) > 0 ? syntheticProbes(SYNTHETIC_PROBE_DEVICES) : undefined;
    creds = {
      generatedAt: '',
      mqttUrl: a['mqtt-url'] ?? 'mqtt://127.0.0.1:1883',
      httpUrl: a['http-url'] ?? 'http://127.0.0.1:8080',
      devices: [
        ...syntheticDevices((num('devices', a.devices, 1) ?? 1) + (num('skip', a.skip, 0) ?? 0)),
        ...(probes?.devices ?? []),
      ],
      users: [],
      workers: probes ? [probes.worker] : [],
    };
  } else {
    creds = loadCredentials(resolve(a.credentials ?? './data/demo-credentials.json'));
  }
  const mqttUrl = a['mqtt-url'] ?? creds.mqttUrl;

  if (loadMode) {
    const qos = a.qos === '1' ? 1 : a.qos === '0' ? 0 : undefined;
    if (qos === undefined) throw new Error(`--qos expects 0 or 1, got ${a.qos}`);
    const probesPerSec = num('probes', a.probes, creds.workers.length ? 10 : 0) ?? 0;
    const probeDevices =
      probesPerSec > 0 ? creds.devices.filter((d) => d.type === 'call_button').slice(0, 50) : [];
    const probeIds = new Set(probeDevices.map((d) => d.id));
    const pool = creds.devices.filter((d) => !probeIds.has(d.id)).slice(num('skip', a.skip, 0));
    const n = num('devices', a.devices, pool.length) ?? pool.length;
    if (n > pool.length) {
      throw new Error(
        `--devices ${n}: the credentials file has only ${pool.length} usable device(s); provision more (the bench does) or use --synthetic against a broker without authentication`,
      );
    }
    const result = await runLoad({
      mqttUrl,
      devices: pool.slice(0, n),
      gateways: num('gateways', a.gateways),
      rate: num('rate', a.rate, 0) ?? 0,
      qos,
      durationS: num('duration', a.duration, 10) ?? 10,
      window: num('window', a.window),
      subscribeAll: a['subscribe-all'],
      idle: a.idle,
      ...(a['connect-concurrency']
        ? { connectConcurrency: num('connect-concurrency', a['connect-concurrency']) }
        : {}),
      probe:
        probeDevices.length && creds.workers.length
          ? { devices: probeDevices, workers: creds.workers, perSecond: probesPerSec }
          : undefined,
      progress: a.json ? (l) => err(l) : (l) => process.stderr.write(`\r${l.padEnd(110)}`),
      onPhase: (phase) => {
        if (a.json) err(`LOAD ${phase.toUpperCase()}`);
      },
      onConnected: (c, seconds) => {
        // The bench waits for this line on stderr before measuring the hub's memory (and times a storm by it).
        if (a.idle) err(`READY connections=${c} seconds=${seconds.toFixed(3)}`);
      },
    });
    if (a.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      err('');
      const l = result.latencyMs;
      err(
        `${result.connections} connection(s), ${result.seconds.toFixed(1)} s: sent ${result.sent} (${result.sentPerSec} msg/s), completed ${result.completed} (${result.completedPerSec} msg/s, QoS ${qos}), rejected on errors topics ${result.rejected}`,
      );
      if (l.count || l.lost)
        err(
          `publish → alarm: ${l.count} probes, p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, max ${l.max} ms, lost ${l.lost}`,
        );
    }
    return 0;
  }

  if (a.scenario) {
    const file = existsSync(a.scenario) ? a.scenario : join(HERE, 'scenarios', `${a.scenario}.yaml`);
    if (!existsSync(file)) throw new Error(`no scenario ${a.scenario} (looked for ${file})`);
    const outcome = await runScenario({
      scenario: loadScenario(file),
      credentials: creds,
      log,
      mqttUrl: a['mqtt-url'],
      httpUrl: a['http-url'],
      speed,
      seed: a.seed,
    });
    err(
      `${outcome.ok ? 'scenario passed' : 'scenario FAILED'}: ${outcome.connected} device(s) connected, ${outcome.published} background message(s), ${outcome.errorsReceived} errors-topic answer(s), ${outcome.alarmsReceived} worker alarm(s)`,
    );
    return outcome.ok ? 0 : 1;
  }

  // Free-running: the whole community living its day.
  const api = createHubApi(a['http-url'] ?? creds.httpUrl);
  const hubClock = await api.clock().catch(() => undefined);
  const clockSpeed = hubClock?.speed ?? speed ?? 1;
  if (!hubClock) err(`note: hub clock not readable (GET /api/clock); running at speed ${clockSpeed}`);
  const clock = createSystemClock(
    hubClock ? { speed: clockSpeed, startAt: hubClock.now } : { speed: clockSpeed },
  );
  const fleet = createFleet({
    mqttUrl,
    devices: creds.devices,
    background: new Set(creds.devices.map((d) => d.id)),
    clock,
    seed: a.seed ?? 'sim',
    log,
    behaviour: { incidentRateFactor: num('incident-factor', a['incident-factor'], 1) ?? 1 },
  });
  const alarms = await listenToWorkerAlarms(mqttUrl, creds.workers, log);
  alarms.onMessage((topic, text) => err(describeAlarm(topic, text)));
  const c = await fleet.connectAll();
  err(`${c.connected}/${creds.devices.length} devices connected at speed ${clockSpeed}×; Ctrl-C to stop`);
  fleet.startBehaviours();
  const durationS = num('duration', a.duration);
  await new Promise<void>((r) => {
    const timer = durationS ? setTimeout(r, durationS * 1000) : undefined;
    const report = setInterval(
      () => err(`published ${fleet.stats.published}, dropped while offline ${fleet.stats.dropped}`),
      10_000,
    );
    const stop = () => {
      if (timer) clearTimeout(timer);
      clearInterval(report);
      r();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (timer) timer.unref();
    if (durationS) setTimeout(stop, durationS * 1000);
  });
  await fleet.stop();
  await alarms.stop();
  return 0;
}

/** One line per worker alarm: who, what changed, which alert (or how many in a digest). */
export function describeAlarm(topic: string, text: string): string {
  const who = topic.split('/')[2] ?? topic;
  const m = parseWorkerMessage(text);
  if (!m) return `alarm → ${who}: ${text.slice(0, 120)}`;
  if (m.kind === 'digest')
    return `alarm → ${who}: digest of ${m.count} ${m.severity} alert(s), ${m.newCount} new`;
  return `alarm → ${who}: ${m.change} ${m.severity} ${m.category} ${m.device.id} — ${m.title}`;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`sim: ${(e as Error).message}\n`);
    process.exit(2);
  },
);
