// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${name}` is the providers’ own template syntax (Aliyun), not a JS template.
/**
 * SMS through a Chinese provider (Aliyun, Tencent Cloud): an approved template with named parameters and the
 * sender's 【signature】. Parameters hold no ids and no links (providers refuse links in variables: the rating
 * link's host is fixed template text, only its token is a parameter), each within the provider's length.
 */
import type { AlarmMessage, MessageLang, OutboxMessage } from '../../domain/alarm.ts';
import { countsByKind } from './digest.ts';
import { alarmTitle, placePhrase, todoShort } from './facts.ts';
import { cutChars, LIMITS, smsSegments } from './limits.ts';
import { SEVERITY } from './words.ts';

/** One approved template: the provider's code and its text with `${name}` parameters. */
export interface SmsTemplate {
  code: string;
  text: string;
}

export const SMS_KINDS = ['alarm', 'family', 'digest', 'rating'] as const;
export type SmsKind = (typeof SMS_KINDS)[number];

export interface SmsSettings {
  /** The approved signature, without brackets: 幸福社区 → 【幸福社区】. */
  signName: string;
  templates: Record<SmsKind, Record<MessageLang, SmsTemplate>>;
  /** Longest accepted message in segments (70 characters in one, 67 per segment of a long one). */
  maxSegments: number;
}

/** The templates as filed with the provider. `{base}` is the hub's public address, fixed at approval. */
export const DEFAULT_SMS_TEMPLATES: SmsSettings['templates'] = {
  alarm: {
    'zh-CN': { code: 'GH_ALARM_ZH', text: '${place}${event}（${level}），请${todo}，并在 GridHub 中确认。' },
    en: { code: 'GH_ALARM_EN', text: '${level}: ${event} at ${place}. Please ${todo}; confirm in GridHub.' },
  },
  family: {
    'zh-CN': {
      code: 'GH_FAMILY_ZH',
      text: '您的家人在${place}发起${event}，网格员正在处理，请尽快与家人联系。',
    },
    en: {
      code: 'GH_FAMILY_EN',
      text: 'Your family member at ${place} raised a ${event}. The grid worker is on it; please call them.',
    },
  },
  digest: {
    'zh-CN': { code: 'GH_DIGEST_ZH', text: '${place}共${count}条告警：${summary}，请在 GridHub 中查看。' },
    en: { code: 'GH_DIGEST_EN', text: '${count} alarms at ${place}: ${summary}. See GridHub.' },
  },
  rating: {
    'zh-CN': {
      code: 'GH_RATING_ZH',
      text: '您好，您在${place}的${event}已处理完毕，请为本次服务评分：{base}/r/${token}',
    },
    en: {
      code: 'GH_RATING_EN',
      text: 'Your ${event} at ${place} has been handled. Please rate our service: {base}/r/${token}',
    },
  },
};

/** Settings from config: `codes` replaces template codes by `kind.lang` (`alarm.zh-CN`: `SMS_123456`). */
export function smsSettings(o: {
  signName: string;
  maxSegments: number;
  codes?: Readonly<Record<string, string>>;
}): SmsSettings {
  const templates = {} as SmsSettings['templates'];
  for (const kind of SMS_KINDS) {
    const byLang = DEFAULT_SMS_TEMPLATES[kind];
    templates[kind] = {
      'zh-CN': { ...byLang['zh-CN'], code: o.codes?.[`${kind}.zh-CN`] ?? byLang['zh-CN'].code },
      en: { ...byLang.en, code: o.codes?.[`${kind}.en`] ?? byLang.en.code },
    };
  }
  return { signName: o.signName, maxSegments: o.maxSegments, templates };
}

export interface SmsMessage {
  signName: string;
  templateCode: string;
  params: Record<string, string>;
  /** The text the phone will show, signature first: for the timeline, tests and gateways that take text. */
  text: string;
  segments: number;
}

export function fillTemplate(t: SmsTemplate, params: Record<string, string>, base: string): string {
  return t.text.replaceAll('{base}', base).replace(/\$\{(\w+)\}/g, (_, k: string) => params[k] ?? '');
}

/**
 * Fill a template, cutting each parameter to the provider's limit and, if the message is still too long, the
 * place first (the reader knows their community), so it fits `maxSegments`.
 */
export function buildSms(
  s: SmsSettings,
  kind: SmsKind,
  lang: MessageLang,
  raw: Record<string, string>,
  base = '',
): SmsMessage {
  const t = s.templates[kind][lang];
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) params[k] = cutChars(v, LIMITS.smsParamChars);
  const sign = `【${s.signName}】`;
  const render = () => `${sign}${fillTemplate(t, params, base)}`;
  let text = render();
  const max = s.maxSegments === 1 ? LIMITS.smsSingleChars : s.maxSegments * LIMITS.smsSegmentChars;
  for (const k of ['place', 'summary', 'todo']) {
    const over = [...text].length - max;
    if (over <= 0 || params[k] === undefined) continue;
    params[k] = cutChars(params[k] ?? '', Math.max(4, [...(params[k] ?? '')].length - over));
    text = render();
  }
  return {
    signName: s.signName,
    templateCode: t.code,
    params,
    text,
    segments: smsSegments([...text].length),
  };
}

function alarmParams(
  m: AlarmMessage,
  lang: MessageLang,
): { place: string; event: string; level: string; todo: string } {
  return {
    place: placePhrase(m, lang, true),
    event: alarmTitle(m, lang),
    level: SEVERITY[m.severity]?.[lang] ?? m.severity,
    todo: todoShort(m, lang),
  };
}

export function renderSms(m: OutboxMessage, s: SmsSettings): SmsMessage {
  const lang = m.lang;
  if (m.kind === 'digest') {
    const grid = m.items[0]?.placePath.find((p) => p.level === 'grid')?.name ?? '';
    return buildSms(s, 'digest', lang, {
      place: grid,
      count: String(m.count),
      summary: countsByKind(m, lang),
    });
  }
  if (m.recipient.role === 'family') {
    const { place, event } = alarmParams(m, lang);
    return buildSms(s, 'family', lang, { place, event });
  }
  return buildSms(s, 'alarm', lang, alarmParams(m, lang));
}

/** The resident's rating link after resolve. */
export function renderRatingSms(
  s: SmsSettings,
  input: { lang: MessageLang; place: string; event: string; token: string; base: string },
): SmsMessage {
  return buildSms(
    s,
    'rating',
    input.lang,
    { place: input.place, event: input.event, token: input.token },
    input.base,
  );
}
