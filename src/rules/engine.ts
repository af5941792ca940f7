import { type FSWatcher, mkdirSync, watch } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { Reading } from '../domain/reading.ts';
import type { RuleOutcome, RuleResult } from '../domain/rule-result.ts';
import type { Db } from '../storage/sqlite.ts';
import { compileRule } from './compile.ts';
import { createEvaluator, type PresenceSeed } from './evaluator.ts';
import type { AdoptCandidate } from './handover.ts';
import {
  buildRuleSet,
  type LoadedRule,
  PACK_DIR,
  type RuleSource,
  readRuleDir,
  removeUserRule,
  writeUserRule,
} from './loader.ts';
import { createRulesMetrics } from './metrics.ts';
import { createSandbox } from './sandbox.ts';
import type { TestOptions, TestReading, TestResult } from './sandbox-run.ts';
import type { Rule } from './schema.ts';
import { createStateStore, type StateStore } from './store.ts';

export type { TestOptions, TestReading, TestResult };

export interface RuleEngineDeps {
  catalogue: Catalogue;
  clock: Clock;
  db: Db;
  /**
   * Where rule state is kept, opened by the composition root (`openStateStore`, the shared store's rules table);
   * default: the rules tables on `db`.
   */
  stateStore?: StateStore;
  log: Logger;
  metrics: Registry;
  /** Absolute path of the user's rules folder (created when missing, watched for changes). */
  rulesDir: string;
  /**
   * Records results fired by a timer (absence, `for`); the flow function of the composition root, the same one
   * that records a reading's results. Throws when recording failed: the rule's state is rolled back and retried.
   */
  onTimerResults: (results: readonly RuleResult[]) => void | Promise<void>;
  /** Folder of the default pack; `null` to run without defaults. */
  packDir?: string | null;
  /** Watch rulesDir for edits (default true). */
  watch?: boolean;
  /** Real-time debounce of file-change events before reloading (default 200 ms). */
  watchDebounceMs?: number;
  /** Coalescing interval of state writes (default 1 s). */
  stateFlushMs?: number;
  /** Coalescing interval of last-seen writes (default 15 s). */
  presenceFlushMs?: number;
  /** Time one reading in this many for the per-rule cost metrics (default 64). */
  sampleEvery?: number;
  /**
   * Owner routing (several instances on one database, external broker): whether this instance evaluates the
   * device. At start only those devices' stored state is restored and their absence timed; the others are
   * taken over later with `adopt`. Default: every device.
   */
  owns?: (deviceId: string) => boolean;
  /** Wall-clock budget of one sandbox run (default 10 s). */
  sandboxTimeoutMs?: number;
  /** Heap budget of the sandbox worker (default 256 MB). */
  sandboxMemoryMb?: number;
}

export interface RuleInfo {
  id: string;
  rule: Rule;
  /** The rule as written (durations as given), what GET returns and PUT accepts. */
  source: unknown;
  origin: 'pack' | 'user';
  file: string;
  /** A default rule of this id exists (the user's file overrides or disables it). */
  overridesDefault: boolean;
}

export interface RuleEngine {
  /**
   * Evaluate a reading: the results to record and the point to store. Pure of side effects but rule state, which
   * the outcome's `undo` puts back when its results could not be recorded.
   */
  evaluate(reading: Reading): RuleOutcome;
  seedPresence(devices: readonly PresenceSeed[]): void;
  /** A device was removed from the registry: stop timing its absence and drop its rule state. */
  forgetDevice(deviceId: string): void;
  /**
   * Owner routing: another live instance takes these devices over. Stop evaluating them, write their last
   * state and give their rows up (src/rules/handover.ts), so the new owner's writes are not refused.
   */
  release(deviceIds: readonly string[]): Promise<void>;
  /**
   * Owner routing: take devices over, each with its registry facts (`seed`) and its live previous owner if any.
   * Those ready (released by that owner, or left by a dead one) get the stored state and timers; the answer
   * maps each of them to the time its live previous owner released it (undefined: it had none).
   */
  adopt(
    candidates: readonly (AdoptCandidate & { seed: PresenceSeed })[],
  ): Promise<Map<string, number | undefined>>;
  list(): RuleInfo[];
  get(id: string): RuleInfo | undefined;
  /** Validate, persist to the rules folder, apply. Throws GridHubError('RULE_INVALID') naming the field. */
  put(rule: unknown): RuleInfo;
  /** Take the rule out of force (a default rule is disabled by a stub file). */
  delete(id: string): void;
  /**
   * Evaluate `rule` over `readings` in a private virtual-time sandbox, on a worker thread with a time and memory
   * budget (the hub's event loop is never held); nothing leaves it.
   */
  test(rule: unknown, readings: readonly TestReading[], options?: TestOptions): Promise<TestResult[]>;
  /**
   * The sandbox on a request body as it came (JSON text, see sandboxBodySchema), answered as the JSON text
   * `{"results":[…]}`: parsing, checking and serialising all happen on the worker.
   */
  testJson(body: string): Promise<string>;
  /** Re-read the pack and the rules folder; throws and keeps the rules in force when one is invalid. */
  reload(): void;
  /** The last reload failure (from the watcher), until a reload succeeds. */
  lastError(): { message: string; field?: string; at: number } | undefined;
  close(): Promise<void>;
}

