import { collectDefaultMetrics, Registry } from 'prom-client';

export type { Registry as MetricsRegistry } from 'prom-client';

const PREFIX = 'gridhub_process_';

/**
 * prom-client's default metrics whose every scrape walks all of the process's file descriptors or handles
 * (`/proc/self/fd`, `process._getActiveHandles()`, `process.getActiveResourcesInfo()`), on the event loop the
 * alarms share: 42 ms a scrape (68 ms the worst of 10) with 9 000 connections, 0.7 ms without them. Connections
 * are counted by `gridhub_ingest_connections` instead; `gridhub_process_max_fds` (the limit) stays.
 */
const WALKING_METRICS = [
  'process_open_fds',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
];

/**
 * One Prometheus registry per hub instance (tests build several hubs in one process). Modules create their own
 * counters on it, named `gridhub_<module>_<what>`, and `/metrics` renders it.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: PREFIX });
    for (const name of WALKING_METRICS) registry.removeSingleMetric(`${PREFIX}${name}`);
  }
  return registry;
}
