import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AlertStatements } from './alert-store.ts';

export type AlertsMetrics = ReturnType<typeof createAlertsMetrics>;

export function createAlertsMetrics(registry: Registry, q: Pick<AlertStatements, 'pendingOutbox'>) {
  const counters = {
    raised: new Counter({
      name: 'gridhub_alerts_raised_total',
      help: 'Rule raises taken by the dispatcher, by outcome (opened, repeated, reopened, suppressed, replayed: a journal replay already taken)',
      labelNames: ['severity', 'outcome'],
      registers: [registry],
    }),
    changes: new Counter({
      name: 'gridhub_alerts_changes_total',
      help: 'Alert timeline changes by type',
      labelNames: ['change'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'gridhub_alerts_handle_failures_total',
      help: 'Rule results the dispatcher could not store',
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'gridhub_alerts_deliveries_total',
      help: 'Outbox delivery attempts by channel and outcome (delivered, failed, dead)',
      labelNames: ['channel', 'outcome'],
      registers: [registry],
    }),
    responses: new Counter({
      name: 'gridhub_alerts_delivery_responses_total',
      help: 'Response codes of HTTP channels (code "none" for network errors and timeouts)',
      labelNames: ['channel', 'code'],
      registers: [registry],
    }),
    digests: new Counter({
      name: 'gridhub_alerts_digests_total',
      help: 'Digest messages made, and the alarms folded into them',
      labelNames: ['kind'],
      registers: [registry],
    }),
    held: new Counter({
      name: 'gridhub_alerts_held_total',
      help: 'Messages held for quiet hours',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'gridhub_alerts_rate_limited_total',
      help: 'Deliveries postponed by a channel rate limit',
      labelNames: ['channel'],
      registers: [registry],
    }),
    raiseDelay: new Histogram({
      name: 'gridhub_alerts_raise_delay_seconds',
      help: 'From the hub receiving the reading behind a rule raise to the commit of what the dispatcher made of it (opened, repeated, …), by the hub clock: how far alerts run behind their devices',
      labelNames: ['severity'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    mustReach: new Counter({
      name: 'gridhub_alerts_must_reach_steps_total',
      help: 'Must-reach ladder steps taken by rung and outcome (sent, skipped, exhausted)',
      labelNames: ['rung', 'outcome'],
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'gridhub_alerts_outbox_pending',
    help: 'Outbox rows not yet delivered',
    registers: [registry],
    // prom-client awaits an async collect: the store may answer after a round trip
    async collect() {
      this.set(await q.pendingOutbox());
    },
  });
  return counters;
}