export function createRuleEngine(deps: RuleEngineDeps): RuleEngine {
  const log = deps.log.child({ module: 'rules' });
  const { catalogue, clock, rulesDir } = deps;
  const packDir = deps.packDir === undefined ? PACK_DIR : deps.packDir;
  const metrics = createRulesMetrics(deps.metrics);
  const store =
    deps.stateStore ??
    createStateStore(deps.db, log, {
      ...(deps.stateFlushMs !== undefined ? { flushMs: deps.stateFlushMs } : {}),
      ...(deps.presenceFlushMs !== undefined ? { presenceFlushMs: deps.presenceFlushMs } : {}),
      now: () => clock.now(),
    });
  const evaluator = createEvaluator({
    clock,
    log,
    onTimerResults: deps.onTimerResults,
    persist: store,
    onSample: metrics.onSample,
    ...(deps.sampleEvery ? { sampleEvery: deps.sampleEvery } : {}),
    onResult: metrics.onResult,
  });
  mkdirSync(rulesDir, { recursive: true });
  const sandbox = createSandbox({
    log,
    ...(deps.sandboxTimeoutMs !== undefined ? { timeoutMs: deps.sandboxTimeoutMs } : {}),
    ...(deps.sandboxMemoryMb !== undefined ? { memoryMb: deps.sandboxMemoryMb } : {}),
  });

  let packSources: RuleSource[] = [];
  let userSources: RuleSource[] = [];
  let set = new Map<string, LoadedRule>();
  let lastError: { message: string; field?: string; at: number } | undefined;

  const apply = (next: Map<string, LoadedRule>, pack: RuleSource[], user: RuleSource[]) => {
    packSources = pack;
    userSources = user;
    set = next;
    const compiled = [...next.values()].map((l) => l.compiled);
    evaluator.setRules(compiled);
    metrics.track(compiled.filter((c) => c.rule.enabled));
  };

  const reload = () => {
    try {
      const pack = packDir ? readRuleDir(packDir, 'pack') : [];
      const user = readRuleDir(rulesDir, 'user');
      const next = buildRuleSet(pack, user, catalogue);
      apply(next, pack, user);
      lastError = undefined;
      metrics.onReload('ok');
      log.info({ rules: next.size, enabled: evaluator.rules().length }, 'rules loaded');
    } catch (err) {
      metrics.onReload('invalid');
      throw err;
    }
  };

  const owns = deps.owns;
  const { states, presence } = store.load();
  evaluator.restore(
    owns ? states.filter((st) => owns(st.deviceId)) : states,
    owns ? presence.filter((p) => owns(p.deviceId)) : presence,
  );
  try {
    reload();
  } catch (err) {
    // At start-up there are no previous rules to keep: a typo in one file must not keep the fire alarms
    // down, so start with the defaults and every user rule that is valid, and say loudly what was left out.
    const pack = packDir ? readRuleDir(packDir, 'pack') : [];
    const user = readRuleDir(rulesDir, 'user', (readErr, file) =>
      log.error({ err: readErr, file }, 'rule file unreadable at start-up and left out'),
    );
    const accepted: RuleSource[] = [];
    for (const src of user) {
      try {
        buildRuleSet(pack, [...accepted, src], catalogue);
        accepted.push(src);
      } catch (skipErr) {
        log.error({ err: skipErr, file: src.file }, 'rule refused at start-up and left out');
      }
    }
    apply(buildRuleSet(pack, accepted, catalogue), pack, accepted);
    const e = err instanceof GridHubError ? err : undefined;
    lastError = { message: (err as Error).message, ...(e?.field ? { field: e.field } : {}), at: clock.now() };
  }

  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  if (deps.watch ?? true) {
    const onChange = (_event: string, name: string | Buffer | null) => {
      const file = name?.toString() ?? '';
      if (file.startsWith('.')) return;
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = undefined;
        try {
          reload();
        } catch (err) {
          const e = err instanceof GridHubError ? err : undefined;
          lastError = {
            message: (err as Error).message,
            ...(e?.field ? { field: e.field } : {}),
            at: clock.now(),
          };
          log.error(
            { err, field: e?.field },
            'rules folder change refused; the rules in force stay unchanged',
          );
        }
      }, deps.watchDebounceMs ?? 200);
      debounce.unref();
    };
    try {
      watcher = watch(rulesDir, onChange);
      watcher.on('error', (err) => log.warn({ err, rulesDir }, 'rules folder watch failed'));
    } catch (err) {
      log.warn(
        { err, rulesDir },
        'cannot watch the rules folder; changes apply on reload or through the API',
      );
    }
  }

  const info = (l: LoadedRule): RuleInfo => ({
    id: l.compiled.id,
    rule: l.compiled.rule,
    source: l.compiled.input,
    origin: l.origin,
    file: l.file,
    overridesDefault: l.origin === 'user' && l.hasDefault,
  });

  const userSourceOf = (id: string) =>
    userSources.find((s) => (s.input as { id?: unknown } | null)?.id === id);

  return {
    evaluate: evaluator.handle,
    seedPresence: owns
      ? (devices) => evaluator.seedPresence(devices.filter((d) => owns(d.deviceId)))
      : evaluator.seedPresence,
    forgetDevice: evaluator.forgetDevice,
    async release(deviceIds) {
      if (deviceIds.length === 0) return;
      evaluator.release(deviceIds);
      await store.release(deviceIds);
    },
    async adopt(candidates) {
      if (candidates.length === 0) return new Map();
      const taken = await store.adopt(candidates);
      const seeds = candidates.filter((c) => taken.ready.has(c.deviceId)).map((c) => c.seed);
      evaluator.adopt(taken.states, taken.presence, seeds);
      return taken.ready;
    },
    list: () => [...set.values()].map(info).sort((a, b) => a.id.localeCompare(b.id)),
    get(id) {
      const l = set.get(id);
      return l && info(l);
    },
    put(input) {
      const compiled = compileRule(input, catalogue);
      const current = userSourceOf(compiled.id);
      // Validate the whole set as it will be, before anything is written.
      const nextUser = current
        ? userSources.map((s) => (s === current ? { ...s, input } : s))
        : [
            ...userSources,
            { input, file: `${rulesDir}/${compiled.id}.yaml`, index: undefined, origin: 'user' as const },
          ];
      buildRuleSet(packSources, nextUser, catalogue);
      const file = writeUserRule(rulesDir, compiled.id, input, current);
      const user = current ? nextUser : nextUser.map((s) => (s.input === input ? { ...s, file } : s));
      apply(buildRuleSet(packSources, user, catalogue), packSources, user);
      log.info({ ruleId: compiled.id, file }, 'rule saved');
      return info(set.get(compiled.id) as LoadedRule);
    },
    delete(id) {
      const l = set.get(id);
      if (!l) throw new GridHubError('RULE_NOT_FOUND', `no rule ${id}`, { field: 'id' });
      const current = userSourceOf(id);
      if (current) removeUserRule(current);
      if (l.hasDefault) writeUserRule(rulesDir, id, { id, enabled: false }, undefined);
      reload();
      log.info({ ruleId: id, disabledDefault: l.hasDefault }, 'rule deleted');
    },
    async test(input, readings, options = {}) {
      const body = JSON.stringify({
        rule: input,
        readings,
        ...(options.start !== undefined ? { start: options.start } : {}),
        ...(options.advanceAfterMs !== undefined ? { advanceAfter: options.advanceAfterMs } : {}),
      });
      const json = await sandbox.run({ body, defaultStart: clock.now() });
      return (JSON.parse(json) as { results: TestResult[] }).results;
    },
    testJson(body) {
      return sandbox.run({ body, defaultStart: clock.now() });
    },
    reload,
    lastError: () => lastError,
    async close() {
      watcher?.close();
      if (debounce) clearTimeout(debounce);
      evaluator.close();
      store.close();
      // the shared store's last flush is awaited (on SQLite it is done already)
      await store.settled();
      await sandbox.close();
    },
  };
}
