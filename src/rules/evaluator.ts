import type { Logger } from 'pino';
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import type { PlacePath } from '../domain/places.ts';
import type { FieldValue, Reading } from '../domain/reading.ts';
import type { RuleOutcome, RuleResult } from '../domain/rule-result.ts';
import type { CompiledRule } from './compile.ts';
import { type EvalContext, fieldsOf, type OpsState } from './conditions.ts';
import type { CompiledTemplate, TemplateLookup } from './templates.ts';

/**
 * The stateful evaluator: per (rule, device) a small state machine.
 *
 *   idle ──condition true──▶ pending (with `for`) ──held for `for`──▶ active (raised)
 *     ▲                          │ a reading that fails the condition        │
 *     └──────────────────────────┘                                             │
 *     └────── clear condition (or, without `clear.when`, the condition false) ─┘
 *
 * Rules without `clear` raise on every reading on which the condition holds (after `for`); the dispatcher's
 * dedup counts the repeats, or opens one alert per occurrence. Absence rules raise when a device has sent
 * nothing for their duration and clear when it speaks again. All times are clock time (`clock.now()`), not
 * device time: a device with a wrong clock cannot shorten or stretch a duration.
 */
export type Phase = 'idle' | 'pending' | 'active';

export interface RuleState {
  phase: Phase;
  /** When the condition started holding (pending). */
  since: number | null;
  /** When this rule last raised for the device; kept after idle so facts can refer to that alert. */
  raisedAt: number | null;
  ops: OpsState;
  /** The last reading on which the condition held, for templates when a timer raises. */
  last: Reading | null;
  /** Fingerprint of the condition tree `ops` belongs to. */
  fp: string;
  timer?: { at: number; handle: TimerHandle } | undefined;
}

export interface DeviceInfo {
  deviceId: string;
  deviceType: DeviceTypeId;
  placeId: string;
  place: PlacePath;
  floor: number | null;
}

export interface Presence extends DeviceInfo {
  /** Clock time of the last message from the device (or of start-up for never-seen devices). */
  lastSeen: number;
}

export interface PresenceSeed extends DeviceInfo {
  lastSeen: number | null;
}

/** Where state changes go (SQLite in the engine, nowhere in the test sandbox). */
export interface StatePersistence {
  /** `urgent` when the phase changed: written at once rather than coalesced. */
  stateChanged(ruleId: string, deviceId: string, state: RuleState | null, urgent: boolean): void;
  presenceChanged(presence: Presence): void;
  presenceRemoved(deviceId: string): void;
}

export interface EvaluatorDeps {
  clock: Clock;
  log: Logger;
  /**
   * Where results fired by a timer (absence, `for`) go: the same flow that records a reading's results. When it
   * throws, the rule's state is rolled back and the timer fires again after a back-off.
   */
  onTimerResults?: ((results: readonly RuleResult[]) => void | Promise<void>) | undefined;
  persist?: StatePersistence | undefined;
  /** Time the per-rule evaluations of one reading in this many (cost estimate for the metrics). */
  sampleEvery?: number;
  /** Called with the duration (seconds) of a sampled reading's evaluation. */
  onSample?: (seconds: number) => void;
  onResult?: (kind: RuleResult['kind']) => void;
}

export interface Evaluator {
  setRules(rules: readonly CompiledRule[]): void;
  rules(): readonly CompiledRule[];
  /** Evaluate every rule of the reading's type; the state advances tentatively: the outcome can undo it. */
  handle(reading: Reading): RuleOutcome;
  seedPresence(devices: readonly PresenceSeed[]): void;
  /** Install persisted state; call before setRules. */
  restore(
    states: Iterable<{ ruleId: string; deviceId: string; state: RuleState }>,
    presence: Iterable<Presence>,
  ): void;
  state(ruleId: string, deviceId: string): RuleState | undefined;
  /** Drop a removed device: its timers, state and presence (no results are emitted). */
  forgetDevice(deviceId: string): void;
  /**
   * Owner routing: take devices over with the state another instance left (their `for` timers and absences
   * re-armed from it, as after a restart); `seeds` time the absence of a device with no stored last-seen.
   */
  adopt(
    states: Iterable<{ ruleId: string; deviceId: string; state: RuleState }>,
    presence: Iterable<Presence>,
    seeds: readonly PresenceSeed[],
  ): void;
  /** Owner routing: stop evaluating devices another instance takes over (memory only; the store keeps them). */
  release(deviceIds: Iterable<string>): void;
  close(): void;
}

