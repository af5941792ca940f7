/**
 * What each device type does on its own, driven from the catalogue: heartbeats at the type's `heartbeatMs`,
 * battery drain, bins filling through the day and emptied at collection times, evening e-bike peaks, cooking
 * false alarms, throw detections, rare presses and falls at night.
 *
 * Behaviours only decide what to send and when; they talk to the outside through `DeviceOutput` and read time
 * from the injected Clock, so tests run them on a ManualClock with a seeded Rng and no broker.
 */
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import type { CatalogueEntry, DeviceTypeId } from '../src/catalogue/types.ts';
import type { Clock, TimerHandle } from '../src/clock/clock.ts';
import type { Rng } from './rng.ts';

type Value = number | boolean | string;

export interface DeviceOutput {
  telemetry(values: Record<string, Value>): void;
  event(name: string, data?: Record<string, Value>): void;
}

export interface SimDevice {
  id: string;
  type: DeviceTypeId;
  floor: number | null;
}

export interface BehaviourOptions {
  /** Random incidents (alarms, presses, detections); scenarios turn them off so their checks are exact. */
  incidents: boolean;
  /** Local time zone offset for the daily profiles (default UTC+8). */
  tzOffsetMinutes: number;
  /** Multiplies every incident rate (load tests and demos want more action than real life). */
  incidentRateFactor: number;
  /** Bins are emptied at these local hours. */
  binCollectionHours: readonly number[];
  /** The first heartbeat comes within this many clock ms of start (spreads the initial burst). */
  startSpreadMs: number;
}

export const DEFAULT_BEHAVIOUR_OPTIONS: BehaviourOptions = {
  incidents: true,
  tzOffsetMinutes: 8 * 60,
  incidentRateFactor: 1,
  binCollectionHours: [7, 19],
  startSpreadMs: 60_000,
};

export interface Behaviour {
  start(): void;
  stop(): void;
  /** Current simulated state (battery, fill, …), for logs and tests. */
  state(): Record<string, Value>;
}

