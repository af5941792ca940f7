/** The bench report: its shape, the targets of design §10 and the Markdown rendering. */

export interface BenchReport {
  date: string;
  quick: boolean;
  machine: { os: string; cpu: string; cores: number; memoryGb: number; loadAverage: number[] };
  versions: Record<string, string>;
  commands: string[];
  parameters: Record<string, number>;
  store: string;
  baseline: Record<string, unknown>;
  hub: Record<string, Record<string, unknown> | undefined> & Record<string, unknown>;
  figures: Record<string, number | null>;
  extra: Record<string, unknown>;
  errors: string[];
  durationSeconds: number;
}

export interface Target {
  key: string;
  what: string;
  target: string;
  /** True when the figure meets the target; null when not measured. */
  check: (v: number) => boolean;
  unit: string;
  /** The row's label in the table when it depends on the run (`what` is the static one, in the JSON). */
  label?: (r: BenchReport) => string;
  /** Key of the bare-aedes figure shown beside it. */
  aedes?: string;
  ratio?: string;
}

/**
 * The targets of design §10 and of issue #19 (ratios to the consuming bare aedes: ≥ 0.5 into the embedded
 * store, ≥ 0.4 into InfluxDB 1.x with its spool; the reconnect storm; the raise transaction; idle memory).
 */
