import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LOGIN_GATE } from '../../src/registry/login-gate.ts';
import { type Harness, rawConnect, rawSocket, removeDir, startHarness, until } from './harness.ts';

// A reconnect storm: every CONNECT waits its turn in the connect queue (bounded slices) and presence is written
// in batches. What must not change: who gets in, the refusal codes, the per-credential connection count.
describe('reconnect storm', () => {
  let h: Harness;
  const ids: { id: string; secret: string }[] = [];

  beforeAll(async () => {
    // the hub's own login throttle: 10 free attempts per address, and all of these come from 127.0.0.1 (as a
    // community's devices behind one NAT do); the queue must not let attempts pile up unsettled and trip it
    h = await startHarness({ maxConnectionsPerPrincipal: 1 }, undefined, {
      freePerSource: DEFAULT_LOGIN_GATE.freePerSource,
      freePerAccount: DEFAULT_LOGIN_GATE.freePerAccount,
    });
    for (let i = 0; i < 200; i++) {
      const id = `storm-${i}`;
      const { secret } = await h.registry.devices.provision(
        { id, type: 'bin', placeId: 'bd1', floor: null },
        h.clock.now(),
      );
      ids.push({ id, secret });
    }
  });
  afterAll(async () => {
    await h.close();
    removeDir(h.dir);
  });

  it('200 devices at once from one address: all accepted and online, a wrong secret among them refused with 4', async () => {
    const sockets = await Promise.all(ids.map(() => rawSocket(h.port)));
    const wrong = await rawSocket(h.port);
    // every CONNECT written in the same tick, the wrong one in the middle of them
    sockets.forEach((s, i) => {
      const d = ids[i] as { id: string; secret: string };
      s.socket.write(rawConnect({ clientId: d.id, username: d.id, password: d.secret }));
      if (i === 100) wrong.socket.write(rawConnect({ clientId: 'x', username: d.id, password: 'not-it' }));
    });
    const codes = await Promise.all(sockets.map((s) => s.connack()));
    expect(codes.every((c) => c === 0)).toBe(true);
    expect(await wrong.connack()).toBe(4);
    await until(() => ids.every((d) => h.registry.devices.get(d.id)?.online === true), 5_000, 'all online');
    const rows = h.db
      .prepare("SELECT count(*) AS n FROM devices WHERE id LIKE 'storm-%' AND online = 1")
      .get() as { n: number };
    expect(rows.n).toBe(200);
    expect(await h.counter('gridhub_ingest_auth_failures_total', { reason: 'bad_credentials' })).toBe(1);
    for (const s of sockets) s.socket.destroy();
    wrong.socket.destroy();
    await until(() => ids.every((d) => h.registry.devices.get(d.id)?.online === false), 5_000, 'all offline');
  });

  it('a connection gone while its CONNECT waited holds nothing: the credential connects again at once', async () => {
    const d = ids[0] as { id: string; secret: string };
    // a queue to wait in: 150 CONNECTs ahead of it
    const ahead = await Promise.all(ids.slice(50).map(() => rawSocket(h.port)));
    ahead.forEach((s, i) => {
      const a = ids[50 + i] as { id: string; secret: string };
      s.socket.write(rawConnect({ clientId: a.id, username: a.id, password: a.secret }));
    });
    const gone = await rawSocket(h.port);
    gone.socket.write(rawConnect({ clientId: d.id, username: d.id, password: d.secret }));
    gone.socket.destroy();
    await Promise.all(ahead.map((s) => s.connack()));
    // maxConnectionsPerPrincipal is 1: a connection counted for the one that went would refuse this with 3
    const again = await rawSocket(h.port);
    again.socket.write(rawConnect({ clientId: d.id, username: d.id, password: d.secret }));
    expect(await again.connack()).toBe(0);
    expect(h.ingest.limits.connections(`device:${d.id}`)).toBe(1);
    for (const s of [...ahead, again]) s.socket.destroy();
  });
});
