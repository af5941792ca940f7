import { describe, expect, it } from 'vitest';
import {
  alertChange,
  catalogue,
  eventReading,
  smokeReading,
  statusReading,
} from '../../test/telemetry/helpers.ts';
import { REFUSED, WRITABLE } from '../../test/telemetry/line-protocol-cases.ts';
import { alertChangeToLine, encodeLine, LineProtocolError, readingToLine } from './line-protocol.ts';

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
const NS = `${T0}000000`;

describe('line protocol', () => {
  it.each([
    {
      name: 'telemetry → the type’s measurement, place tags without unit, numbers as floats',
      line: readingToLine(smokeReading('sm-1', T0, { temperature: 21, smoke: 0.02, alarm: true }), catalogue),
      want: `smoke,device=sm-1,street=s1,community=c1,grid=g1,estate=e1,building=b1 temperature=21,smoke=0.02,alarm=true ${NS}`,
    },
    {
      name: 'event → events with type and event tags, count=1i, the catalogue’s integer field as integer',
      line: readingToLine(eventReading('cam 1', T0), catalogue),
      want: `events,device=cam\\ 1,street=s1,community=c1,grid=g1,estate=e1,building=b1,type=throw_camera,event=throw_detected count=1i,confidence=0.93,floor=12i,facade="south \\"A\\"",clipId="clip-1" ${NS}`,
    },
    {
      name: 'status → status with online bool; absent levels are not tags',
      line: readingToLine(statusReading('bin-1', T0), catalogue),
      want: `status,device=bin-1,street=s1,community=c1,grid=g1,estate=e1,type=bin,source=will online=false ${NS}`,
    },
    {
      name: 'alert change → alerts',
      line: alertChangeToLine(alertChange('sm-1', T0)),
      want: `alerts,severity=critical,category=fire,change=acknowledged,status=acknowledged,device=sm-1,street=s1,community=c1,grid=g1,estate=e1,building=b1 alert_id="a-42",age_s=42.5 ${NS}`,
    },
    {
      name: 'a point time inside the millisecond → nanosecond digits',
      line: readingToLine(smokeReading('sm-1', T0, { battery: 50 }), catalogue, { ms: T0, ns: 42 }),
      want: `smoke,device=sm-1,street=s1,community=c1,grid=g1,estate=e1,building=b1 battery=50 ${T0}000042`,
    },
  ])('$name', ({ line, want }) => {
    expect(line).toBe(want);
  });

  it.each(WRITABLE.filter((c) => c.line !== undefined))('reference case: $name', (c) => {
    expect(encodeLine(c)).toBe(c.line);
  });

  it.each(REFUSED)('refuses $name with $refused', (c) => {
    let err: unknown;
    try {
      encodeLine(c);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LineProtocolError);
    expect((err as LineProtocolError).reason).toBe(c.refused);
    expect((err as Error).message).toMatch(new RegExp(`^${c.refused}: .+`));
  });

  it('keeps a newline inside a quoted string, and refuses a reading it cannot write rather than writing less', () => {
    const ev = eventReading('cam', T0);
    ev.data = { facade: 'north\nwest' };
    expect(readingToLine(ev, catalogue)).toContain('facade="north\nwest"');
    expect(() =>
      readingToLine(smokeReading('sm', T0, { temperature: Number.NaN, battery: 5 }), catalogue),
    ).toThrow(/NON_FINITE_NUMBER/);
  });
});