export function targetsFor(influx: boolean): readonly Target[] {
  const minRatio = influx ? 0.4 : 0.5;
  const store = influx ? ', into InfluxDB' : ', embedded store';
  return [
    {
      key: 'hub_gatewayQos0',
      what: 'ingest, few connections, QoS 0',
      target: '≥ 60 000 msg/s',
      check: (v) => v >= 60_000,
      unit: 'msg/s',
      aedes: 'aedes_gatewayQos0',
      ratio: 'ratio_gatewayQos0',
    },
    {
      key: 'hub_gatewayQos1',
      what: 'ingest, few connections, QoS 1',
      target: '≥ 40 000 msg/s',
      check: (v) => v >= 40_000,
      unit: 'msg/s',
      aedes: 'aedes_gatewayQos1',
      ratio: 'ratio_gatewayQos1',
    },
    {
      key: 'hub_perDeviceQos0',
      what: 'ingest, one connection per device, QoS 0',
      target: '≥ 30 000 msg/s',
      check: (v) => v >= 30_000,
      unit: 'msg/s',
      aedes: 'aedes_perDeviceQos0',
      ratio: 'ratio_perDeviceQos0',
    },
    {
      key: 'hub_perDeviceQos1',
      what: 'ingest, one connection per device, QoS 1',
      target: '≥ 20 000 msg/s',
      check: (v) => v >= 20_000,
      unit: 'msg/s',
      aedes: 'aedes_perDeviceQos1',
      ratio: 'ratio_perDeviceQos1',
    },
    {
      key: 'ratio_gatewayQos0',
      what: `hub / consuming bare aedes, few connections, QoS 0${store}`,
      target: `≥ ${minRatio}`,
      check: (v) => v >= minRatio,
      unit: '×',
    },
    {
      key: 'ratio_gatewayQos1',
      what: `hub / consuming bare aedes, few connections, QoS 1${store}`,
      target: `≥ ${minRatio}`,
      check: (v) => v >= minRatio,
      unit: '×',
    },
    {
      key: 'ratio_perDeviceQos0',
      what: `hub / consuming bare aedes, per device, QoS 0${store}`,
      target: `≥ ${minRatio}`,
      check: (v) => v >= minRatio,
      unit: '×',
    },
    {
      key: 'ratio_perDeviceQos1',
      what: `hub / consuming bare aedes, per device, QoS 1${store}`,
      target: `≥ ${minRatio}`,
      check: (v) => v >= minRatio,
      unit: '×',
    },
    {
      key: 'latencyP50Ms',
      what: 'publish → worker alarm p50, half load',
      target: '≤ 2 ms',
      check: (v) => v <= 2,
      unit: 'ms',
      aedes: 'aedesLatencyP50Ms',
    },
    {
      key: 'latencyP99Ms',
      what: 'publish → worker alarm p99, half load',
      target: '≤ 10 ms',
      check: (v) => v <= 10,
      unit: 'ms',
      aedes: 'aedesLatencyP99Ms',
    },
    {
      key: 'latencyIdleP50Ms',
      what: 'publish → worker alarm p50, no other traffic',
      target: '≤ 1 ms',
      check: (v) => v <= 1,
      unit: 'ms',
      aedes: 'aedesLatencyIdleP50Ms',
    },
    {
      key: 'latencyIdleP99Ms',
      what: 'publish → worker alarm p99, no other traffic',
      target: '≤ 3 ms',
      check: (v) => v <= 3,
      unit: 'ms',
      aedes: 'aedesLatencyIdleP99Ms',
    },
    {
      key: 'latencyAdversityP99Ms',
      what: 'publish → worker alarm p99, half load, one hanging robot and one frozen phone present',
      target: '≤ 10 ms',
      check: (v) => v <= 10,
      unit: 'ms',
      aedes: 'aedesLatencyP99Ms',
    },
    {
      key: 'overloadMinAcceptedShare',
      what: "offered 2 × sustainable: accepted ÷ sustainable (worst of gateways and per-device, each against its own shape's sustainable rate)",
      target: '≥ 0.8',
      check: (v) => v >= 0.8,
      unit: '×',
    },
    {
      key: 'alertListP99Ms',
      what: "GET /api/alerts, page of 50, a manager's scope, 100 000 alerts (embedded store)",
      target: '≤ 50 ms',
      check: (v) => v <= 50,
      unit: 'ms',
    },
    {
      key: 'alertListPostgresStatementsP99Ms',
      what: "the same page's statements on PostgreSQL, 100 000 alerts (no HTTP, bench/alert-reads-stores.ts)",
      target: '≤ 50 ms',
      check: (v) => v <= 50,
      unit: 'ms',
    },
    {
      key: 'postgresRatioMin',
      what: 'ingest on PostgreSQL / on SQLite, same run (the lowest of QoS 0 and 1 on 2 connections, QoS 1 one per device)',
      target: '≥ 0.8',
      check: (v) => v >= 0.8,
      unit: '×',
    },
    {
      key: 'hubKbPerIdleConnection',
      what: "memory per idle device connection (RSS, settled: once the CONNECTs' garbage was collected, a bounded wait)",
      label: (r) =>
        `memory per idle device connection (RSS, settled: ${idleAge(r, 'hub')}; bare aedes ${idleAge(r, 'aedes')})`,
      target: '≤ 12 KB',
      check: (v) => v <= 12,
      unit: 'KB',
      aedes: 'aedesKbPerIdleConnection',
    },
    {
      key: 'stormAllConnectedSeconds',
      what: 'reconnect storm: every device connecting at once, all connected',
      target: '≤ 10 s',
      check: (v) => v <= 10,
      unit: 's',
      aedes: 'aedesStormAllConnectedSeconds',
    },
    {
      key: 'stormPressMaxMs',
      what: 'reconnect storm: a press during it alarms (worst of the presses whose wait overlapped the storm)',
      target: '≤ 100 ms',
      check: (v) => v <= 100,
      unit: 'ms',
    },
    {
      key: 'raiseP50Ms',
      what: 'dispatcher raise transaction p50 (bench/raise.ts)',
      target: '≤ 0.3 ms',
      check: (v) => v <= 0.3,
      unit: 'ms',
    },
    {
      key: 'failoverLost',
      what: '3 hubs on PostgreSQL behind Mosquitto, one killed with SIGKILL mid-load: acknowledged presses without an alert (bench/failover.ts)',
      target: '0',
      check: (v) => v === 0,
      unit: '',
    },
    {
      key: 'failoverDoubled',
      what: 'the same run: presses with more than one alert',
      target: '0',
      check: (v) => v === 0,
      unit: '',
    },
    {
      key: 'failoverEscalationWrong',
      what: 'the same run: escalation steps due but missing, repeated, or early',
      target: '0',
      check: (v) => v === 0,
      unit: '',
    },
    {
      key: 'failoverMaxStallMs',
      what: "the same run: alarms flowing again after the kill (worst first-alarm wait from max(sent, kill), the dead instance's share included)",
      target: '≤ 5 000 ms',
      check: (v) => v <= 5_000,
      unit: 'ms',
    },
    {
      key: 'failoverBoardsMissing',
      what: "the same run: alerts missing from a surviving instance's list or live stream",
      target: '0',
      check: (v) => v === 0,
      unit: '',
    },
    {
      key: 'startupReadyMs',
      what: 'start-up to ready (/readyz), embedded defaults, compiled build, existing data dir (median of 5)',
      target: '≤ 1 000 ms',
      check: (v) => v <= 1_000,
      unit: 'ms',
    },
  ];
}

export const TARGETS = targetsFor(false);

