import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { createHarness, event, type Harness, HOUR, MIN, START, telemetry } from './helpers.ts';

/** State that spans minutes or hours survives a restart: close the engine, reopen on the same db file. */
const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.engine.close();
    h.db.close();
  }
});

function start(dir: string | undefined, clock: ManualClock): Harness {
  const h = createHarness({ ...(dir ? { dir } : {}), clock });
  open.push(h);
  return h;
}

async function restart(h: Harness, clock: ManualClock): Promise<Harness> {
  await h.engine.close();
  h.db.close();
  open.splice(open.indexOf(h), 1);
  return start(h.dir, clock);
}

describe('restart', () => {
  it('a bin full for 8 minutes before a restart raises 2 minutes after it, not 10', async () => {
    const clock = new ManualClock(START);
    let h = start(undefined, clock);
    h.send(telemetry('bin1', 'bin', { fill: 95 }));
    clock.advance(8 * MIN);
    h.send(telemetry('bin1', 'bin', { fill: 96 }));
    expect(h.take()).toEqual([]);

    // The process goes away: a fresh clock (no timers) at the same time, a fresh engine on the same file.
    const clock2 = new ManualClock(clock.now());
    h = await restart(h, clock2);
    clock2.advance(2 * MIN - 1);
    expect(h.take().filter((r) => r.ruleId === 'bin-full')).toEqual([]);
    clock2.advance(1);
    const r = h.take().filter((x) => x.ruleId === 'bin-full');
    expect(r).toMatchObject([{ kind: 'raise', at: START + 10 * MIN, deviceId: 'bin1', placeId: 'b1' }]);
    // The raise rendered the reading kept in the state.
    expect(r[0]?.kind === 'raise' && r[0].detail).toContain('fill 96 %');

    // Raised state survives too: after another restart the emptied bin clears.
    const clock3 = new ManualClock(clock2.now());
    h = await restart(h, clock3);
    clock3.advance(MIN);
    h.send(telemetry('bin1', 'bin', { fill: 5 }));
    expect(h.take().filter((x) => x.ruleId === 'bin-full')).toMatchObject([{ kind: 'clear' }]);
  });

  it('a device silent before the restart goes offline on time after it; seeding does not reset it', async () => {
    const clock = new ManualClock(START);
    let h = start(undefined, clock);
    h.send(telemetry('cam1', 'throw_camera', { online: true })); // offline after 3 × 1 min
    h.send(telemetry('smk1', 'smoke', { battery: 90 })); // offline after 3 × 4 h
    clock.advance(MIN);
    const clock2 = new ManualClock(clock.now());
    h = await restart(h, clock2);
    // The hub seeds presence from the registry, whose last-seen may be older: the later time wins.
    h.engine.seedPresence([
      {
        deviceId: 'cam1',
        deviceType: 'throw_camera',
        placeId: 'b1',
        place: {},
        floor: 3,
        lastSeen: START - HOUR,
      },
      { deviceId: 'smk1', deviceType: 'smoke', placeId: 'b1', place: {}, floor: 3, lastSeen: START },
    ]);
    clock2.advance(2 * MIN - 1);
    expect(h.take()).toEqual([]);
    clock2.advance(1);
    expect(h.take()).toMatchObject([
      { kind: 'raise', ruleId: 'offline', deviceId: 'cam1', at: START + 3 * MIN },
    ]);
    clock2.advanceTo(START + 12 * HOUR);
    expect(h.take()).toMatchObject([{ kind: 'raise', ruleId: 'offline-safety', deviceId: 'smk1' }]);

    // After a restart, the offline device clears when it speaks.
    const clock3 = new ManualClock(clock2.now());
    h = await restart(h, clock3);
    clock3.advance(1000);
    expect(h.take()).toEqual([]);
    h.send(telemetry('cam1', 'throw_camera', { online: true }));
    expect(h.take()).toMatchObject([{ kind: 'clear', ruleId: 'offline', deviceId: 'cam1' }]);
  });

  it('count windows and press alerts (for cancel facts) survive a restart', async () => {
    const clock = new ManualClock(START);
    let h = start(undefined, clock);
    h.engine.put({
      id: 'throws',
      name: 'repeated throws',
      match: { deviceTypes: ['throw_camera'] },
      condition: { count: { event: 'throw_detected' }, within: '10m', gte: 2 },
      raise: { severity: 'major', category: 'throw_from_height', title: 'repeated' },
    });
    h.send(event('cam', 'throw_camera', 'throw_detected', { confidence: 0.1 }));
    h.send(event('btn', 'call_button', 'press'));
    h.take();
    clock.advance(MIN);
    const clock2 = new ManualClock(clock.now());
    h = await restart(h, clock2);
    clock2.advance(MIN);
    h.send(event('cam', 'throw_camera', 'throw_detected', { confidence: 0.1 }));
    h.send(event('btn', 'call_button', 'cancel'));
    expect(h.take()).toMatchObject([
      { ruleId: 'throws', kind: 'raise' },
      { ruleId: 'call-button-press', kind: 'fact', fact: 'cancelled_by_resident' },
    ]);
  });

  it('a forgotten device is no longer timed, before or after a restart', async () => {
    const clock = new ManualClock(START);
    let h = start(undefined, clock);
    h.send(telemetry('cam1', 'throw_camera', { online: true }));
    h.send(telemetry('cam2', 'throw_camera', { online: true }));
    h.engine.forgetDevice('cam1');
    const clock2 = new ManualClock(clock.now());
    h = await restart(h, clock2);
    clock2.advance(10 * MIN);
    expect(h.take().map((r) => r.deviceId)).toEqual(['cam2']);
  });

  it('writes are coalesced: last-seen times wait for the flush, a raise is on disk at once', () => {
    const clock = new ManualClock(START);
    const h = start(undefined, clock);
    const count = (sql: string) => (h.db.prepare(sql).get() as { n: number }).n;
    for (let i = 0; i < 100; i++) h.send(telemetry('bin1', 'bin', { fill: 10 + (i % 50) }));
    expect(count('SELECT count(*) AS n FROM rules_presence')).toBe(0);
    expect(count('SELECT count(*) AS n FROM rules_state')).toBe(0); // nothing but idle states
    h.send(telemetry('bin1', 'bin', { temperature: 75 })); // bin fire
    // Read through another connection, as a restarted process would after a crash.
    const other = openDatabase(h.dbFile);
    const row = other.prepare("SELECT state FROM rules_state WHERE rule_id = 'bin-fire'").get() as {
      state: string;
    };
    other.close();
    expect(JSON.parse(row.state)).toMatchObject({ p: 'active', r: START });
  });
});
