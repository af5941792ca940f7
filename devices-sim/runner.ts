/**
 * Runs a scenario against a hub: connects the fleet, plays the timeline on the hub's (possibly accelerated)
 * clock, then polls the hub until the outcome checks pass or the settle time runs out.
 */
import type { Logger } from 'pino';
import { type Clock, createSystemClock } from '../src/clock/clock.ts';
import type { PlacePath } from '../src/domain/places.ts';
import type { DeviceChannel } from '../src/domain/wire.ts';
import { type CheckResult, evaluate, formatResults, matchingAlerts, type Observed } from './checks.ts';
import type { CredentialDevice, Credentials } from './credentials.ts';
import { selectGroups } from './credentials.ts';
import { createFleet, listenToWorkerAlarms } from './fleet.ts';
import { type AlertSummary, createHubApi, type HubApi } from './hub-api.ts';
import { createRng } from './rng.ts';
import {
  type Expectation,
  expectationBody,
  parseTarget,
  type Scenario,
  type ScenarioStep,
} from './scenario.ts';

export interface RunScenarioOptions {
  scenario: Scenario;
  credentials: Credentials;
  log: Logger;
  /** Overrides of the URLs in the credentials file. */
  mqttUrl?: string;
  httpUrl?: string;
  /** Used when the hub does not report its clock; must then equal the hub's GRIDHUB_CLOCK_SPEED. */
  speed?: number;
  seed?: string | number;
  /** Skip the API checks (e.g. against a bare broker in tests). */
  checks?: boolean;
  /** Printed progress (stderr by default). */
  print?: (line: string) => void;
}

