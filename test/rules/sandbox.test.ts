import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

/**
 * Finding 1: the rule sandbox ran on the hub's event loop. These run against a whole hub over real HTTP, so the
 * /healthz figure is what a load balancer would see.
 */
let t: TestHub;
let manager: string;
let admin: string;
beforeAll(async () => {
  // the budget is tested below; here a loaded CI machine must not turn the max-size run into a 422
  t = await startTestHub({ env: { GRIDHUB_RULES_SANDBOX_TIMEOUT_MS: '120000' } });
  manager = await t.login('manager');
  admin = await t.login('admin');
});
afterAll(async () => {
  await t.close();
});

/** The allowed maximum: an absence rule over 10 000 readings of 10 000 devices (~0.5 MB of JSON). */
const maxSizeRequest = () => ({
  rule: {
    id: 'bin-silent',
    name: 'Bin silent',
    match: { deviceTypes: ['bin'] },
    absence: { after: '1m' },
    raise: { severity: 'minor', category: 'offline', title: 'silent' },
  },
  readings: Array.from({ length: 10_000 }, (_, i) => ({
    deviceId: `bin-${i}`,
    after: `${i}s`,
    values: { fill: i % 100 },
  })),
});

/** A rule whose condition is `{ not: { not: … } }` `depth` levels deep, as JSON text (JSON.stringify would overflow). */
function deepRule(depth: number): string {
  const head =
    '{"id":"deep","name":"Deep","match":{"deviceTypes":["bin"]},' +
    '"raise":{"severity":"minor","category":"bin_full","title":"deep"},"condition":';
  return `${head}${'{"not":'.repeat(depth)}{"field":"fill","gte":90}${'}'.repeat(depth)}}`;
}

describe('the rule sandbox runs off the main thread (finding 1)', () => {
  // Real time on a shared 2-core machine: another process can take the CPU for 100 ms at any moment, which is
  // not what this measures. A main-thread sandbox fails every attempt (it holds the loop for seconds).
  it('during a sandbox request at its limit, /healthz answers within 100 ms', { retry: 2 }, async () => {
    const body = JSON.stringify(maxSizeRequest());
    expect(body.length).toBeGreaterThan(400_000);
    // the first request of a connection and the sandbox worker's boot are not what is measured
    await (await fetch(`${t.hub.urls.http}/healthz`)).arrayBuffer();
    const small = { ...maxSizeRequest(), readings: [{ deviceType: 'bin', values: { fill: 1 } }] };
    expect(
      (await t.api(manager, '/api/rules/test', { method: 'POST', body: JSON.stringify(small) })).status,
    ).toBe(200);
    let running = true;
    const sandbox = t.api(manager, '/api/rules/test', { method: 'POST', body }).finally(() => {
      running = false;
    });
    const latencies: number[] = [];
    while (running) {
      const started = performance.now();
      const res = await fetch(`${t.hub.urls.http}/healthz`);
      await res.arrayBuffer();
      if (running) latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
    const answer = await sandbox;
    expect(answer.status).toBe(200);
    const { results } = (await answer.json()) as { results: { kind: string }[] };
    // every one of the 10 000 devices fell silent at least once
    expect(results.filter((r) => r.kind === 'raise').length).toBeGreaterThanOrEqual(10_000);
    // the sandbox took long enough to be sampled many times, and no sample waited on it
    expect(latencies.length).toBeGreaterThan(5);
    expect(Math.max(...latencies)).toBeLessThan(100);
  });

  it('a rule nested 20 000 deep is a 400 naming the rule and the field, on the sandbox and on PUT', async () => {
    const tried = await t.api(manager, '/api/rules/test', {
      method: 'POST',
      body: `{"rule":${deepRule(20_000)},"readings":[]}`,
    });
    expect(tried.status).toBe(400);
    const e1 = ((await tried.json()) as { error: { code: string; message: string; field: string } }).error;
    expect(e1.code).toBe('RULE_INVALID');
    expect(e1.message).toContain('rule deep');
    expect(e1.field).toMatch(/^condition\.not/);
    const put = await t.api(admin, '/api/rules/deep', { method: 'PUT', body: deepRule(20_000) });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { error: { field: string } }).error.field).toMatch(/^condition\.not/);
    // a sensible depth still compiles
    const ok = await t.api(manager, '/api/rules/test', {
      method: 'POST',
      body: `{"rule":${deepRule(10)},"readings":[]}`,
    });
    expect(ok.status).toBe(200);
  });

  it('a run over its time budget is ended and answered 422; the next run works', async () => {
    const tight = await startTestHub({ demo: false, env: { GRIDHUB_RULES_SANDBOX_TIMEOUT_MS: '50' } });
    try {
      const login = await tight.hub.registry.users.create(
        { username: 'ops', password: 'long enough password', role: 'admin' },
        tight.hub.clock.now(),
      );
      const token = await tight.hub.registry.users.issueToken(
        login.username,
        'session',
        tight.hub.clock.now(),
        60_000,
      );
      const slow = await tight.api(token, '/api/rules/test', {
        method: 'POST',
        body: JSON.stringify(maxSizeRequest()),
      });
      expect(slow.status).toBe(422);
      expect(((await slow.json()) as { error: { code: string } }).error.code).toBe('SANDBOX_LIMIT');
    } finally {
      await tight.close();
    }
  });
});
