/** The notification of a Web Push (and the title/body of the worker app): short, the place first. */
import type { OutboxMessage } from '../../domain/alarm.ts';
import { alarmHeading } from './alarm-text.ts';
import { countsByKind, digestTitle } from './digest.ts';
import { placePhrase, whatHappened } from './facts.ts';
import { cutChars } from './limits.ts';
import { LABELS } from './words.ts';

export interface PushNotification {
  title: string;
  body: string;
  url: string;
}

export function renderPush(m: OutboxMessage): PushNotification {
  const lang = m.lang;
  if (m.kind === 'digest') {
    return { title: digestTitle(m, lang), body: cutChars(countsByKind(m, lang), 300), url: m.link };
  }
  const sep = lang === 'zh-CN' ? '：' : ': ';
  const lines = [placePhrase(m, lang), whatHappened(m, lang)];
  // On a lock screen: the name and the number to call back, never the health note (that stays in the app).
  const r = m.residentCard;
  if (r)
    lines.push(
      `${LABELS.resident[lang]}${sep}${r.name}${r.phone ? ` · ${LABELS.callback[lang]} ${r.phone}` : ''}`,
    );
  return { title: alarmHeading(m, lang), body: cutChars(lines.join('\n'), 500), url: m.link };
}
