/** Feishu (飞书) custom bot: an interactive card with a button to the alert; body at most 20 KB. */
import type { OutboxMessage } from '../../domain/alarm.ts';
import { alarmHeading, alarmLines } from './alarm-text.ts';
import { digestMarkdown, digestTitle } from './digest.ts';
import { residentLines } from './facts.ts';
import { LIMITS } from './limits.ts';
import { LABELS } from './words.ts';

type Text = { tag: 'plain_text' | 'lark_md'; content: string };
type Element =
  | { tag: 'div'; text: Text }
  | { tag: 'hr' }
  | {
      tag: 'action';
      actions: { tag: 'button'; text: Text; type: 'primary' | 'danger' | 'default'; url: string }[];
    };

export interface FeishuCard {
  msg_type: 'interactive';
  card: {
    config: { wide_screen_mode: true };
    header: { title: Text; template: 'red' | 'orange' | 'blue' };
    elements: Element[];
  };
}

const COLOUR = { critical: 'red', major: 'orange', minor: 'blue' } as const;

export function renderFeishu(m: OutboxMessage): FeishuCard {
  const lang = m.lang;
  const sep = lang === 'zh-CN' ? '：' : ': ';
  const title = m.kind === 'digest' ? digestTitle(m, lang) : alarmHeading(m, lang);
  const body =
    m.kind === 'digest'
      ? digestMarkdown(m, lang, LIMITS.robotSummaryBytes, { heading: false })
          // The card has its own button; lark_md has no headings.
          .replace(/\n\[[^\]]*\]\([^)]*\)$/, '')
      : [...alarmLines(m, lang).map((l) => `**${l.label}**${sep}${l.value}`), ...residentLines(m, lang)].join(
          '\n',
        );
  return {
    msg_type: 'interactive',
    card: {
      config: { wide_screen_mode: true },
      header: { title: { tag: 'plain_text', content: title }, template: COLOUR[m.severity] ?? 'blue' },
      elements: [
        { tag: 'div', text: { tag: 'lark_md', content: body } },
        {
          tag: 'action',
          actions: [
            {
              tag: 'button',
              text: {
                tag: 'plain_text',
                content: m.kind === 'digest' ? LABELS.openList[lang] : LABELS.open[lang],
              },
              type: m.severity === 'critical' ? 'danger' : 'primary',
              url: m.link,
            },
          ],
        },
      ],
    },
  };
}
