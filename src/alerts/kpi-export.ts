/** KPI exports for grid assessment (网格考核): one row per grid, then the whole; CSV and Excel (xlsx). */
import ExcelJS from 'exceljs';
import { KPI_DEFINITIONS, KPI_KEYS, type KpiKey } from './kpi-definitions.ts';
import type { KpiFigures, KpiReport } from './kpis.ts';

export type ExportLang = 'zh-CN' | 'en';

const HEAD = {
  'zh-CN': { grid: '网格编号', name: '网格', all: '合计', period: '统计时段', key: '指标', def: '定义' },
  en: { grid: 'Grid id', name: 'Grid', all: 'All', period: 'Period', key: 'KPI', def: 'Definition' },
} as const;

function header(key: KpiKey, lang: ExportLang): string {
  const d = KPI_DEFINITIONS[key];
  const unit = d.unit === 'seconds' ? (lang === 'zh-CN' ? '（秒）' : ' (s)') : '';
  return `${d.label[lang]}${unit}`;
}

function rows(report: KpiReport, lang: ExportLang): { id: string; name: string; figures: KpiFigures }[] {
  return [
    ...report.grids.map((g) => ({ id: g.gridId, name: g.gridName ?? g.gridId, figures: g })),
    { id: '', name: HEAD[lang].all, figures: report.overall },
  ];
}

function period(report: KpiReport): string {
  const day = (ms: number | null) =>
    ms === null
      ? '…'
      : new Intl.DateTimeFormat('en-CA', { timeZone: report.timeZone, dateStyle: 'short' }).format(ms);
  // `to` is exclusive: the last day of the period is the day before it.
  return `${day(report.from)}_${day(report.to === null ? null : report.to - 1)}`;
}

export function exportFileName(report: KpiReport, ext: 'csv' | 'xlsx'): string {
  return `gridhub-kpis-${period(report)}.${ext}`;
}

const csvCell = (v: string | number | null) => {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/** Ratios as percentages with two decimals ("75.00%", which spreadsheets read as numbers), times in seconds. */
function csvValue(key: KpiKey, v: number | null): string | number | null {
  if (v === null) return null;
  return KPI_DEFINITIONS[key].unit === 'ratio' ? `${(v * 100).toFixed(2)}%` : v;
}

export function kpiCsv(report: KpiReport, lang: ExportLang): string {
  const h = HEAD[lang];
  const lines = [[h.grid, h.name, ...KPI_KEYS.map((k) => header(k, lang))]];
  for (const r of rows(report, lang)) {
    lines.push([r.id, r.name, ...KPI_KEYS.map((k) => String(csvValue(k, r.figures[k]) ?? ''))]);
  }
  // A BOM so that Excel opens the UTF-8 file with its Chinese intact.
  return `\uFEFF${lines.map((l) => l.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

export async function kpiXlsx(report: KpiReport, lang: ExportLang): Promise<Buffer> {
  const h = HEAD[lang];
  const wb = new ExcelJS.Workbook();
  wb.creator = 'GridHub';
  const ws = wb.addWorksheet(lang === 'zh-CN' ? '网格考核' : 'Grid KPIs');
  ws.columns = [
    { header: h.grid, key: 'id', width: 10 },
    { header: h.name, key: 'name', width: 14 },
    ...KPI_KEYS.map((k) => ({ header: header(k, lang), key: k, width: 14 })),
  ];
  for (const r of rows(report, lang)) ws.addRow({ id: r.id, name: r.name, ...r.figures });
  for (const k of KPI_KEYS) {
    const unit = KPI_DEFINITIONS[k].unit;
    if (unit === 'ratio') ws.getColumn(k).numFmt = '0.0%';
    if (unit === 'score') ws.getColumn(k).numFmt = '0.0';
  }
  ws.getRow(1).font = { bold: true };
  ws.views = [{ state: 'frozen', xSplit: 2, ySplit: 1 }];

  const defs = wb.addWorksheet(lang === 'zh-CN' ? '指标定义' : 'Definitions');
  defs.columns = [
    { header: h.key, key: 'label', width: 22 },
    { header: h.def, key: 'def', width: 90 },
  ];
  defs.addRow({ label: h.period, def: period(report).replace('_', ' – ') });
  for (const k of KPI_KEYS) defs.addRow({ label: header(k, lang), def: KPI_DEFINITIONS[k].definition[lang] });
  defs.getRow(1).font = { bold: true };
  return Buffer.from(await wb.xlsx.writeBuffer());
}
