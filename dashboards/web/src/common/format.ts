import { dateFormat } from '../../../../src/clock/date-format.ts';
import { CATEGORY_LABELS } from '../../../../src/rules/categories.ts';
import { getLang } from './i18n.ts';
import { timeZone } from './zone.ts';

/**
 * A moment as people write it, in the community's zone: 12月1日 16:05:12 (Dec 1, 16:05:12), with the year when it
 * is not this year's. Seconds stay: a timeline's steps are often seconds apart.
 */
export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const thisYear = yearOf(Date.now()) === yearOf(ms);
  return formatter(thisYear ? 'day' : 'year').format(ms);
}

function formatter(style: 'day' | 'year' | 'yearOnly'): Intl.DateTimeFormat {
  const zone = timeZone();
  if (style === 'yearOnly') return dateFormat(getLang(), { timeZone: zone, year: 'numeric' });
  return dateFormat(getLang(), {
    timeZone: zone,
    ...(style === 'year' ? { year: 'numeric' } : {}),
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
}

function yearOf(ms: number): string {
  return formatter('yearOnly').format(ms);
}

/** Durations as people write them: 56分17秒, 2小时5分; 56 min 17 s, 2 h 5 min. */
export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  const zh = getLang() === 'zh-CN';
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  if (s < 60) return zh ? `${s}秒` : `${s} s`;
  if (s < 3600) return zh ? `${m}分${sec ? `${sec}秒` : ''}` : `${m} min${sec ? ` ${sec} s` : ''}`;
  if (s < 86_400) return zh ? `${h}小时${m ? `${m}分` : ''}` : `${h} h${m ? ` ${m} min` : ''}`;
  const d = Math.floor(s / 86_400);
  const hh = Math.floor((s % 86_400) / 3600);
  return zh ? `${d}天${hh ? `${hh}小时` : ''}` : `${d} d${hh ? ` ${hh} h` : ''}`;
}

/**
 * How people name an alert on the phone or in a ticket: the last 8 characters of its id (the full id on hover).
 * Ids are time-ordered (UUID v7): their first 8 characters are the same for every alert of the same minute.
 */
export function alertRef(id: string): string {
  return id.slice(-8);
}

export function fmtPct(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '—' : `${Math.round(ratio * 1000) / 10}%`;
}

export function placeLabel(names: string[], floor: number | null): string {
  const tail = names.slice(-3).join(' · ');
  if (floor === null) return tail;
  return getLang() === 'zh-CN' ? `${tail} · ${floor}层` : `${tail} · floor ${floor}`;
}

/**
 * Rules carry an English title and a category code; in Chinese the category's label reads better than the
 * English title. Categories the hub does not label (custom rules, flows) keep their rule's own title.
 */
export function alertTitle(a: { title: string; category: string }): string {
  const label = Object.hasOwn(CATEGORY_LABELS, a.category) ? CATEGORY_LABELS[a.category] : undefined;
  return getLang() === 'zh-CN' && label ? label['zh-CN'] : a.title;
}
