import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

interface Answer {
  ruleId: string;
  action: string;
  alertId: string | null;
  status: string | null;
  changes: string[];
}

/** POST /api/integrations/credentials and /api/integrations/alerts over a real hub. */
describe('integration routes', () => {
  let th: TestHub;
  let admin: string;
  let token: string;
  let deviceId: string;

  const post = (bearer: string, path: string, body: unknown) =>
    th.api(bearer, path, { method: 'POST', body: JSON.stringify(body) });

  beforeAll(async () => {
    th = await startTestHub();
    admin = await th.login('admin');
    const res = await post(admin, '/api/integrations/credentials', { username: 'routes-c1', scope: ['C1'] });
    expect(res.status).toBe(201);
    token = ((await res.json()) as { token: string }).token;
    const bin = th.hub.registry.devices.list().find((d) => d.type === 'bin' && d.place.community === 'C1');
    if (!bin) throw new Error('no demo bin in C1');
    deviceId = bin.id;
  });

  afterAll(async () => {
    await th?.close();
  });

  it('credentials: admin only, places must exist, never over a user of another role', async () => {
    const worker = await th.login('worker');
    expect(
      (await post(worker, '/api/integrations/credentials', { username: 'x-int', scope: ['C1'] })).status,
    ).toBe(403);
    const unknown = await post(admin, '/api/integrations/credentials', {
      username: 'x-int',
      scope: ['NOPE'],
    });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { field: string } }).error.field).toBe('scope');
    const clash = await post(admin, '/api/integrations/credentials', { username: 'worker', scope: ['C1'] });
    expect(clash.status).toBe(409);
    // a second token for the same integration; both work
    const again = await post(admin, '/api/integrations/credentials', {
      username: 'routes-c1',
      scope: ['C1'],
    });
    expect(again.status).toBe(201);
    const second = ((await again.json()) as { token: string }).token;
    for (const t of [token, second]) {
      const me = (await (await th.api(t, '/api/me')).json()) as { role: string; scope: string[] };
      expect(me).toMatchObject({ role: 'integration', scope: ['C1'] });
    }
  });

  it('raise, repeat and clear go through the dispatcher with rule id flow:<name>', async () => {
    const raise = {
      flow: 'bin-watch',
      deviceId,
      title: 'Bin looks odd',
      severity: 'minor',
      category: 'bin_full',
    };
    const first = await post(token, '/api/integrations/alerts', raise);
    expect(first.status).toBe(200);
    const a = (await first.json()) as Answer;
    expect(a).toMatchObject({ ruleId: 'flow:bin-watch', action: 'raise' });
    expect(a.alertId).not.toBeNull();
    expect(a.changes).toContain('opened');

    // dedup per (flow, device): the same alert, counted
    const again = (await (await post(token, '/api/integrations/alerts', raise)).json()) as Answer;
    expect(again.alertId).toBe(a.alertId);
    const view = (await (await th.api(admin, `/api/alerts/${a.alertId}`)).json()) as {
      alert: { count: number; ruleId: string; category: string };
    };
    expect(view.alert).toMatchObject({ count: 2, ruleId: 'flow:bin-watch', category: 'bin_full' });

    const cleared = (await (
      await post(token, '/api/integrations/alerts', {
        flow: 'bin-watch',
        deviceId,
        action: 'clear',
        note: 'emptied',
      })
    ).json()) as Answer;
    expect(cleared).toMatchObject({ alertId: a.alertId, status: 'resolved' });

    // clearing with nothing open changes nothing
    const nothing = (await (
      await post(token, '/api/integrations/alerts', { flow: 'bin-watch', deviceId, action: 'clear' })
    ).json()) as Answer;
    expect(nothing).toMatchObject({ alertId: null, changes: [] });
  });

  it('refuses bad requests with the field named', async () => {
    const cases: [unknown, number, string][] = [
      [{ flow: 'x', deviceId }, 400, 'title'],
      [{ flow: 'bad name!', deviceId, title: 't' }, 400, 'flow'],
      [{ flow: 'x', deviceId, title: 't', severity: 'urgent' }, 400, 'severity'],
      [{ flow: 'x', deviceId: 'no-such-device', title: 't' }, 404, 'deviceId'],
    ];
    for (const [body, status, field] of cases) {
      const res = await post(token, '/api/integrations/alerts', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      const err = (await res.json()) as { error: { field?: string; message: string } };
      expect(`${err.error.field} ${err.error.message}`).toContain(field);
    }
  });
});
