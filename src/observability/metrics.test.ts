import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from './metrics.ts';

const names = async (r: Registry) => (await r.getMetricsAsJSON()).map((m) => m.name);

describe('the default process metrics', () => {
  it('leave out those whose scrape walks every descriptor or handle, keep the rest', async () => {
    const walking = [
      'gridhub_process_process_open_fds',
      'gridhub_process_nodejs_active_handles',
      'gridhub_process_nodejs_active_handles_total',
      'gridhub_process_nodejs_active_resources',
      'gridhub_process_nodejs_active_resources_total',
      'gridhub_process_nodejs_active_requests',
      'gridhub_process_nodejs_active_requests_total',
    ];
    // prom-client's own set has them all (so the names left out are real ones)
    const all = new Registry();
    collectDefaultMetrics({ register: all, prefix: 'gridhub_process_' });
    expect(await names(all)).toEqual(expect.arrayContaining(walking));

    const ours = await names(createMetricsRegistry());
    for (const name of walking) expect(ours).not.toContain(name);
    expect(ours).toEqual(
      expect.arrayContaining([
        'gridhub_process_process_cpu_seconds_total',
        'gridhub_process_process_max_fds',
        'gridhub_process_nodejs_eventloop_lag_p99_seconds',
        'gridhub_process_nodejs_heap_size_used_bytes',
      ]),
    );
    expect(ours.length).toBe((await names(all)).length - walking.length);
  });
});
