import { describe, expect, it } from 'vitest';
import { ownerOf, weight } from './rendezvous.ts';

const devices = Array.from({ length: 10_000 }, (_, i) => `bin-${String(i).padStart(5, '0')}`);
const owners = (instances: readonly string[]) => devices.map((d) => ownerOf(d, instances));

describe('rendezvous hashing of devices over instances', () => {
  it('is stable: the same answer whatever order the instances are listed in, and across calls', () => {
    const a = owners(['hub-a', 'hub-b', 'hub-c']);
    expect(owners(['hub-c', 'hub-a', 'hub-b'])).toEqual(a);
    // a fixed value, so a change of the hash (which would move every device on an upgrade) fails here
    expect([weight('hub-a', 'bin-00001'), weight('hub-b', 'bin-00001')]).toEqual([2047859459, 1161968675]);
    expect(ownerOf('bin-00001', ['hub-a'])).toBe('hub-a');
    expect(ownerOf('bin-00001', [])).toBeUndefined();
  });

  it('spreads devices evenly over the instances', () => {
    const counts = new Map<string, number>();
    for (const o of owners(['hub-a', 'hub-b', 'hub-c']))
      counts.set(o as string, (counts.get(o as string) ?? 0) + 1);
    for (const n of counts.values()) expect(Math.abs(n - 10_000 / 3)).toBeLessThan(300);
  });

  it('moves only the joining instance’s share when one joins, about 1/N of the devices', () => {
    const before = owners(['hub-a', 'hub-b', 'hub-c']);
    const after = owners(['hub-a', 'hub-b', 'hub-c', 'hub-d']);
    let moved = 0;
    for (let i = 0; i < devices.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      // every device that moved went to the newcomer: none moved between the old instances
      expect(after[i]).toBe('hub-d');
    }
    expect(Math.abs(moved - 10_000 / 4)).toBeLessThan(300);
  });

  it('moves only the leaving instance’s devices when one leaves, spread over the others', () => {
    const before = owners(['hub-a', 'hub-b', 'hub-c']);
    const after = owners(['hub-a', 'hub-c']);
    let toA = 0;
    let toC = 0;
    for (let i = 0; i < devices.length; i++) {
      if (before[i] !== 'hub-b') {
        expect(after[i]).toBe(before[i]);
        continue;
      }
      if (after[i] === 'hub-a') toA++;
      else toC++;
    }
    expect(toA + toC).toBeGreaterThan(3_000);
    expect(Math.abs(toA - toC)).toBeLessThan(400);
  });
});
