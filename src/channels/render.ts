/**
 * Human-readable text of an outbox message for chat robots, SMS and voice. The payload reaching here is already
 * masked (residents' phone numbers and health notes), so rendering never has to think about privacy.
 */

const SEVERITY_LABEL: Record<string, string> = { critical: '紧急', major: '重要', minor: '一般' };

interface AlarmLike {
  kind?: unknown;
  change?: unknown;
  alertId?: unknown;
  severity?: unknown;
  title?: unknown;
  detail?: unknown;
  placeNames?: unknown;
  floor?: unknown;
  status?: unknown;
  resident?: unknown;
  count?: unknown;
  items?: unknown;
  digestId?: unknown;
  version?: unknown;
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);

function where(p: AlarmLike): string {
  const names = Array.isArray(p.placeNames) ? p.placeNames.map(str).join(' / ') : '';
  return typeof p.floor === 'number' ? `${names} ${p.floor}F` : names;
}

function residentLine(p: AlarmLike): string | null {
  const r = p.resident as { name?: unknown; phone?: unknown } | undefined;
  if (!r || typeof r !== 'object') return null;
  return `住户 ${str(r.name)} ${str(r.phone)}`.trim();
}

export interface RenderedMessage {
  title: string;
  /** Plain text, several lines. */
  text: string;
  /** Markdown for robots that render it (WeCom, DingTalk). */
  markdown: string;
}

export function renderMessage(payload: Record<string, unknown>): RenderedMessage {
  const p = payload as AlarmLike;
  if (p.kind === 'digest') {
    const items = Array.isArray(p.items) ? (p.items as AlarmLike[]) : [];
    const count = typeof p.count === 'number' ? p.count : items.length;
    const title = `告警汇总 ${count} 条${Number(p.version) > 1 ? '（更新）' : ''}`;
    const lines = items.map(
      (i) => `${SEVERITY_LABEL[str(i.severity)] ?? str(i.severity)} ${str(i.title)} · ${where(i)}`,
    );
    const more = count > items.length ? [`… 另有 ${count - items.length} 条`] : [];
    return {
      title,
      text: [title, ...lines, ...more, `汇总编号 ${str(p.digestId)}`].join('\n'),
      markdown: [
        `### ${title}`,
        ...lines.map((l) => `- ${l}`),
        ...more,
        `> 汇总编号 ${str(p.digestId)}`,
      ].join('\n'),
    };
  }
  const sev = SEVERITY_LABEL[str(p.severity)] ?? str(p.severity);
  const title = `[${sev}] ${str(p.title)}`;
  const resident = residentLine(p);
  const lines = [
    where(p),
    str(p.detail),
    ...(resident ? [resident] : []),
    `状态 ${str(p.status)}${p.change ? ` · ${str(p.change)}` : ''}`,
    `告警编号 ${str(p.alertId)}`,
  ].filter((l) => l !== '');
  return {
    title,
    text: [title, ...lines].join('\n'),
    markdown: [`### ${title}`, ...lines.map((l) => `> ${l}`)].join('\n'),
  };
}
