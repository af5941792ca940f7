/**
 * Text for a voice call (TTS): short sentences, the place said twice, no ids, no links, nothing to read. The
 * family of a resident hears whom it is about and that someone is on it; staff hear what to do.
 */
import type { MessageLang, OutboxMessage } from '../../domain/alarm.ts';
import { countsByKind } from './digest.ts';
import { alarmTitle, placePhrase, todoShort } from './facts.ts';
import { cutChars, LIMITS } from './limits.ts';
import { SEVERITY } from './words.ts';

export interface VoiceMessage {
  text: string;
}

const zh = (lang: MessageLang) => lang === 'zh-CN';

export function renderVoice(m: OutboxMessage): VoiceMessage {
  const lang = m.lang;
  const z = zh(lang);
  let text: string;
  if (m.kind === 'digest') {
    text = z
      ? `社区网格通知。现有${m.count}条告警。${countsByKind(m, lang)}。请打开手机查看。`
      : `GridHub notice. There are ${m.count} alarms. ${countsByKind(m, lang)}. Please open GridHub.`;
  } else {
    const place = placePhrase(m, lang, true);
    const what = alarmTitle(m, lang);
    const sev = SEVERITY[m.severity]?.[lang] ?? m.severity;
    if (m.recipient.role === 'family') {
      text = z
        ? `您好，这里是社区网格服务。您的家人发起了${what}。地点是${place}。网格员正在处理。请尽快与家人联系。再说一遍，地点是${place}。`
        : `Hello, this is the community grid service. Your family member raised a ${what}. The place is ${place}. A grid worker is on it. Please call them soon. Again, the place is ${place}.`;
    } else {
      text = z
        ? `社区网格${sev}通知。${place}，${what}。请${todoShort(m, lang)}。再说一遍，地点是${place}。请在手机上确认。`
        : `GridHub ${sev.toLowerCase()} alarm. ${what} at ${place}. Please ${todoShort(m, lang)}. Again, the place is ${place}. Please confirm on your phone.`;
    }
  }
  return { text: cutChars(text, LIMITS.voiceChars) };
}
