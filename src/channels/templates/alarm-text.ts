/** The body lines of one alarm, shared by the markdown and plain-text templates. */
import type { AlarmMessage, MessageLang } from '../../domain/alarm.ts';
import {
  changeLead,
  formatTime,
  heading,
  placePhrase,
  residentLines,
  slaLine,
  todo,
  whatHappened,
  whoLine,
} from './facts.ts';
import { LABELS } from './words.ts';

export interface AlarmLine {
  label: string;
  value: string;
}

export function alarmLines(m: AlarmMessage, lang: MessageLang): AlarmLine[] {
  const lines: AlarmLine[] = [
    { label: LABELS.place[lang], value: placePhrase(m, lang) },
    { label: LABELS.time[lang], value: formatTime(m.openedAt, m.timeZone, lang) },
    { label: LABELS.what[lang], value: whatHappened(m, lang) },
    { label: LABELS.todo[lang], value: todo(m, lang) },
    { label: LABELS.who[lang], value: whoLine(m, lang) },
  ];
  const sla = slaLine(m, lang);
  if (sla) lines.push({ label: LABELS.sla[lang], value: sla });
  return lines;
}

/** 「[紧急] 烟感报警」, with the reason for a repeat in front: 「无人确认，再次通知：[紧急] 烟感报警」. */
export function alarmHeading(m: AlarmMessage, lang: MessageLang): string {
  const lead = changeLead(m, lang);
  const h = heading(m, lang);
  return lead ? `${h}（${lead}）`.replace(/（(.*)）$/, lang === 'zh-CN' ? '（$1）' : ' ($1)') : h;
}

const sep = (lang: MessageLang) => (lang === 'zh-CN' ? '：' : ': ');

/** Plain text: heading, the lines, the resident, the link. */
export function alarmPlainText(m: AlarmMessage, lang: MessageLang): string {
  return [
    alarmHeading(m, lang),
    ...alarmLines(m, lang).map((l) => `${l.label}${sep(lang)}${l.value}`),
    ...residentLines(m, lang),
    `${LABELS.open[lang]}${sep(lang)}${m.link}`,
  ].join('\n');
}

/** Markdown as WeCom and DingTalk render it: bold labels, a quote per line, the link last. */
export function alarmMarkdown(m: AlarmMessage, lang: MessageLang, extra: string[] = []): string {
  return [
    `### ${alarmHeading(m, lang)}`,
    ...alarmLines(m, lang).map((l) => `> **${l.label}**${sep(lang)}${l.value}`),
    ...residentLines(m, lang).map((l) => `> ${l}`),
    '',
    `[${LABELS.open[lang]}](${m.link})`,
    ...extra,
  ].join('\n');
}
