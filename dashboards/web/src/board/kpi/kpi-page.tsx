import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api } from '../../common/api.ts';
import { getLang, t, useLang } from '../../common/i18n.ts';
import type { KpiReport } from '../../common/types.ts';
import { downloadExport } from './export.ts';
import { dayStart, fmtKpi, isoDay, KPI_KEYS } from './kpi-values.ts';
import { trendChart } from './trend-chart.ts';

const DAY = 86_400_000;

/** 网格考核: the KPIs of each grid side by side over a chosen period, their daily trend, and the export. */
export function KpiPage(props: { api: Api; now: () => number }) {
  const lang = useLang();
  const today = isoDay(props.now());
  const [from, setFrom] = useState(`${today.slice(0, 8)}01`);
  const [to, setTo] = useState(today);
  const [report, setReport] = useState<KpiReport | null>(null);
  const [error, setError] = useState('');
  const range = () => ({ from: dayStart(from), to: dayStart(to) + DAY });

  useEffect(() => {
    const r = range();
    if (!(r.to > r.from)) return;
    let live = true;
    props.api
      .get<KpiReport>(`/api/kpis?from=${r.from}&to=${r.to}`)
      .then((k) => {
        if (!live) return;
        setReport(k);
        setError('');
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [from, to, props.api]);

  const chartEl = useRef<HTMLDivElement>(null);
  const chart = useRef<ReturnType<typeof trendChart> | null>(null);
  useEffect(() => {
    if (!chartEl.current) return;
    chart.current = trendChart(chartEl.current);
    return () => chart.current?.dispose();
  }, []);
  useEffect(() => {
    if (report) chart.current?.update(report, { raised: t('kpi.raised'), closureRate: t('kpi.closureRate') });
  }, [report, lang]);

  const save = (format: 'csv' | 'xlsx') => {
    const r = range();
    downloadExport(
      props.api.token,
      `/api/kpis/export?format=${format}&from=${r.from}&to=${r.to}&lang=${getLang()}`,
    )
      .then(() => setError(''))
      .catch((e: Error) => setError(e.message));
  };

  const columns = report
    ? [
        ...report.grids.map((g) => ({ id: g.gridId, name: g.gridName ?? g.gridId, f: g })),
        { id: 'all', name: t('kpi.all'), f: report.overall },
      ]
    : [];
  return (
    <section class="kpi-page" data-view="kpis">
      <div class="map-bar">
        <label>
          {t('kpi.from')}
          <input
            type="date"
            name="from"
            value={from}
            max={to}
            onChange={(e) => setFrom(e.currentTarget.value)}
          />
        </label>
        <label>
          {t('kpi.to')}
          <input type="date" name="to" value={to} min={from} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        <span class="spacer" />
        <button type="button" data-export="csv" onClick={() => save('csv')}>
          {t('kpi.exportCsv')}
        </button>
        <button type="button" data-export="xlsx" class="primary" onClick={() => save('xlsx')}>
          {t('kpi.exportXlsx')}
        </button>
      </div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="kpi-body">
        <table class="kpi-table" data-from={report?.from ?? ''} data-to={report?.to ?? ''}>
          <thead>
            <tr>
              <th>{t('kpi.kpi')}</th>
              {columns.map((c) => (
                <th key={c.id} data-grid={c.id}>
                  {c.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {report
              ? KPI_KEYS.map((key) => {
                  const def = report.definitions[key];
                  return (
                    <tr key={key}>
                      <th title={def.definition[lang]}>{def.label[lang]}</th>
                      {columns.map((c) => (
                        <td key={c.id} data-grid={c.id} data-kpi={key}>
                          {fmtKpi(def.unit, c.f[key])}
                        </td>
                      ))}
                    </tr>
                  );
                })
              : null}
          </tbody>
        </table>
        <div class="kpi-side">
          <div ref={chartEl} class="trend-chart" role="img" aria-label={t('kpi.trend')} />
          {report ? (
            <details class="kpi-defs" open>
              <summary>{t('kpi.definitions')}</summary>
              <dl>
                {KPI_KEYS.map((key) => (
                  <>
                    <dt key={`${key}-t`}>{report.definitions[key].label[lang]}</dt>
                    <dd key={`${key}-d`}>{report.definitions[key].definition[lang]}</dd>
                  </>
                ))}
              </dl>
            </details>
          ) : null}
        </div>
      </div>
    </section>
  );
}
