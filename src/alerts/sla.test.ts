import { describe, expect, it } from 'vitest';
import { alertsConfigSchema } from './config.ts';
import { alertClocks, lightFor, slaClock, worstLight } from './sla.ts';

const cfg = alertsConfigSchema.parse({});
const MIN = 60_000;

describe('SLA lights', () => {
  it.each([
    [0, 'green'],
    [0.74, 'green'],
    [0.75, 'yellow'],
    [0.99, 'yellow'],
    [1, 'red'],
    [3, 'red'],
  ] as const)('%s of the allowance is %s', (used, light) => {
    expect(lightFor(used)).toBe(light);
  });

  it('runs the acknowledge clock of a critical alert green / yellow / red at 74 / 75 / 100 %', () => {
    const start = 1_000_000;
    const at = (pct: number) => slaClock('acknowledge', start, MIN, null, start + (MIN * pct) / 100);
    expect(at(74)).toMatchObject({ light: 'green', used: 0.74, dueAt: start + MIN });
    expect(at(75)).toMatchObject({ light: 'yellow', used: 0.75 });
    expect(at(100)).toMatchObject({ light: 'red', used: 1 });
  });

  it('keeps a clock stopped in time green and one stopped late red', () => {
    expect(slaClock('arrive', 0, 15 * MIN, 14 * MIN, 99 * MIN)).toMatchObject({ light: 'green', met: true });
    expect(slaClock('arrive', 0, 15 * MIN, 16 * MIN, 99 * MIN)).toMatchObject({ light: 'red', met: false });
  });

  it('gives minor alerts no arrival clock and every whistle its own report-in clock', () => {
    const clocks = alertClocks(
      cfg,
      {
        severity: 'minor',
        clockStart: 0,
        acknowledgedAt: null,
        arrivedAt: null,
        resolvedAt: null,
        whistles: [{ department: 'sanitation', whistledAt: 0, dueAt: 10 * MIN, reportedAt: null }],
      },
      8 * MIN,
    );
    expect(clocks.map((c) => [c.name, c.light])).toEqual([
      ['acknowledge', 'green'],
      ['resolve', 'green'],
      ['report_in:sanitation', 'yellow'],
    ]);
    expect(worstLight(clocks)).toBe('yellow');
  });
});
