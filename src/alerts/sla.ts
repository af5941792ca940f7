import type { Severity } from '../domain/severity.ts';
import type { AlertsConfig } from './config.ts';

export type Light = 'green' | 'yellow' | 'red';
export const LIGHTS = ['green', 'yellow', 'red'] as const;

/** One running or stopped SLA clock of an alert (红黄绿灯). */
export interface SlaClock {
  name: string;
  startedAt: number;
  dueAt: number;
  /** When the clock stopped (milestone reached), else null. */
  stoppedAt: number | null;
  light: Light;
  /** Share of the allowance used, 0.75 = 75 %. */
  used: number;
  met: boolean | null;
}

/** Green under 75 % of the allowance, yellow from 75 %, red when the allowance is used up (design §1). */
export function lightFor(used: number): Light {
  if (used >= 1) return 'red';
  if (used >= 0.75) return 'yellow';
  return 'green';
}

export function slaClock(
  name: string,
  startedAt: number,
  allowanceMs: number,
  stoppedAt: number | null,
  now: number,
): SlaClock {
  const end = stoppedAt ?? now;
  const used = Math.max(0, end - startedAt) / allowanceMs;
  const dueAt = startedAt + allowanceMs;
  return {
    name,
    startedAt,
    dueAt,
    stoppedAt,
    // A clock stopped in time stays green; one stopped late keeps the colour it ended with.
    light: stoppedAt !== null && stoppedAt <= dueAt ? 'green' : lightFor(used),
    used: Math.round(used * 1000) / 1000,
    met: stoppedAt === null ? null : stoppedAt <= dueAt,
  };
}

export interface ClockInput {
  severity: Severity;
  clockStart: number;
  acknowledgedAt: number | null;
  arrivedAt: number | null;
  resolvedAt: number | null;
  whistles: { department: string; whistledAt: number; dueAt: number; reportedAt: number | null }[];
}

export function alertClocks(cfg: AlertsConfig, a: ClockInput, now: number): SlaClock[] {
  const sla = cfg.sla[a.severity];
  const clocks = [slaClock('acknowledge', a.clockStart, sla.acknowledgeMs, a.acknowledgedAt, now)];
  if (sla.arriveMs !== null) clocks.push(slaClock('arrive', a.clockStart, sla.arriveMs, a.arrivedAt, now));
  clocks.push(slaClock('resolve', a.clockStart, sla.resolveMs, a.resolvedAt, now));
  for (const w of a.whistles) {
    clocks.push(
      slaClock(`report_in:${w.department}`, w.whistledAt, w.dueAt - w.whistledAt, w.reportedAt, now),
    );
  }
  return clocks;
}

/** The alert's overall light: the worst of its clocks that still run (resolved alerts keep their worst). */
export function worstLight(clocks: SlaClock[]): Light {
  let worst = 0;
  for (const c of clocks) worst = Math.max(worst, LIGHTS.indexOf(c.light));
  return LIGHTS[worst] ?? 'green';
}