export interface ScenarioOutcome {
  ok: boolean;
  results: CheckResult[];
  speed: number;
  clockSource: 'hub' | 'option';
  connected: number;
  failedConnections: { id: string; reason: string }[];
  published: number;
  errorsReceived: number;
  alarmsReceived: number;
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function clockWait(clock: Clock, ms: number): Promise<void> {
  return new Promise<void>((r) => {
    clock.setTimeout(r, ms);
  });
}

export async function runScenario(o: RunScenarioOptions): Promise<ScenarioOutcome> {
  const { scenario: sc, credentials: creds, log } = o;
  const print = o.print ?? ((l: string) => process.stderr.write(`${l}\n`));
  const mqttUrl = o.mqttUrl ?? creds.mqttUrl;
  const api = createHubApi(o.httpUrl ?? creds.httpUrl);
  const seed = o.seed ?? sc.name;
  const doChecks = o.checks ?? true;

  const hubClock = doChecks ? await api.clock().catch(() => undefined) : undefined;
  const speed = hubClock?.speed ?? o.speed ?? sc.suggestedSpeed;
  if (hubClock && o.speed !== undefined && o.speed !== hubClock.speed) {
    print(`note: --speed ${o.speed} ignored: the hub runs at speed ${hubClock.speed} (GRIDHUB_CLOCK_SPEED)`);
  }
  if (!hubClock && doChecks) {
    print(
      `note: the hub does not report its clock (GET /api/clock); running at speed ${speed}: start the hub with GRIDHUB_CLOCK_SPEED=${speed}`,
    );
  }
  const clock = createSystemClock(hubClock ? { speed, startAt: hubClock.now } : { speed });

  const devices = await withPlaces(api, creds, sc, doChecks, print);
  const groups = selectGroups(devices, sc.groups, createRng(seed));
  const inGroups = new Map<string, CredentialDevice>();
  for (const ds of Object.values(groups)) for (const d of ds) inGroups.set(d.id, d);
  const fleetDevices = new Map(inGroups);
  const background = new Set<string>();
  if (sc.background.devices === 'groups') for (const id of inGroups.keys()) background.add(id);
  if (sc.background.devices === 'all') {
    for (const d of creds.devices) {
      if (background.size >= Math.max(sc.background.max, inGroups.size)) break;
      fleetDevices.set(d.id, d);
      background.add(d.id);
    }
    for (const id of inGroups.keys()) background.add(id);
  }
  const resolve = (ref: string): string[] => {
    const t = parseTarget(ref);
    const g = groups[t.group] ?? [];
    if (t.index === undefined) return g.map((d) => d.id);
    const d = g[t.index];
    return d ? [d.id] : [];
  };

  print(
    `scenario ${sc.name}: ${Object.entries(groups)
      .map(([n, ds]) => `${n}=${ds.length}`)
      .join(
        ' ',
      )}; ${fleetDevices.size} device connection(s); speed ${speed}× (${hubClock ? 'hub clock' : 'option'}); ${sc.duration / 60_000} virtual min ≈ ${(sc.duration / speed / 1000).toFixed(1)} s`,
  );

  const fleet = createFleet({
    mqttUrl,
    devices: [...fleetDevices.values()],
    background,
    clock,
    seed,
    log,
    behaviour: { incidents: sc.background.incidents },
    onDeviceError: (id, e) =>
      print(
        `  errors topic of ${id}: ${'code' in e ? `${e.code}${e.field ? ` (${e.field})` : ''}${e.index !== undefined ? ` [${e.index}]` : ''}: ${e.message}` : e.raw}`,
      ),
  });
  const alarms = await listenToWorkerAlarms(mqttUrl, creds.workers, log);
  const conn = await fleet.connectAll();
  if (conn.failed.length) {
    print(`warning: ${conn.failed.length} device(s) could not connect, e.g. ${conn.failed[0]?.reason}`);
  }
  fleet.startBehaviours();

  const tokens = new Map<string, string>();
  const tokenFor = async (role: string): Promise<string[]> => {
    const users = creds.users.filter((u) => u.role === role);
    const out: string[] = [];
    for (const u of users) {
      const key = u.username;
      let t = tokens.get(key);
      if (!t) {
        t = await api.login(u.username, u.password);
        tokens.set(key, t);
      }
      out.push(t);
    }
    // Grid workers' API tokens (their phones' credentials) are bearer tokens too: one of them is in scope.
    if (role === 'worker') for (const w of creds.workers) out.push(w.token);
    return out;
  };

  let t0 = clock.now();
  const stepErrors: string[] = [];
  const runStep = async (step: ScenarioStep) => {
    const ids = resolve(step.target);
    const label = `[+${Math.round((clock.now() - t0) / 1000)}s] ${step.target}`;
    if ('alertAction' in step) {
      for (const id of ids) {
        try {
          await actOnAlert(api, tokenFor, id, step.alertAction, step.as, step.body);
          print(`${label}: ${step.alertAction} the alert of ${id} as ${step.as}`);
        } catch (err) {
          stepErrors.push(`${label}: ${step.alertAction} failed: ${(err as Error).message}`);
          print(`${label}: ${step.alertAction} failed: ${(err as Error).message}`);
        }
      }
      return;
    }
    for (const id of ids) {
      const c = fleet.client(id);
      if (!c) continue;
      if ('disconnect' in step) c.kill();
      else if ('reconnect' in step) void c.connect().catch((err: Error) => print(`${label}: ${err.message}`));
      else {
        let channel: DeviceChannel;
        let payload: string | object;
        let qos: 0 | 1 = 0;
        if ('event' in step) {
          channel = 'event';
          payload = step.data ? { event: step.event, data: step.data } : { event: step.event };
          qos = step.qos;
        } else if ('telemetry' in step) {
          channel = 'telemetry';
          payload = step.telemetry;
          qos = step.qos;
        } else if ('status' in step) {
          channel = 'status';
          payload = step.status;
          qos = 1;
        } else {
          channel = step.raw.channel;
          payload = step.raw.payload;
          qos = step.qos;
        }
        c.publish(channel, payload, qos).catch((err: Error) => stepErrors.push(`${label}: ${err.message}`));
      }
    }
    const what =
      'event' in step
        ? `event ${step.event}`
        : 'telemetry' in step
          ? `telemetry ${JSON.stringify(step.telemetry)}`
          : 'status' in step
            ? `status ${step.status}`
            : 'raw' in step
              ? `raw ${step.raw.channel} ${JSON.stringify(step.raw.payload).slice(0, 60)}`
              : 'disconnect' in step
                ? 'connection dropped'
                : 'reconnect';
    print(
      `${label}: ${ids.length > 1 ? `${ids.length} devices` : (ids[0] ?? '-')} ${what}${step.note ? ` — ${step.note}` : ''}`,
    );
  };

  const admin = creds.users.find((u) => u.role === 'admin');
  let adminToken: string | undefined;
  if (doChecks && sc.expect.length) {
    if (!admin) throw new Error('the credentials file has no admin user: the checks cannot read alerts');
    adminToken = await api.login(admin.username, admin.password);
  }
  /** Poll until every check passes or the real deadline passes; the last evaluation stands. */
  const checkUntil = async (list: readonly Expectation[], deadline: number): Promise<CheckResult[]> => {
    let out: CheckResult[] = [];
    for (;;) {
      const observed = await observe(
        api,
        adminToken as string,
        list,
        t0,
        resolve,
        fleet.errors,
        alarms.messages,
      );
      out = list.map((e) => evaluate(e, observed, resolve));
      if (out.every((r) => r.ok) || Date.now() > deadline) return out;
      await wait(500);
    }
  };

  // Steps count from here: after connecting and logging in, which take real (and so virtual) time.
  t0 = clock.now();
  const pending: Promise<void>[] = [];
  for (const step of [...sc.timeline].sort((a, b) => a.at - b.at)) {
    pending.push(clockWait(clock, step.at).then(() => runStep(step)));
  }
  const timed = new Map<Expectation, CheckResult>();
  if (adminToken) {
    for (const e of sc.expect) {
      const at = expectationBody(e).at;
      if (at === undefined) continue;
      // A check in the timeline gets a few real seconds, never past the next steps' sense of "now".
      pending.push(
        clockWait(clock, at).then(async () => {
          const [r] = await checkUntil([e], Date.now() + Math.min(5_000, sc.settleSeconds * 1000)).catch(
            (err: Error) => [
              { ok: false, name: 'check', expected: 'an answer from the API', seen: err.message },
            ],
          );
          if (r) timed.set(e, r);
          print(`[+${Math.round((clock.now() - t0) / 1000)}s] check: ${r?.ok ? 'PASS' : 'FAIL'} ${r?.name}`);
        }),
      );
    }
  }
  await clockWait(clock, sc.duration);
  await Promise.all(pending);

  let results: CheckResult[] = [];
  if (adminToken) {
    const final = sc.expect.filter((e) => expectationBody(e).at === undefined);
    const finalResults = await checkUntil(final, Date.now() + sc.settleSeconds * 1000);
    results = sc.expect.map((e) => timed.get(e) ?? (finalResults[final.indexOf(e)] as CheckResult));
    print(formatResults(results));
  }
  for (const e of stepErrors) print(`step error: ${e}`);

  await fleet.stop();
  await alarms.stop();
  const errorsReceived = [...fleet.errors.values()].reduce((n, l) => n + l.length, 0);
  return {
    ok: results.every((r) => r.ok),
    results,
    speed,
    clockSource: hubClock ? 'hub' : 'option',
    connected: conn.connected,
    failedConnections: conn.failed,
    published: fleet.stats.published,
    errorsReceived,
    alarmsReceived: alarms.messages.length,
  };
}

/** Devices with their place ancestry from the API, when a group is chosen by place level. */
async function withPlaces(
  api: HubApi,
  creds: Credentials,
  sc: Scenario,
  useApi: boolean,
  print: (l: string) => void,
): Promise<CredentialDevice[]> {
  const needs = Object.values(sc.groups).some((g) => typeof g.samePlace === 'string');
  const admin = creds.users.find((u) => u.role === 'admin');
  if (!needs || !useApi || !admin) return creds.devices;
  try {
    const token = await api.login(admin.username, admin.password);
    const places = new Map<string, PlacePath>();
    for (const d of await api.devices(token)) {
      if (typeof d.id === 'string' && d.place && typeof d.place === 'object')
        places.set(d.id, d.place as PlacePath);
    }
    return creds.devices.map((d) => ({ ...d, place: places.get(d.id) }));
  } catch (err) {
    print(
      `note: device places not readable from the API (${(err as Error).message}); grouping by install place`,
    );
    return creds.devices;
  }
}

async function observe(
  api: HubApi,
  token: string,
  expectations: readonly Expectation[],
  startedAt: number,
  resolve: (ref: string) => string[],
  errors: Map<string, ({ code?: string } | { raw: string })[]>,
  alarms: { topic: string; text: string }[],
): Promise<Observed> {
  const needsAlerts = expectations.some((e) => 'alerts' in e);
  let alerts: AlertSummary[] = [];
  if (needsAlerts) {
    // Without a status filter the API lists every status, newest first (resolved ones count for some checks).
    alerts = await api.alerts(token);
  }
  const details = new Map<string, Record<string, unknown>>();
  const devices = new Map<string, Record<string, unknown> | undefined>();
  let listed: Map<string, Record<string, unknown>> | undefined;
  for (const e of expectations) {
    if ('alerts' in e && e.alerts.timeline?.length) {
      for (const a of matchingAlerts(
        e.alerts,
        { alerts, details, errors: new Map(), alarms: [], devices },
        resolve,
      )) {
        if (!details.has(a.id)) details.set(a.id, await api.alert(token, a.id));
      }
    }
    if ('offline' in e || 'online' in e) {
      // One list request rather than one per device: at speed 60 a second of polling is a virtual minute.
      if (!listed) {
        listed = new Map();
        for (const d of await api.devices(token)) if (typeof d.id === 'string') listed.set(d.id, d);
      }
      for (const id of resolve(expectationBody(e).target)) devices.set(id, listed.get(id));
    }
  }
  const errs = new Map<string, { code?: string }[]>();
  for (const [id, list] of errors)
    errs.set(
      id,
      list.map((m) => ('code' in m ? { code: m.code } : {})),
    );
  return {
    alerts,
    details,
    errors: errs,
    alarms: alarms.map((a) => ({ topic: a.topic, text: a.text })),
    devices,
    startedAt,
  };
}

/** Act on the newest open alert of a device as the first user of the role allowed to (scopes differ). */
async function actOnAlert(
  api: HubApi,
  tokenFor: (role: string) => Promise<string[]>,
  deviceId: string,
  action: string,
  role: string,
  body: Record<string, unknown> | undefined,
): Promise<void> {
  const tokens = [...(await tokenFor(role)), ...(role === 'admin' ? [] : await tokenFor('admin'))];
  if (!tokens.length) throw new Error(`no user with role ${role} in the credentials file`);
  let last: Error = new Error(`no open alert of ${deviceId} visible to role ${role}`);
  for (const token of tokens) {
    const list = await api.alerts(token, { deviceId }).catch(() => [] as AlertSummary[]);
    const open = list
      .filter((a) => a.deviceId === deviceId && !/resolved|closed|false_alarm/.test(a.status))
      .sort((a, b) =>
        String(b.raw.openedAt ?? b.raw.createdAt ?? '').localeCompare(
          String(a.raw.openedAt ?? a.raw.createdAt ?? ''),
        ),
      );
    const target = open[0];
    if (!target) continue;
    try {
      await api.alertAction(token, target.id, action, body ?? { note: 'scenario' });
      return;
    } catch (err) {
      last = err as Error;
    }
  }
  throw last;
}
