import { fmtDuration, fmtPct } from '../common/format.ts';
import { t, useLang } from '../common/i18n.ts';
import type { KpiReport } from '../common/types.ts';

export function KpiTiles(props: { report: KpiReport | null; active: number }) {
  useLang();
  const k = props.report?.overall;
  const tiles: [string, string][] = [
    ['kpi.open', String(props.active)],
    ['kpi.total', k ? String(k.total) : '—'],
    ['kpi.closureRate', fmtPct(k?.closureRate)],
    ['kpi.onTimeAcknowledgeRate', fmtPct(k?.onTimeAcknowledgeRate)],
    ['kpi.onTimeArriveRate', fmtPct(k?.onTimeArriveRate)],
    ['kpi.meanSecondsToAcknowledge', fmtDuration(k?.meanSecondsToAcknowledge)],
    ['kpi.meanSecondsToResolve', fmtDuration(k?.meanSecondsToResolve)],
    ['kpi.satisfaction', k?.satisfaction == null ? '—' : `${k.satisfaction.toFixed(1)} / 5`],
    ['kpi.inGridResolutionRate', fmtPct(k?.inGridResolutionRate)],
    ['kpi.responseCircleRate', fmtPct(k?.responseCircleRate)],
  ];
  return (
    <section class="kpis" aria-label="KPI">
      {tiles.map(([key, value]) => (
        <div class="kpi" key={key} data-kpi={key.slice(4)}>
          <span class="kpi-value">{value}</span>
          <span class="kpi-label">{t(key)}</span>
        </div>
      ))}
    </section>
  );
}