type Snapshot = Omit<RuleState, 'timer'>;

/** A copy of a state that later evaluation cannot change (operators mutate their `ops` arrays in place). */
function snapshot(st: RuleState): Snapshot {
  let ops = st.ops;
  for (const _ in ops) {
    ops = {};
    for (const k in st.ops) ops[k] = (st.ops[k] as number[]).slice();
    break;
  }
  return { phase: st.phase, since: st.since, raisedAt: st.raisedAt, ops, last: st.last, fp: st.fp };
}

export function newState(fp: string): RuleState {
  return { phase: 'idle', since: null, raisedAt: null, ops: {}, last: null, fp };
}

export function isEmptyState(st: RuleState): boolean {
  return st.phase === 'idle' && st.raisedAt === null && Object.values(st.ops).every((o) => o.length === 0);
}

function placeMatches(placeId: string, place: PlacePath, wanted: string): boolean {
  if (placeId === wanted) return true;
  for (const k in place) if (place[k as keyof PlacePath] === wanted) return true;
  return false;
}

/** Retries of a timer result that could not be recorded: 1 s, doubling, at most a minute apart. */
const TIMER_RETRY_MS = 1_000;
const TIMER_RETRY_MAX_MS = 60_000;

/** The point to store: the reading with the fields the rules derived. */
function withDerived(reading: Reading, derived: Record<string, FieldValue>): Reading {
  if (reading.kind === 'telemetry') return { ...reading, values: { ...reading.values, ...derived } };
  if (reading.kind === 'event') return { ...reading, data: { ...reading.data, ...derived } };
  return reading;
}

function iso(ms: number | null | undefined): string | undefined {
  return ms === null || ms === undefined ? undefined : new Date(ms).toISOString();
}

