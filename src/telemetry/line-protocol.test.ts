import { describe, expect, it } from 'vitest';
import {
  alertChange,
  catalogue,
  eventReading,
  smokeReading,
  statusReading,
} from '../../test/telemetry/helpers.ts';
import { alertChangeToLine, readingToLine } from './line-protocol.ts';

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

describe('line protocol', () => {
  it.each([
    {
      name: 'telemetry → the type’s measurement, place tags without unit, numbers as floats',
      line: readingToLine(smokeReading('sm-1', T0, { temperature: 21, smoke: 0.02, alarm: true }), catalogue),
      want: `smoke,device=sm-1,street=s1,community=c1,grid=g1,estate=e1,building=b1 temperature=21,smoke=0.02,alarm=true ${T0}`,
    },
    {
      name: 'event → events with type, event tags, count=1i and escaped strings',
      line: readingToLine(eventReading('cam 1', T0), catalogue),
      want: `events,device=cam\\ 1,street=s1,community=c1,grid=g1,estate=e1,building=b1,type=throw_camera,event=throw_detected count=1i,confidence=0.93,floor=12,facade="south \\"A\\"",clipId="clip-1" ${T0}`,
    },
    {
      name: 'status → status with online bool; absent levels are not tags',
      line: readingToLine(statusReading('bin-1', T0), catalogue),
      want: `status,device=bin-1,street=s1,community=c1,grid=g1,estate=e1,type=bin,source=will online=false ${T0}`,
    },
    {
      name: 'alert change → alerts',
      line: alertChangeToLine(alertChange('sm-1', T0)),
      want: `alerts,severity=critical,category=fire,change=acknowledged,status=acknowledged,device=sm-1,street=s1,community=c1,grid=g1,estate=e1,building=b1 alert_id="a-42",age_s=42.5 ${T0}`,
    },
  ])('$name', ({ line, want }) => {
    expect(line).toBe(want);
  });

  it('never emits a newline inside a line, and nothing for a reading without writable values', () => {
    const ev = eventReading('cam', T0);
    ev.data = { facade: 'north\nwest' };
    expect(readingToLine(ev, catalogue)).not.toMatch(/\n/);
    expect(readingToLine(smokeReading('sm', T0, { temperature: Number.NaN }), catalogue)).toBeUndefined();
  });
});