/** "after 18 s idle (warm-up 21 s)", or that the RSS had not settled by the longest wait. */
function idleAge(r: BenchReport, who: 'hub' | 'aedes'): string {
  const f = r.figures;
  const s = f[`${who}IdleSettledAfterSeconds`];
  const w = f[`${who}IdleWarmupSettledAfterSeconds`];
  if (s === null || s === undefined) return 'not measured';
  const age = `after ${Math.round(s)} s idle (warm-up ${w === null || w === undefined ? '—' : Math.round(w)} s)`;
  // not settled by the longest wait (bench/run.ts idleSettleSeconds): the sample at that age
  return f[`${who}IdleSettled`] === 0 ? `NOT settled, sampled ${age}` : age;
}

const isInflux = (r: BenchReport) => r.store.startsWith('InfluxDB');

const fmt = (v: number | null | undefined): string =>
  v === null || v === undefined ? '—' : Number.isInteger(v) ? v.toLocaleString('en-US') : String(v);

export function renderMarkdown(r: BenchReport): string {
  const p = r.parameters;
  const lines: string[] = [];
  lines.push(`# GridHub bench — ${r.date}${r.quick ? ' (quick)' : ''}`, '');
  lines.push('| machine | |', '| --- | --- |');
  lines.push(`| CPU | ${r.machine.cpu} × ${r.machine.cores} cores |`);
  lines.push(`| memory | ${r.machine.memoryGb} GB |`);
  lines.push(`| OS | ${r.machine.os} |`);
  lines.push(
    `| load average at start | ${r.machine.loadAverage.join(' / ')} (the machine is shared: compare with the baseline of the same run) |`,
  );
  lines.push(
    `| versions | node ${r.versions.node}, aedes ${r.versions.aedes}, mqtt ${r.versions.mqtt}, gridhub ${r.versions.gridhub} |`,
  );
  lines.push(`| telemetry store | ${r.store} |`);
  lines.push(
    `| sizes | ${p.seconds} s per run; gateways ${p.gateways}; per-device ${fmt(p.perDevice)} connections; idle ${fmt(p.idle)} connections (each set given at most ${fmt(p.idleSettleSeconds)} s to settle); latency ${p.latencySeconds} s at ${p.probes} probes/s |`,
  );
  lines.push('');
  lines.push(
    '| what | GridHub | bare aedes (consuming) | ratio | target | result |',
    '| --- | --: | --: | --: | --- | --- |',
  );
  for (const t of targetsFor(isInflux(r))) {
    const v = r.figures[t.key];
    const result = v === null || v === undefined ? 'not measured' : t.check(v) ? 'pass' : 'FAIL';
    const aedes = t.aedes ? fmt(r.figures[t.aedes]) : '';
    const ratio = t.ratio ? fmt(r.figures[t.ratio]) : '';
    lines.push(
      `| ${t.label ? t.label(r) : t.what} | ${fmt(v)} ${v === null || v === undefined ? '' : t.unit} | ${aedes} | ${ratio} | ${t.target} | ${result} |`,
    );
  }
  for (const [k, w] of [
    ['gatewayQos0', 'few connections, QoS 0'],
    ['gatewayQos1', 'few connections, QoS 1'],
    ['perDeviceQos0', 'per device, QoS 0'],
    ['perDeviceQos1', 'per device, QoS 1'],
  ] as const) {
    lines.push(
      `| hub / forwarding bare aedes, ${w} | ${fmt(r.figures[`ratioForward_${k}`])} × | ${fmt(r.figures[`aedesForward_${k}`])} | | | info |`,
    );
  }
  for (const [k, w] of [
    ['gatewayQos0', 'few connections, QoS 0'],
    ['gatewayQos1', 'few connections, QoS 1'],
    ['perDeviceQos1', 'per device, QoS 1'],
  ] as const) {
    const pgKey = `postgres${k[0]?.toUpperCase()}${k.slice(1)}`;
    lines.push(
      `| hub on PostgreSQL / on SQLite, ${w} | ${fmt(r.figures[`postgresRatio_${k}`])} × (${fmt(r.figures[`hub_${pgKey}`])} / ${fmt(r.figures[`hub_${k}`])} msg/s) | | | | info |`,
    );
  }
  lines.push(
    `| memory per idle connection 3 s after the last CONNACK (RSS over the same settled warm-up: the CONNECTs' garbage not yet collected), hub / bare aedes | ${fmt(r.figures.hubKbPerIdleConnectionAt3s)} KB | ${fmt(r.figures.aedesKbPerIdleConnectionAt3s)} | | | info |`,
  );
  lines.push(
    `| memory per idle connection from a cold start (RSS 1 s after the server started to 3 s after the last CONNACK, over the warm-up and the measured connections: the heap's own first growth included), hub / bare aedes | ${fmt(r.figures.hubColdKbPerIdleConnection)} KB / ${fmt(r.figures.aedesColdKbPerIdleConnection)} KB | | | | info |`,
  );
  lines.push(
    `| reconnect storm: presses during it, p50 / lost | ${fmt(r.figures.stormPressP50Ms)} ms / ${fmt(r.figures.stormPressLost)} | | | | info |`,
  );
  lines.push(
    `| reconnect storm: presses overlapping it; worst of all presses; worst before it (the first after start-up included) | ${fmt(r.figures.stormPressesDuring)}; ${fmt(r.figures.stormPressAllMaxMs)} ms; ${fmt(r.figures.stormPressBeforeMaxMs)} ms | | | | info |`,
  );
  lines.push(
    `| dispatcher raise transaction p99; handle() p50 with the work after the commit | ${fmt(r.figures.raiseP99Ms)} ms; ${fmt(r.figures.raiseHandleP50Ms)} ms | | | | info |`,
  );
  lines.push(
    `| first start (seeding the demo) to ready | ${fmt(r.figures.firstStartReadyMs)} ms | | | | info |`,
  );
  lines.push(
    `| publish → worker alarm, hanging robot + frozen phone: p50 / lost | ${fmt(r.figures.latencyAdversityP50Ms)} ms / ${fmt(r.figures.latencyAdversityLost)} | | | | info |`,
  );
  lines.push(
    `| publish → worker alarm above the bare aedes floor (hub − bare aedes publish → subscriber), p50 / p99: no other traffic; half load; hanging robot + frozen phone (against the half-load floor) | ${fmt(r.figures.latencyIdleOverFloorP50Ms)} / ${fmt(r.figures.latencyIdleOverFloorP99Ms)} ms; ${fmt(r.figures.latencyOverFloorP50Ms)} / ${fmt(r.figures.latencyOverFloorP99Ms)} ms; ${fmt(r.figures.latencyAdversityOverFloorP50Ms)} / ${fmt(r.figures.latencyAdversityOverFloorP99Ms)} ms | | | | info |`,
  );
  lines.push(
    `| offered 2 × sustainable: QoS 0 readings shed (counted) | ${fmt(r.figures.overloadShedQos0)} | | | | info |`,
  );
  lines.push(
    `| offered 2 × sustainable, per device: accepted ÷ the two gateways' sustainable rate | ${fmt(r.figures.overloadPerDeviceShareOfGatewaySustainable)} × | | | | info |`,
  );
  lines.push(
    `| failover run: presses acknowledged (per s) / alerts / never alarmed; escalation steps expected / seen once / latest after due (real ms); first alarm after the kill; telemetry accepted per s | ${fmt(r.figures.failoverPressesAcked)} (${fmt(r.figures.failoverPressesAckedPerSec)}/s) / ${fmt(r.figures.failoverAlerts)} / ${fmt(r.figures.failoverNeverAlarmed)}; ${fmt(r.figures.failoverEscalationExpected)} / ${fmt(r.figures.failoverEscalationSeenOnce)} / ${fmt(r.figures.failoverEscalationWorstLateMs)}; ${fmt(r.figures.failoverFirstAlarmAfterKillMs)} ms; ${fmt(r.figures.failoverTelemetryAcceptedPerSec)} | | | | info |`,
  );
  lines.push('');
  lines.push(
    `Half load for the latency run: ${fmt(r.figures.latencyRate)} msg/s of QoS 0 telemetry (half of what the hub confirmed with few connections), probes lost: ${fmt(r.figures.latencyLost)}.`,
  );
  lines.push('');
  lines.push(
    `The bare aedes beside the latency rows is the floor: the same generator, probe rate and duration, each QoS 1 press timed from its publish until a bare aedes delivers it to one subscriber (QoS 1) standing for the worker — no pipeline, the same two MQTT hops and processes that sleep between presses. No other traffic: 1 msg/s of telemetry, as for the hub; half load: ${fmt(r.figures.aedesLatencyRate)} msg/s of QoS 0 telemetry, consumed by the broker; probes lost ${fmt(r.figures.aedesLatencyIdleLost)} / ${fmt(r.figures.aedesLatencyLost)}. The targets stay absolute: the floor is shown, not subtracted.`,
  );
  lines.push('');
  lines.push('### Runs', '');
  lines.push(
    '| run | connections | offered msg/s | GridHub confirmed msg/s | … while loaded | confirmed in all / sent | QoS 1 acknowledged, not stored | hub RSS after | generator CPU (hub run) | bare aedes consumed msg/s | generator CPU (aedes run) | bare aedes forwarded msg/s |',
    '| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
  );
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v} %`);
  const runs = ['gatewayQos0', 'gatewayQos1', 'perDeviceQos0', 'perDeviceQos1'];
  runs.push('postgresGatewayQos0', 'postgresGatewayQos1', 'postgresPerDeviceQos1');
  for (const k of runs) {
    const h = r.hub[k] as
      | {
          load?: { connections: number; sentPerSec: number; sent: number };
          confirmedPerSec?: number | null;
          confirmedPerSecWhileLoaded?: number | null;
          confirmedTotal?: number | null;
          acknowledgedNotStored?: number | null;
          hubRssKb?: number | null;
        }
      | undefined;
    const b = r.baseline[k] as
      | { confirmedPerSec?: number | null; load?: { connections: number } }
      | undefined;
    const fw = r.baseline[`forward_${k}`] as { receivedPerSec?: number } | undefined;
    lines.push(
      `| ${k} | ${fmt(h?.load?.connections ?? b?.load?.connections)} | ${fmt(h?.load?.sentPerSec)} | ${fmt(h?.confirmedPerSec)} | ${fmt(h?.confirmedPerSecWhileLoaded)} | ${fmt(h?.confirmedTotal)} / ${fmt(h?.load?.sent)} | ${fmt(h?.acknowledgedNotStored)} | ${h?.hubRssKb ? `${Math.round(h.hubRssKb / 1024)} MB` : '—'} | ${pct(r.figures[`generatorCpuHub_${k}`])} | ${fmt(b?.confirmedPerSec)} | ${pct(r.figures[`generatorCpuAedes_${k}`])} | ${fmt(fw?.receivedPerSec)} |`,
    );
  }
  lines.push(
    '',
    '"Offered" is what the generator wrote to its sockets; with QoS 0 the kernel buffers hold much of it, so what the hub confirmed is the figure that counts, and "confirmed in all" shows whether anything was lost once the backlog drained. Generator CPU is the load process\'s own user + system time over its run, in % of one core: near 100 % it, not the broker, sets the pace.',
    '',
  );
  lines.push(
    "GridHub ingest figures count what the hub confirmed (the telemetry sink's written counter in `/metrics`; ingest's accepted counter when the sink has none), sampled from the moment the load starts until the count stops growing (all confirmed ÷ that time); “while loaded” is the count between the load's start and its end only. The bare aedes (consuming) takes every message in `authorizePublish`, counts it and forwards nothing — the hub's own pattern without the pipeline — and is sampled the same way, with the same generator and the same offered rates. The forwarding figure (one subscriber on `gh/+/telemetry` counting what aedes forwards) is heavier work than the hub does and is shown for information. The per-device target asks for 20 000 connections; `--quick` uses fewer." +
      ` Memory per idle connection is the RSS a further idle connection costs once idle: sampled with a warm-up of half as many idle connections held, then with the idle run's connections added (a fresh process's first connections grow its heap once, by some 50 MB, which made the figure depend on the connection count), each sample taken once the RSS has settled — fallen by at least half of what those connections added (V8's memory reducer collecting the ~20 KB each CONNECT leaves in the old generation, settled 16–36 s after the last CONNACK at 2 000 connections, 18–73 s at 10 000) and then held still for 5 s, or at most ${fmt(r.parameters.idleSettleSeconds)} s after the last CONNACK (the measured set also what the warm-up left of its wait); no GC is forced. 3 s after the last CONNACK that garbage is still resident and whether a mark-compact fell inside the ramp decides the figure: it is shown for information.` +
      ' The reconnect storm opens every idle-run connection at once (2 000 quick, 10 000 full) and times until the last CONNACK; a device already connected presses its call button 10 times a second meanwhile, and the worst press-to-alarm time counts.',
  );
  lines.push('');
  const extras = Object.entries(r.extra);
  if (extras.length) {
    lines.push('## Other figures', '');
    for (const [k, v] of extras) lines.push(`- \`${k}\`: \`${JSON.stringify(v)}\``);
    lines.push('');
  }
  lines.push('## Commands', '');
  for (const c of r.commands) lines.push(`- \`${c}\``);
  lines.push('');
  if (r.errors.length) {
    lines.push('## Errors', '');
    for (const e of r.errors) lines.push(`- ${e}`);
    lines.push('');
  }
  lines.push(`Bench run took ${r.durationSeconds} s.`, '');
  return lines.join('\n');
}
