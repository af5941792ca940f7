/**
 * The storm summary: one message per group robot and window that counts the alarms by kind and by building,
 * names the life-safety ones first, lists as many as fit the platform's size, and links to the list.
 */
import type { DigestItem, DigestMessage, MessageLang } from '../../domain/alarm.ts';
import { severityRank } from '../../domain/severity.ts';
import { alarmTitle, formatTime, itemLine, utf8Bytes } from './facts.ts';
import { categoryWords, LABELS, SEVERITY } from './words.ts';

const zh = (lang: MessageLang) => lang === 'zh-CN';

export function digestTitle(d: DigestMessage, lang: MessageLang): string {
  const sev = SEVERITY[d.severity]?.[lang] ?? d.severity;
  return zh(lang) ? `[${sev}] 告警汇总：${d.count} 条` : `[${sev}] ${d.count} alarms`;
}

/** Life-safety first, then by severity, then oldest first. */
export function orderedItems(items: readonly DigestItem[]): DigestItem[] {
  return [...items].sort(
    (a, b) =>
      Number(categoryWords(b.category, b.title).lifeSafety) -
        Number(categoryWords(a.category, a.title).lifeSafety) ||
      severityRank(b.severity) - severityRank(a.severity) ||
      a.openedAt - b.openedAt,
  );
}

/** 「设备离线 50 条，高空抛物 2 条」 */
export function countsByKind(d: DigestMessage, lang: MessageLang): string {
  const z = zh(lang);
  return d.byKind
    .map((k) => [alarmTitle(k, lang), k.n] as const)
    .map(([k, n]) => (z ? `${k} ${n} 条` : `${k}: ${n}`))
    .join(z ? '，' : ', ');
}

export function countsByBuilding(d: DigestMessage, lang: MessageLang, max = 6): string {
  const z = zh(lang);
  const all = d.byBuilding.map((b) => [b.name, b.n] as const);
  const shown = all.slice(0, max).map(([k, n]) => (z ? `${k} ${n} 条` : `${k}: ${n}`));
  if (all.length > max) shown.push(z ? `等 ${all.length} 处` : `${all.length} places in all`);
  return shown.join(z ? '，' : ', ');
}

export function windowLine(d: DigestMessage, lang: MessageLang): string {
  const times = d.items.map((i) => i.openedAt);
  const from = Math.min(...times, d.sentAt);
  return `${formatTime(from, d.timeZone, lang)}${zh(lang) ? ' 起' : ' onwards'}`;
}

/**
 * Markdown summary within `budget` bytes: header, counts, then one line per alarm (life-safety first) while they
 * fit, then 「另有 N 条」 and the link.
 */
export function digestMarkdown(
  d: DigestMessage,
  lang: MessageLang,
  budget: number,
  opts: { heading?: boolean } = {},
): string {
  const z = zh(lang);
  const head = [
    ...(opts.heading === false ? [] : [`### ${digestTitle(d, lang)}`]),
    `> ${windowLine(d, lang)}`,
    `**${z ? '按类型' : 'By kind'}**${z ? '：' : ': '}${countsByKind(d, lang)}`,
    `**${z ? '按楼栋' : 'By building'}**${z ? '：' : ': '}${countsByBuilding(d, lang)}`,
  ];
  const link = `[${LABELS.openList[lang]}](${d.link})`;
  const lines: string[] = [];
  const ordered = orderedItems(d.items);
  const fixed = utf8Bytes(`${head.join('\n')}\n\n${link}`) + 64;
  let used = fixed;
  for (const i of ordered) {
    const l = `- ${itemLine(i, lang)}`;
    const b = utf8Bytes(l) + 1;
    if (used + b > budget) break;
    lines.push(l);
    used += b;
  }
  const rest = d.count - lines.length;
  const more = rest > 0 ? [z ? `- …另有 ${rest} 条，见列表` : `- …and ${rest} more in the list`] : [];
  return [...head, '', ...lines, ...more, '', link].join('\n');
}
