import { collectDefaultMetrics, Registry } from 'prom-client';

export type { Registry as MetricsRegistry } from 'prom-client';

/**
 * One Prometheus registry per hub instance (tests build several hubs in one process). Modules create their own
 * counters on it, named `gridhub_<module>_<what>`, and `/metrics` renders it.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'gridhub_process_' });
  return registry;
}
