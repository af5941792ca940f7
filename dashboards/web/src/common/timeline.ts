/**
 * A timeline event in plain words for the duty room and the worker: who did it by name (or "system"), what it
 * was, and the facts that matter — never rule ids, role codes, rung numbers or dedup keys.
 */
import { fmtDuration, fmtTime } from './format.ts';
import { t } from './i18n.ts';
import { fill } from './i18n-views.ts';
import type { TimelineEvent } from './types.ts';

export interface TimelineWords {
  title: string;
  who: string;
  text: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const roles = (v: unknown): string =>
  Array.isArray(v) ? v.map((r) => t(`role.${String(r)}`)).join(t('tl.listSep')) : '';

function whoOf(e: TimelineEvent): string {
  if (e.actorName) return e.actorName;
  if (e.actor === 'system') return t('actor.system');
  if (e.actor.startsWith('rule:') || e.actor.startsWith('flow:')) return t('actor.rule');
  if (e.actor.startsWith('channel:')) return t(`channel.${e.actor.slice(8)}`);
  return e.actor;
}

/** `not acknowledged within 60 s` → 1分钟内未接警. */
function escalationText(d: Record<string, unknown>): string {
  if (d.reason === 'report_in_overdue')
    return fill(t('tl.reportOverdue'), { dept: t(`dept.${str(d.department)}`) });
  const m = /^not (\w+) within (\d+) s$/.exec(str(d.reason));
  if (!m) return roles(d.roles);
  return fill(t('tl.escalatedTo'), {
    roles: roles(d.roles),
    milestone: t(`milestone.${m[1]}`),
    time: fmtDuration(Number(m[2])),
  });
}

function textOf(e: TimelineEvent): string {
  const d: Record<string, unknown> = { ...e.data, target: e.targetName ?? e.data.target };
  switch (e.type) {
    case 'dispatched': {
      const list = Array.isArray(d.recipients) ? (d.recipients as { name?: string; role?: string }[]) : [];
      const who = list
        .map((r) => fill(t('tl.recipient'), { name: r.name ?? '', role: t(`role.${r.role ?? ''}`) }))
        .join(t('tl.listSep'));
      return who ? fill(t('tl.notified'), { who }) : '';
    }
    case 'unrouted':
      return fill(t('tl.nobody'), { roles: roles(d.roles) });
    case 'escalated':
      return escalationText(d);
    // the channel is the event's actor, shown beside its title: the text says only to whom
    case 'delivered':
      return fill(t('tl.deliveredTo'), { target: str(d.target) });
    case 'delivery_failed':
    case 'delivery_dead':
      return fill(t('tl.failedTo'), { target: str(d.target), n: Number(d.attempt ?? 1) });
    case 'must_reach':
      return fill(t('tl.mustReach'), { rung: t(`rung.${str(d.step)}`) });
    case 'must_reach_exhausted':
      return t('tl.mustReachExhausted');
    case 'repeated':
      return fill(t('tl.repeated'), { n: Number(d.count ?? 0) });
    case 'resolved':
      return [t(`resolution.${str(d.resolution) || 'handled'}`), str(d.note)]
        .filter(Boolean)
        .join(t('tl.labelSep'));
    case 'rated': {
      const score = Number(d.score ?? 0);
      return `${'★'.repeat(score)}${'☆'.repeat(Math.max(0, 5 - score))} ${str(d.comment)}`.trim();
    }
    case 'whistled':
      return [
        t(`dept.${str(d.department)}`),
        typeof d.dueAt === 'number' ? fill(t('tl.due'), { time: fmtTime(d.dueAt) }) : '',
        str(d.note),
      ]
        .filter(Boolean)
        .join(' · ');
    case 'reported_in':
      return `${t(`dept.${str(d.department)}`)} · ${d.onTime ? t('tl.onTime') : t('tl.late')}${str(d.note) ? ` · ${str(d.note)}` : ''}`;
    case 'reopened':
      return d.previousResolution
        ? fill(t('tl.reopenedAfter'), { resolution: t(`resolution.${str(d.previousResolution)}`) })
        : '';
    case 'false_alarm':
    case 'device_fault':
      return [str(d.reason), str(d.note)].filter(Boolean).join(' · ');
    case 'closed':
    case 'cancelled_by_resident':
      return str(d.note);
    default:
      return '';
  }
}

export function timelineWords(e: TimelineEvent): TimelineWords {
  return { title: t(`event.${e.type}`), who: whoOf(e), text: textOf(e) };
}