export function createEvaluator(deps: EvaluatorDeps): Evaluator {
  const { clock, log, persist } = deps;
  const sampleEvery = deps.sampleEvery ?? 64;
  let rulesById = new Map<string, CompiledRule>();
  let byType = new Map<DeviceTypeId, CompiledRule[]>();
  let ordered: CompiledRule[] = [];
  /** deviceId → ruleId → state. One map lookup per reading, then one per rule. */
  const states = new Map<string, Map<string, RuleState>>();
  const presence = new Map<string, Presence>();
  let seq = 0;
  let closed = false;

  /** Results of the evaluation in progress (a reading, or a timer). */
  let results: RuleResult[] = [];
  const emit = (result: RuleResult) => {
    deps.onResult?.(result.kind);
    results.push(result);
  };

  /**
   * The undo log of the evaluation in progress: each state a result-yielding rule had before it, so that a
   * result that could not be recorded leaves no trace. `undefined` = the state did not exist yet.
   */
  type UndoLog = { rule: CompiledRule; deviceId: string; before: Snapshot | undefined }[];
  let undo: UndoLog = [];
  const remember = (rule: CompiledRule, deviceId: string) => {
    const st = states.get(deviceId)?.get(rule.id);
    undo.push({ rule, deviceId, before: st ? snapshot(st) : undefined });
  };
  /** Undo one evaluation's log (each evaluation starts its own, so one still recording keeps its own). */
  const rollbackLog = (log: UndoLog) => {
    for (let i = log.length - 1; i >= 0; i--) {
      const { rule, deviceId, before } = log[i] as UndoLog[number];
      const m = states.get(deviceId);
      const st = m?.get(rule.id);
      if (st) cancelTimer(st);
      if (!before) {
        m?.delete(rule.id);
        persist?.stateChanged(rule.id, deviceId, null, true);
        continue;
      }
      const restored = st ?? (getState(rule, deviceId, true) as RuleState);
      Object.assign(restored, before, { timer: undefined });
      changed(rule, deviceId, restored, true);
      if (restored.phase === 'pending' && restored.since !== null)
        armTimer(rule, deviceId, restored, restored.since + rule.forMs);
      else if (rule.absenceMs) {
        const p = presence.get(deviceId);
        if (p) scheduleAbsence(rule, p);
      }
    }
    log.length = 0;
  };
  /** Nothing to undo: an evaluation without results is never recorded. */
  const NOTHING = () => {};

  const deviceStates = (deviceId: string) => {
    let m = states.get(deviceId);
    if (!m) {
      m = new Map();
      states.set(deviceId, m);
    }
    return m;
  };

  const getState = (rule: CompiledRule, deviceId: string, create: boolean): RuleState | undefined => {
    const m = create ? deviceStates(deviceId) : states.get(deviceId);
    let st = m?.get(rule.id);
    if (!st && create && m) {
      st = newState(rule.fingerprint);
      m.set(rule.id, st);
    }
    return st;
  };

  const changed = (rule: CompiledRule, deviceId: string, st: RuleState, urgent: boolean) => {
    persist?.stateChanged(rule.id, deviceId, isEmptyState(st) ? null : st, urgent);
  };

  const cancelTimer = (st: RuleState) => {
    if (st.timer) {
      clock.clearTimeout(st.timer.handle);
      st.timer = undefined;
    }
  };

  /** Lazy timers: an earlier timer is kept and re-armed when it fires, so readings rarely touch timers. */
  const armTimer = (rule: CompiledRule, deviceId: string, st: RuleState, at: number) => {
    if (closed) return;
    if (st.timer && st.timer.at <= at) return;
    cancelTimer(st);
    const ruleId = rule.id;
    const handle = clock.setTimeout(() => onTimer(ruleId, deviceId), Math.max(0, at - clock.now()));
    st.timer = { at, handle };
  };

  const lookupFor = (
    rule: CompiledRule,
    dev: DeviceInfo,
    reading: Reading | null,
    st: RuleState | undefined,
    now: number,
  ): TemplateLookup => {
    const fields = reading ? fieldsOf(reading) : undefined;
    return (name) => {
      const dot = name.indexOf('.');
      if (dot < 0) return fields && Object.hasOwn(fields, name) ? fields[name] : undefined;
      const ns = name.slice(0, dot);
      const key = name.slice(dot + 1);
      switch (ns) {
        case 'device':
          return key === 'id' ? dev.deviceId : key === 'type' ? dev.deviceType : dev.floor;
        case 'place':
          return key === 'id' ? dev.placeId : dev.place[key as keyof PlacePath];
        case 'rule':
          return key === 'id' ? rule.id : rule.rule.name;
        case 'reading':
          if (!reading) return undefined;
          if (key === 'event') return reading.kind === 'event' ? reading.event : undefined;
          if (key === 'ts') return iso(reading.ts);
          return reading.kind;
        case 'absence': {
          const p = presence.get(dev.deviceId);
          if (!p) return undefined;
          if (key === 'lastSeen') return iso(p.lastSeen);
          return Math.round((now - p.lastSeen) / 60_000);
        }
        case 'alert':
          if (st?.raisedAt === null || st?.raisedAt === undefined) return undefined;
          if (key === 'raisedAt') return iso(st.raisedAt);
          return Math.round((now - st.raisedAt) / 60_000);
        default:
          return undefined;
      }
    };
  };

  const evidenceOf = (list: [string, CompiledTemplate][], lookup: TemplateLookup) => {
    if (list.length === 0) return undefined;
    const out: Record<string, string | number | boolean> = {};
    for (const [k, t] of list) {
      if (t.single !== undefined) {
        const v = lookup(t.single);
        if (v !== undefined && v !== null) out[k] = v;
      } else out[k] = t.render(lookup);
    }
    return out;
  };

  const base = (rule: CompiledRule, dev: DeviceInfo, at: number, reading: Reading | null) => ({
    ruleId: rule.id,
    deviceId: dev.deviceId,
    deviceType: dev.deviceType,
    placeId: dev.placeId,
    place: dev.place,
    floor: dev.floor,
    at,
    ...(reading ? { reading } : {}),
  });

  const raise = (
    rule: CompiledRule,
    dev: DeviceInfo,
    st: RuleState,
    reading: Reading | null,
    now: number,
  ) => {
    const r = rule.raise;
    cancelTimer(st);
    // A repeat (already active) is not a phase change: coalesced, so a chatty alarm costs no write per reading.
    const urgent = st.phase !== 'active';
    st.phase = 'active';
    st.since = null;
    st.raisedAt = now;
    changed(rule, dev.deviceId, st, urgent);
    if (!r) return;
    const lookup = lookupFor(rule, dev, reading, st, now);
    const evidence = evidenceOf(r.evidence, lookup);
    emit({
      kind: 'raise',
      ...base(rule, dev, now, reading),
      severity: r.severity,
      category: r.category,
      title: r.title.render(lookup),
      detail: r.detail.render(lookup),
      ...(evidence ? { evidence } : {}),
      dedup: r.dedup,
    });
  };

  const toIdle = (rule: CompiledRule, deviceId: string, st: RuleState) => {
    cancelTimer(st);
    st.phase = 'idle';
    st.since = null;
    st.last = null;
    changed(rule, deviceId, st, true);
  };

  /** Consecutive failed recordings of a timer's results, per rule and device: the back-off of its retries. */
  const timerFailures = new Map<string, number>();

  function onTimer(ruleId: string, deviceId: string): void {
    if (closed) return;
    const rule = rulesById.get(ruleId);
    const st = states.get(deviceId)?.get(ruleId);
    if (!rule || !st) return;
    st.timer = undefined;
    results = [];
    const mine: UndoLog = [];
    undo = mine;
    remember(rule, deviceId);
    try {
      fireTimer(rule, deviceId, st, clock.now());
    } catch (err) {
      rule.stats.errors++;
      log.warn({ err, ruleId, deviceId }, 'rule timer failed');
      return;
    }
    if (results.length === 0 || !deps.onTimerResults) return;
    const key = `${ruleId}\u0000${deviceId}`;
    const failed = (err: unknown) => {
      rollbackLog(mine);
      const failures = (timerFailures.get(key) ?? 0) + 1;
      timerFailures.set(key, failures);
      const retryMs = Math.min(TIMER_RETRY_MAX_MS, TIMER_RETRY_MS * 2 ** (failures - 1));
      log.error({ err, ruleId, deviceId, failures, retryMs }, 'recording a timer result failed; retrying');
      const again = states.get(deviceId)?.get(ruleId) ?? (getState(rule, deviceId, true) as RuleState);
      cancelTimer(again);
      armTimer(rule, deviceId, again, clock.now() + retryMs);
    };
    let recorded: void | Promise<void>;
    try {
      recorded = deps.onTimerResults(results);
    } catch (err) {
      failed(err);
      return;
    }
    // The recording may await the alert store (PostgreSQL) while other evaluations run: `mine` is this timer's.
    if (recorded instanceof Promise) void recorded.then(() => timerFailures.delete(key), failed);
    else timerFailures.delete(key);
  }

  function fireTimer(rule: CompiledRule, deviceId: string, st: RuleState, now: number): void {
    if (rule.absenceMs) {
      const p = presence.get(deviceId);
      const ms = p && rule.absenceMs.get(p.deviceType);
      if (!p || ms === undefined || st.phase === 'active') return;
      const due = p.lastSeen + ms;
      if (now < due) armTimer(rule, deviceId, st, due);
      else {
        rule.stats.matches++;
        raise(rule, p, st, null, now);
      }
      return;
    }
    if (st.phase !== 'pending' || st.since === null) return;
    const due = st.since + rule.forMs;
    if (now < due) {
      armTimer(rule, deviceId, st, due);
      return;
    }
    const dev: DeviceInfo | undefined = st.last ?? presence.get(deviceId);
    if (dev) raise(rule, dev, st, st.last, now);
  }

  /** Evaluate one rule against one reading. Returns derived fields to write, if any. */
  const evaluate = (
    rule: CompiledRule,
    reading: Reading,
    now: number,
    speaks: boolean,
    prevSeen: number | undefined,
  ): Record<string, FieldValue> | undefined => {
    const deviceId = reading.deviceId;
    if (rule.absenceMs) {
      if (!speaks) return undefined;
      const ms = rule.absenceMs.get(reading.deviceType);
      if (ms === undefined) return undefined;
      const st = getState(rule, deviceId, true) as RuleState;
      if (st.phase === 'active') {
        const silent = prevSeen === undefined ? 0 : Math.round((now - prevSeen) / 60_000);
        st.phase = 'idle';
        st.raisedAt = null;
        changed(rule, deviceId, st, true);
        emit({
          kind: 'clear',
          ...base(rule, reading, now, reading),
          resolution: 'auto',
          note: `device is sending again after ${silent} min of silence`,
        });
      }
      armTimer(rule, deviceId, st, now + ms);
      return undefined;
    }

    let st = getState(rule, deviceId, false);
    const ctx: EvalContext = {
      reading,
      fields: fieldsOf(reading),
      now,
      ops: st?.ops ?? {},
      opsChanged: false,
    };

    for (const f of rule.facts) {
      if (st?.raisedAt === null || st?.raisedAt === undefined) break;
      if (f.when(ctx) !== true) continue;
      if (f.withinMs !== undefined && now - st.raisedAt > f.withinMs) continue;
      emit({
        kind: 'fact',
        ...base(rule, reading, now, reading),
        fact: f.fact,
        note: f.note.render(lookupFor(rule, reading, reading, st, now)),
      });
    }

    for (const n of rule.notes) {
      if (st?.raisedAt === null || st?.raisedAt === undefined) break;
      if (n.when(ctx) !== true) continue;
      if (n.withinMs !== undefined && now - st.raisedAt > n.withinMs) continue;
      emit({
        kind: 'update',
        ...base(rule, reading, now, reading),
        detail: n.detail.render(lookupFor(rule, reading, reading, st, now)),
      });
    }

    const c = rule.condition?.(ctx);
    if (ctx.opsChanged && !st) {
      // A stateful operator started remembering: keep its memory with a state record.
      st = getState(rule, deviceId, true) as RuleState;
      st.ops = ctx.ops;
    }
    let derived: Record<string, FieldValue> | undefined;
    if (c === true) {
      rule.stats.matches++;
      if (rule.write.length > 0) {
        derived = {};
        const lookup = lookupFor(rule, reading, reading, st, now);
        for (const [k, v] of rule.write) derived[k] = typeof v === 'object' ? v.render(lookup) : v;
      }
    }

    if (!rule.raise) {
      if (st && ctx.opsChanged) changed(rule, deviceId, st, false);
      return derived;
    }

    if (st?.phase === 'active' && rule.clear) {
      const cl = rule.clear.when ? rule.clear.when(ctx) : c === undefined ? undefined : !c;
      if (cl === true) {
        const clear = rule.clear;
        const late = clear.withinMs !== undefined && now - (st.raisedAt ?? now) > clear.withinMs;
        const lookup = lookupFor(rule, reading, reading, st, now);
        toIdle(rule, deviceId, st);
        if (!late || clear.late === 'clear') {
          emit({
            kind: 'clear',
            ...base(rule, reading, now, reading),
            resolution: late ? 'auto' : clear.resolution,
            note: clear.note.render(lookup),
          });
        } else if (clear.late === 'update') {
          emit({ kind: 'update', ...base(rule, reading, now, reading), detail: clear.note.render(lookup) });
        }
        return derived;
      }
      if (c === true && rule.update) {
        const u = rule.update;
        const lookup = lookupFor(rule, reading, reading, st, now);
        const evidence = evidenceOf(u.evidence, lookup);
        emit({
          kind: 'update',
          ...base(rule, reading, now, reading),
          ...(u.detail ? { detail: u.detail.render(lookup) } : {}),
          ...(u.severity ? { severity: u.severity } : {}),
          ...(evidence ? { evidence } : {}),
        });
      }
      if (ctx.opsChanged) changed(rule, deviceId, st, false);
      return derived;
    }

    if (c === true) {
      if (rule.forMs === 0) {
        st ??= getState(rule, deviceId, true) as RuleState;
        raise(rule, reading, st, reading, now);
      } else {
        st ??= getState(rule, deviceId, true) as RuleState;
        if (st.phase === 'idle') {
          st.phase = 'pending';
          st.since = now;
          st.last = reading;
          changed(rule, deviceId, st, true);
          armTimer(rule, deviceId, st, now + rule.forMs);
        } else if (st.phase === 'pending') {
          st.last = reading;
          if (st.since !== null && now >= st.since + rule.forMs) raise(rule, reading, st, reading, now);
          else changed(rule, deviceId, st, false);
        } else {
          // Active without a clear condition: every holding reading is a repeat.
          raise(rule, reading, st, reading, now);
        }
      }
    } else if (c === false && st && st.phase !== 'idle') {
      toIdle(rule, deviceId, st);
    } else if (st && ctx.opsChanged) {
      changed(rule, deviceId, st, false);
    }
    return derived;
  };

  const touch = (reading: Reading, now: number): number | undefined => {
    let p = presence.get(reading.deviceId);
    const prev = p?.lastSeen;
    if (!p) {
      p = {
        deviceId: reading.deviceId,
        deviceType: reading.deviceType,
        placeId: reading.placeId,
        place: reading.place,
        floor: reading.floor,
        lastSeen: now,
      };
      presence.set(reading.deviceId, p);
    } else {
      p.lastSeen = now;
      if (p.placeId !== reading.placeId || p.floor !== reading.floor || p.deviceType !== reading.deviceType) {
        p.placeId = reading.placeId;
        p.place = reading.place;
        p.floor = reading.floor;
        p.deviceType = reading.deviceType;
      }
    }
    persist?.presenceChanged(p);
    return prev;
  };

  const handle = (reading: Reading): RuleOutcome => {
    results = [];
    const mine: UndoLog = [];
    undo = mine;
    if (closed) return { results, point: reading, undo: NOTHING };
    const now = clock.now();
    // The broker's will message and keepalive timeouts are not the device speaking.
    const speaks = reading.kind !== 'status' || reading.source === 'device';
    const prevSeen = speaks ? touch(reading, now) : undefined;
    const list = byType.get(reading.deviceType);
    let derived: Record<string, FieldValue> | undefined;
    if (list) {
      const sampled = ++seq % sampleEvery === 0;
      const t0 = sampled ? performance.now() : 0;
      for (const rule of list) {
        if (rule.placeId !== undefined && !placeMatches(reading.placeId, reading.place, rule.placeId))
          continue;
        rule.stats.evaluations++;
        const r0 = sampled ? performance.now() : 0;
        if (rule.raise) remember(rule, reading.deviceId);
        try {
          const d = evaluate(rule, reading, now, speaks, prevSeen);
          if (d) derived = derived ? Object.assign(derived, d) : d;
        } catch (err) {
          rule.stats.errors++;
          if (rule.stats.errors <= 10 || rule.stats.errors % 1000 === 0) {
            log.warn(
              { err, ruleId: rule.id, deviceId: reading.deviceId, errors: rule.stats.errors },
              'rule evaluation failed',
            );
          }
        }
        if (sampled) rule.stats.nanos += (performance.now() - r0) * 1e6 * sampleEvery;
      }
      if (sampled) deps.onSample?.((performance.now() - t0) / 1000);
    }
    const point = derived ? withDerived(reading, derived) : reading;
    return { results, point, undo: results.length ? () => rollbackLog(mine) : NOTHING };
  };

  const scheduleAll = () => {
    for (const [deviceId, m] of states) {
      for (const [ruleId, st] of m) {
        const rule = rulesById.get(ruleId);
        if (!rule || rule.absenceMs) continue;
        if (st.phase === 'pending') {
          if (rule.forMs === 0 || st.since === null) toIdle(rule, deviceId, st);
          else armTimer(rule, deviceId, st, st.since + rule.forMs);
        }
      }
    }
    for (const rule of ordered) {
      if (!rule.absenceMs) continue;
      for (const p of presence.values()) scheduleAbsence(rule, p);
    }
  };

  const scheduleAbsence = (rule: CompiledRule, p: Presence) => {
    const ms = rule.absenceMs?.get(p.deviceType);
    if (ms === undefined) return;
    if (rule.placeId !== undefined && !placeMatches(p.placeId, p.place, rule.placeId)) return;
    const st = getState(rule, p.deviceId, true) as RuleState;
    if (st.phase === 'active') return;
    armTimer(rule, p.deviceId, st, p.lastSeen + ms);
  };

  /**
   * A device's presence from its record and what was known of it (`knownLastSeen`: held here or stored), the
   * later time winning, and its absence timed from it (seeding at start, adopting a device another instance had).
   */
  function seat(d: PresenceSeed, knownLastSeen: number | undefined, now: number): void {
    const p: Presence = {
      deviceId: d.deviceId,
      deviceType: d.deviceType,
      placeId: d.placeId,
      place: d.place,
      floor: d.floor,
      lastSeen: Math.max(knownLastSeen ?? Number.NEGATIVE_INFINITY, d.lastSeen ?? now),
    };
    presence.set(d.deviceId, p);
    persist?.presenceChanged(p);
    for (const rule of byType.get(d.deviceType) ?? []) if (rule.absenceMs) scheduleAbsence(rule, p);
  }

  /** Forget a device's rule states here, their timers cancelled (its rows stay in the store). */
  function dropStates(deviceId: string): void {
    for (const st of states.get(deviceId)?.values() ?? []) cancelTimer(st);
    states.delete(deviceId);
  }
  return {
    setRules(list) {
      for (const m of states.values()) for (const st of m.values()) cancelTimer(st);
      const next = new Map(list.map((r) => [r.id, r]));
      for (const [deviceId, m] of states) {
        for (const [ruleId, st] of [...m]) {
          const rule = next.get(ruleId);
          if (!rule?.rule.enabled) {
            m.delete(ruleId);
            persist?.stateChanged(ruleId, deviceId, null, false);
          } else if (st.fp !== rule.fingerprint) {
            st.ops = {};
            st.fp = rule.fingerprint;
            changed(rule, deviceId, st, false);
          }
        }
      }
      rulesById = new Map([...next].filter(([, r]) => r.rule.enabled));
      ordered = [...rulesById.values()];
      const idx = new Map<DeviceTypeId, CompiledRule[]>();
      for (const r of ordered) {
        for (const t of r.types) {
          const l = idx.get(t);
          if (l) l.push(r);
          else idx.set(t, [r]);
        }
      }
      byType = idx;
      scheduleAll();
    },
    rules: () => ordered,
    handle,
    seedPresence(devices) {
      const now = clock.now();
      for (const d of devices) seat(d, presence.get(d.deviceId)?.lastSeen, now);
    },
    restore(list, pres) {
      for (const { ruleId, deviceId, state } of list) deviceStates(deviceId).set(ruleId, state);
      for (const p of pres) presence.set(p.deviceId, p);
    },
    state: (ruleId, deviceId) => states.get(deviceId)?.get(ruleId),
    forgetDevice(deviceId) {
      const m = states.get(deviceId);
      if (m) {
        for (const [ruleId, st] of m) {
          cancelTimer(st);
          persist?.stateChanged(ruleId, deviceId, null, false);
        }
        states.delete(deviceId);
      }
      if (presence.delete(deviceId)) persist?.presenceRemoved(deviceId);
    },
    adopt(list, pres, seeds) {
      const now = clock.now();
      for (const d of seeds) dropStates(d.deviceId);
      for (const { ruleId, deviceId, state } of list) {
        const rule = rulesById.get(ruleId);
        if (!rule) continue;
        if (state.fp !== rule.fingerprint) {
          state.ops = {};
          state.fp = rule.fingerprint;
        }
        deviceStates(deviceId).set(ruleId, state);
        if (state.phase !== 'pending' || rule.absenceMs) continue;
        if (rule.forMs === 0 || state.since === null) toIdle(rule, deviceId, state);
        else armTimer(rule, deviceId, state, state.since + rule.forMs);
      }
      const stored = new Map<string, Presence>();
      for (const p of pres) stored.set(p.deviceId, p);
      for (const d of seeds) seat(d, stored.get(d.deviceId)?.lastSeen, now);
    },
    release(deviceIds) {
      for (const deviceId of deviceIds) {
        dropStates(deviceId);
        presence.delete(deviceId);
      }
    },
    close() {
      closed = true;
      for (const m of states.values()) for (const st of m.values()) cancelTimer(st);
    },
  };
}
