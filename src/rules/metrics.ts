import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RuleResult } from '../domain/rule-result.ts';
import type { CompiledRule, RuleStats } from './compile.ts';

/**
 * Per-rule counters are plain numbers on the compiled rule (incremented on the hot path) and are copied into
 * prom-client only when /metrics is scraped, so a reading pays no label lookups. Evaluation time per rule is
 * an estimate from timing one reading in `sampleEvery` (see bench/rules-cost.ts for the measured cost).
 */
export interface RulesMetrics {
  onResult(kind: RuleResult['kind']): void;
  onSample(seconds: number): void;
  onReload(outcome: 'ok' | 'invalid'): void;
  /** Rules whose counters are exported (current and retired, so totals never go backwards). */
  track(rules: readonly CompiledRule[]): void;
}

export function createRulesMetrics(registry: Registry): RulesMetrics {
  const tracked = new Map<string, RuleStats>();
  const exported = new Map<string, RuleStats>();
  let inForce = 0;

  const delta = (id: string, key: keyof RuleStats, stats: RuleStats) => {
    let e = exported.get(id);
    if (!e) {
      e = { evaluations: 0, matches: 0, errors: 0, nanos: 0 };
      exported.set(id, e);
    }
    const d = stats[key] - e[key];
    e[key] = stats[key];
    return d;
  };

  const perRule = (name: string, help: string, key: keyof RuleStats, scale = 1) =>
    new Counter({
      name,
      help,
      labelNames: ['rule'],
      registers: [registry],
      collect() {
        for (const [id, stats] of tracked) {
          const d = delta(id, key, stats);
          if (d > 0) this.inc({ rule: id }, d * scale);
        }
      },
    });

  perRule('gridhub_rules_evaluations_total', 'Readings evaluated by each rule', 'evaluations');
  perRule(
    'gridhub_rules_matches_total',
    'Readings on which the rule condition held (or silences noticed)',
    'matches',
  );
  perRule(
    'gridhub_rules_errors_total',
    'Rule evaluations that failed (caught, logged, pipeline went on)',
    'errors',
  );
  perRule(
    'gridhub_rules_evaluation_seconds_total',
    'Estimated time spent evaluating each rule (sampled)',
    'nanos',
    1e-9,
  );
  const results = new Counter({
    name: 'gridhub_rules_results_total',
    help: 'Results handed to the dispatcher, by kind',
    labelNames: ['kind'],
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'gridhub_rules_reloads_total',
    help: 'Rule set reloads, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const handleSeconds = new Histogram({
    name: 'gridhub_rules_reading_seconds',
    help: 'Time to evaluate all matching rules for one reading (sampled)',
    buckets: [1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 2e-3, 1e-2],
    registers: [registry],
  });
  new Gauge({
    name: 'gridhub_rules_in_force',
    help: 'Enabled rules in force',
    registers: [registry],
    collect() {
      this.set(inForce);
    },
  });

  return {
    onResult: (kind) => results.inc({ kind }),
    onSample: (s) => handleSeconds.observe(s),
    onReload: (outcome) => reloads.inc({ outcome }),
    track(rules) {
      inForce = rules.length;
      // A reloaded rule gets a fresh stats object: carry the totals over so counters never go backwards.
      for (const r of rules) {
        const old = tracked.get(r.id);
        if (old && old !== r.stats) {
          r.stats.evaluations += old.evaluations;
          r.stats.matches += old.matches;
          r.stats.errors += old.errors;
          r.stats.nanos += old.nanos;
        }
        tracked.set(r.id, r.stats);
      }
    },
  };
}
