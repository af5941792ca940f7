/**
 * Documented limits of each platform that a rendered message must respect; the golden tests check every template
 * against them.
 * - WeCom group robot: `markdown.content` at most 4096 bytes (UTF-8); 20 messages a minute per robot.
 * - DingTalk custom robot: markdown `title` + `text`, `at.atMobiles` (the text must contain `@mobile` for the
 *   mention to show); signing with timestamp + HMAC-SHA256; 20 messages a minute per robot (then 10 min blocked).
 * - Feishu custom bot: request body at most 20 KB; signed with timestamp (s) + HMAC-SHA256; 100 a minute, 5 a second.
 * - Web Push: a record of 4096 bytes, about 3 990 bytes of plaintext after aes128gcm (RFC 8188/8291).
 * - SMS (Aliyun / Tencent Cloud): approved template + parameters + 【signature】; a template variable at most
 *   35 characters; 70 characters in one message, 67 per segment of a long one; no links in parameters.
 */
export const LIMITS = {
  wecomMarkdownBytes: 4096,
  dingtalkTextBytes: 20_000,
  /** What we aim a robot summary at, below every robot's limit, so one summary fits all three. */
  robotSummaryBytes: 4000,
  feishuBodyBytes: 20_000,
  webPushPlaintextBytes: 3990,
  smsParamChars: 35,
  smsSingleChars: 70,
  smsSegmentChars: 67,
  /** A spoken message longer than this is not listened to the end. */
  voiceChars: 300,
  robotPerMinute: { wecom: 20, dingtalk: 20, feishu: 100 },
} as const;

/** Segments an SMS of this length is billed and split into. */
export function smsSegments(chars: number): number {
  return chars <= LIMITS.smsSingleChars ? 1 : Math.ceil(chars / LIMITS.smsSegmentChars);
}

/** Cut a string to `max` characters (code points), marking the cut. */
export function cutChars(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** Cut a string to at most `max` UTF-8 bytes on a character boundary, marking the cut. */
export function cutBytes(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch, 'utf8');
    if (bytes + b > max - 3) break;
    out += ch;
    bytes += b;
  }
  return `${out}…`;
}
