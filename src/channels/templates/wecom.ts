/** WeCom (企业微信) group robot: `msgtype: markdown`, content at most 4096 bytes. */
import type { OutboxMessage } from '../../domain/alarm.ts';
import { alarmMarkdown } from './alarm-text.ts';
import { digestMarkdown } from './digest.ts';
import { cutBytes, LIMITS } from './limits.ts';

export interface WeComMarkdown {
  msgtype: 'markdown';
  markdown: { content: string };
}

/**
 * WeCom's markdown has no @mention by mobile number (only `<@userid>`, which needs the enterprise's user ids;
 * `mentioned_mobile_list` exists for text messages only), so the people on duty are named in the text.
 */
export function renderWeCom(m: OutboxMessage): WeComMarkdown {
  const content =
    m.kind === 'digest'
      ? digestMarkdown(m, m.lang, LIMITS.robotSummaryBytes)
      : cutBytes(alarmMarkdown(m, m.lang), LIMITS.wecomMarkdownBytes);
  return { msgtype: 'markdown', markdown: { content } };
}
