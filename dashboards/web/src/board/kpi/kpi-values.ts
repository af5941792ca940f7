import { KPI_KEYS, type KpiDefinition, type KpiKey } from '../../../../../src/alerts/kpi-definitions.ts';
import { fmtDuration, fmtPct } from '../../common/format.ts';

export { dayStart, isoDay } from '../../common/zone.ts';
export { KPI_KEYS, type KpiKey };

/** A KPI as the page writes it: percentages, durations as people write them, scores to one decimal. */
export function fmtKpi(unit: KpiDefinition['unit'], v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (unit === 'ratio') return fmtPct(v);
  if (unit === 'seconds') return fmtDuration(v);
  if (unit === 'score') return `${v.toFixed(1)} / 5`;
  return String(v);
}
