import { CATEGORY_LABELS } from '../../../../src/rules/categories.ts';
import { getLang } from './i18n.ts';

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return new Date(ms).toLocaleString(getLang(), {
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function fmtPct(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '—' : `${Math.round(ratio * 1000) / 10}%`;
}

export function placeLabel(names: string[], floor: number | null): string {
  const tail = names.slice(-3).join(' · ');
  return floor === null ? tail : `${tail} · ${floor}F`;
}

/**
 * Rules carry an English title and a category code; in Chinese the category's label reads better than the
 * English title. Categories the hub does not label (custom rules, flows) keep their rule's own title.
 */
export function alertTitle(a: { title: string; category: string }): string {
  const label = Object.hasOwn(CATEGORY_LABELS, a.category) ? CATEGORY_LABELS[a.category] : undefined;
  return getLang() === 'zh-CN' && label ? label['zh-CN'] : a.title;
}
