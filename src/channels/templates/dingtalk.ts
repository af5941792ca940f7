/** DingTalk (钉钉) custom robot: markdown with `at.atMobiles` of the people on duty. */
import type { OutboxMessage } from '../../domain/alarm.ts';
import { alarmMarkdown } from './alarm-text.ts';
import { digestMarkdown, digestTitle } from './digest.ts';
import { alarmTitle, placePhrase } from './facts.ts';
import { cutBytes, LIMITS } from './limits.ts';

export interface DingTalkMarkdown {
  msgtype: 'markdown';
  markdown: { title: string; text: string };
  at: { atMobiles: string[]; isAtAll: false };
}

/**
 * `title` is what the conversation list and the notification show; the text carries `@mobile` for each person
 * in `atMobiles`, without which DingTalk notifies but does not show the mention.
 */
export function renderDingTalk(m: OutboxMessage): DingTalkMarkdown {
  if (m.kind === 'digest') {
    return {
      msgtype: 'markdown',
      markdown: { title: digestTitle(m, m.lang), text: digestMarkdown(m, m.lang, LIMITS.robotSummaryBytes) },
      at: { atMobiles: [], isAtAll: false },
    };
  }
  const mobiles = [...new Set(m.onDuty.map((p) => p.mobile).filter((x): x is string => !!x))];
  const mention = mobiles.length ? [mobiles.map((x) => `@${x}`).join(' ')] : [];
  const text = cutBytes(alarmMarkdown(m, m.lang, mention), LIMITS.robotSummaryBytes);
  return {
    msgtype: 'markdown',
    markdown: { title: `${alarmTitle(m, m.lang)} ${placePhrase(m, m.lang, true)}`, text },
    at: { atMobiles: mobiles, isAtAll: false },
  };
}