export interface BehaviourContext {
  device: SimDevice;
  entry: CatalogueEntry;
  clock: Clock;
  rng: Rng;
  out: DeviceOutput;
  options: BehaviourOptions;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How often incident rates are sampled: fine enough for hour-scale profiles, cheap for thousands of devices. */
export const INCIDENT_TICK_MS = 5 * MINUTE;

/** Local hour of day (fractional) for the daily profiles. */
export function localHour(now: number, tzOffsetMinutes: number): number {
  const ms = (((now + tzOffsetMinutes * MINUTE) % DAY) + DAY) % DAY;
  return ms / HOUR;
}

const inWindow = (h: number, from: number, to: number) => h >= from && h < to;
const round = (v: number, digits: number) => Number(v.toFixed(digits));
const clamp = (v: number, min: number, max: number) => Math.min(max, Math.max(min, v));

/** Timer bookkeeping so `stop()` cancels everything a behaviour scheduled. */
function timers(clock: Clock) {
  const handles = new Set<TimerHandle>();
  let stopped = false;
  const after = (ms: number, fn: () => void) => {
    if (stopped) return;
    const h = clock.setTimeout(() => {
      handles.delete(h);
      if (!stopped) fn();
    }, ms);
    handles.add(h);
  };
  const every = (first: number, period: () => number, fn: () => void) => {
    const loop = () => {
      fn();
      after(period(), loop);
    };
    after(first, loop);
  };
  return {
    after,
    every,
    stop() {
      stopped = true;
      for (const h of handles) clock.clearTimeout(h);
      handles.clear();
    },
  };
}

/** Battery that drains linearly in clock time; a few devices start low so low-battery rules fire. */
function battery(ctx: BehaviourContext, percentPerDay: number) {
  const { rng, clock } = ctx;
  const start = rng.chance(0.03) ? rng.range(14, 24) : rng.range(55, 100);
  const t0 = clock.now();
  return () => round(clamp(start - ((clock.now() - t0) / DAY) * percentPerDay, 0, 100), 1);
}

/**
 * Poisson-like incidents: every INCIDENT_TICK_MS, fire with probability rate(hour)·tick. `ratePerHour` is per
 * device; real devices are quiet, so the defaults are small and `incidentRateFactor` scales them.
 */
function incidents(
  ctx: BehaviourContext,
  t: ReturnType<typeof timers>,
  ratePerHour: (hour: number) => number,
  fire: () => void,
) {
  if (!ctx.options.incidents) return;
  const tickHours = INCIDENT_TICK_MS / HOUR;
  t.every(
    ctx.rng.range(0, INCIDENT_TICK_MS),
    () => INCIDENT_TICK_MS,
    () => {
      const hour = localHour(ctx.clock.now(), ctx.options.tzOffsetMinutes);
      const p = ratePerHour(hour) * ctx.options.incidentRateFactor * tickHours;
      if (ctx.rng.chance(p)) fire();
    },
  );
}

function heartbeat(ctx: BehaviourContext, t: ReturnType<typeof timers>, values: () => Record<string, Value>) {
  const period = ctx.entry.heartbeatMs;
  t.every(
    ctx.rng.range(0, Math.min(period, ctx.options.startSpreadMs)),
    // ±3 % jitter keeps a fleet from marching in step, well inside the 3-heartbeat offline rule.
    () => period * ctx.rng.range(0.97, 1.03),
    () => ctx.out.telemetry(values()),
  );
}

function smoke(ctx: BehaviourContext): Behaviour {
  const t = timers(ctx.clock);
  const { rng, out } = ctx;
  const bat = battery(ctx, 0.05);
  const baseTemp = rng.range(19, 25);
  const rssi = rng.range(-95, -65);
  let alarm = false;
  const values = (): Record<string, Value> => {
    const h = localHour(ctx.clock.now(), ctx.options.tzOffsetMinutes);
    const diurnal = 2 * Math.sin(((h - 9) / 24) * 2 * Math.PI);
    return {
      alarm,
      smoke: alarm ? round(rng.range(0.2, 0.45), 3) : round(rng.range(0, 0.02), 3),
      temperature: round(baseTemp + diurnal + (alarm ? rng.range(6, 14) : rng.normal(0.3)), 1),
      battery: bat(),
      rssi: Math.round(rssi + rng.normal(2)),
    };
  };
  return {
    start() {
      heartbeat(ctx, t, values);
      // Cooking false alarms: lunch and dinner time, cleared by the resident after a few minutes.
      incidents(
        ctx,
        t,
        (h) => (inWindow(h, 11, 13) || inWindow(h, 17, 19.5) ? 0.004 : 0.0002),
        () => {
          if (alarm) return;
          alarm = true;
          out.event('alarm');
          out.telemetry(values());
          t.after(rng.range(1, 4) * MINUTE, () => {
            alarm = false;
            out.event('alarm_clear');
            out.telemetry(values());
          });
        },
      );
      // A monthly self-test by the property staff.
      incidents(
        ctx,
        t,
        (h) => (inWindow(h, 9, 17) ? 1 / (30 * 8) : 0),
        () => out.event('test'),
      );
    },
    stop: () => t.stop(),
    state: () => ({ alarm, battery: bat() }),
  };
}

function throwCamera(ctx: BehaviourContext): Behaviour {
  const t = timers(ctx.clock);
  const { rng, out, device } = ctx;
  let clips = 0;
  return {
    start() {
      heartbeat(ctx, t, () => ({ online: true }));
      incidents(
        ctx,
        t,
        (h) => (inWindow(h, 8, 22) ? 0.01 : 0.001),
        () => {
          clips++;
          out.event('throw_detected', {
            confidence: round(rng.range(0.4, 0.99), 2),
            floor: rng.int(2, Math.max(3, (device.floor ?? 18) + 6)),
            facade: rng.pick(['south', 'north', 'east', 'west']),
            clipId: `clip-${device.id}-${clips}`,
          });
        },
      );
    },
    stop: () => t.stop(),
    state: () => ({ clips }),
  };
}

/** E-bike detections peak in the evening when residents come home; most leave within two minutes. */
export function ebikeRatePerHour(h: number): number {
  if (inWindow(h, 18, 21)) return 0.5;
  if (inWindow(h, 7, 9)) return 0.2;
  if (inWindow(h, 0, 6)) return 0.01;
  return 0.05;
}

function ebike(ctx: BehaviourContext): Behaviour {
  const t = timers(ctx.clock);
  const { rng, out, device } = ctx;
  let present = false;
  let detections = 0;
  return {
    start() {
      heartbeat(ctx, t, () => ({ online: true }));
      incidents(ctx, t, ebikeRatePerHour, () => {
        if (present) return;
        present = true;
        detections++;
        out.event('ebike_detected', {
          confidence: round(rng.range(0.7, 0.99), 2),
          elevatorId: `${device.id}-E1`,
          doorHeld: rng.chance(0.3),
        });
        const stay = rng.chance(0.8) ? rng.range(0.3, 2) : rng.range(3, 10);
        t.after(stay * MINUTE, () => {
          present = false;
          out.event('ebike_cleared');
        });
      });
    },
    stop: () => t.stop(),
    state: () => ({ present, detections }),
  };
}

/** Fill rate in %/h by local hour: breakfast, lunch and the evening are when rubbish goes out. */
export function binFillRatePerHour(h: number): number {
  if (inWindow(h, 6, 9)) return 4;
  if (inWindow(h, 11, 13)) return 3;
  if (inWindow(h, 17, 21)) return 5;
  if (inWindow(h, 0, 6)) return 0.3;
  return 1.2;
}

function bin(ctx: BehaviourContext): Behaviour {
  const t = timers(ctx.clock);
  const { rng, out, clock, options } = ctx;
  const bat = battery(ctx, 0.03);
  const factor = rng.range(0.6, 1.6);
  let fill = rng.range(5, 60);
  let last = clock.now();
  let lastHour = localHour(last, options.tzOffsetMinutes);
  const advance = () => {
    const now = clock.now();
    // Integrate in steps of at most 10 minutes so the hourly profile and collection times are respected.
    while (last < now) {
      const step = Math.min(10 * MINUTE, now - last);
      const hour = localHour(last + step, options.tzOffsetMinutes);
      const collected = options.binCollectionHours.some((c) =>
        lastHour <= hour ? lastHour < c && c <= hour : lastHour < c || c <= hour,
      );
      fill = collected
        ? rng.range(0, 5)
        : clamp(fill + binFillRatePerHour(hour) * factor * (step / HOUR), 0, 100);
      last += step;
      lastHour = hour;
    }
  };
  const values = (): Record<string, Value> => {
    advance();
    const h = localHour(clock.now(), options.tzOffsetMinutes);
    return {
      fill: round(fill, 1),
      temperature: round(18 + 6 * Math.sin(((h - 9) / 24) * 2 * Math.PI) + rng.normal(0.5), 1),
      tilt: false,
      battery: bat(),
    };
  };
  return {
    start() {
      heartbeat(ctx, t, values);
      // Report right after each collection too, so the emptying shows without waiting for a heartbeat.
      for (const c of options.binCollectionHours) {
        const now = clock.now();
        const h = localHour(now, options.tzOffsetMinutes);
        const firstIn = (((c - h + 24) % 24) * HOUR || DAY) + rng.range(1, 20) * MINUTE;
        t.every(
          firstIn,
          () => DAY,
          () => out.telemetry(values()),
        );
      }
    },
    stop: () => t.stop(),
    state: () => {
      advance();
      return { fill: round(fill, 1), battery: bat() };
    },
  };
}

function callButton(ctx: BehaviourContext): Behaviour {
  const t = timers(ctx.clock);
  const { rng, out } = ctx;
  const bat = battery(ctx, 0.04);
  let presses = 0;
  let falls = 0;
  return {
    start() {
      heartbeat(ctx, t, () => ({ battery: bat() }));
      incidents(
        ctx,
        t,
        (h) => (inWindow(h, 7, 22) ? 0.0008 : 0.0004),
        () => {
          presses++;
          out.event('press');
          // Half of the presses are by mistake and cancelled by the resident within a minute.
          if (rng.chance(0.5)) t.after(rng.range(10, 50) * 1000, () => out.event('cancel'));
        },
      );
      incidents(
        ctx,
        t,
        (h) => (inWindow(h, 0, 6) ? 0.0006 : 0.0001),
        () => {
          falls++;
          out.event('fall');
        },
      );
    },
    stop: () => t.stop(),
    state: () => ({ battery: bat(), presses, falls }),
  };
}

const FACTORIES: Record<DeviceTypeId, (ctx: BehaviourContext) => Behaviour> = {
  smoke,
  throw_camera: throwCamera,
  ebike_elevator: ebike,
  bin,
  call_button: callButton,
};

const catalogue = createCatalogue();

export function createBehaviour(
  device: SimDevice,
  deps: { clock: Clock; rng: Rng; out: DeviceOutput; options?: Partial<BehaviourOptions> },
): Behaviour {
  const entry = catalogue.get(device.type);
  const factory = FACTORIES[device.type];
  return factory({
    device,
    entry,
    clock: deps.clock,
    rng: deps.rng,
    out: deps.out,
    options: { ...DEFAULT_BEHAVIOUR_OPTIONS, ...deps.options },
  });
}

/** A valid telemetry payload of the type, for load mode: every field of the catalogue, in range. */
export function sampleTelemetry(type: DeviceTypeId, rng: Rng): Record<string, Value> {
  const entry = catalogue.get(type);
  const out: Record<string, Value> = {};
  for (const [name, spec] of Object.entries(entry.telemetry)) {
    if (spec.kind === 'boolean') out[name] = name === 'online';
    else if (spec.kind === 'string') out[name] = 'x';
    else {
      const min = spec.min ?? 0;
      const max = spec.max ?? 100;
      // Stay in the quiet part of the range so load traffic does not raise alerts of its own.
      const quiet: Record<string, [number, number]> = {
        smoke: [0, 0.02],
        temperature: [18, 26],
        battery: [60, 100],
        fill: [10, 60],
        rssi: [-90, -60],
      };
      const [lo, hi] = quiet[name] ?? [min, max];
      out[name] = round(rng.range(lo, hi), 2);
    }
  }
  return out;
}
