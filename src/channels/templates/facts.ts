/** The parts every template is made of, each in the recipient's language, from the alarm model alone. */

import { dateFormat } from '../../clock/date-format.ts';
import type { AlarmMessage, DigestItem, MessageLang, PlaceName } from '../../domain/alarm.ts';
import { CHANGES, categoryWords, DEVICE_TYPES, LABELS, ROLES, SEVERITY } from './words.ts';

const zh = (lang: MessageLang) => lang === 'zh-CN';

/** 「[紧急] 烟感报警」 */
export function heading(m: Pick<AlarmMessage, 'severity' | 'category' | 'title'>, lang: MessageLang): string {
  return `[${SEVERITY[m.severity]?.[lang] ?? m.severity}] ${categoryWords(m.category, m.title).title[lang]}`;
}

export function alarmTitle(m: Pick<AlarmMessage, 'category' | 'title'>, lang: MessageLang): string {
  return categoryWords(m.category, m.title).title[lang];
}

function floorWord(floor: number | null, lang: MessageLang): string {
  if (floor === null) return '';
  return zh(lang) ? `${floor}楼` : `floor ${floor}`;
}

/**
 * The place as people say it, street left out: 「幸福社区 第1网格 阳光花园 1栋1单元 3楼」. `short` keeps the
 * estate and below (voice, SMS), where the community is known to the listener.
 */
export function placePhrase(
  p: { placePath: PlaceName[]; floor: number | null },
  lang: MessageLang,
  short = false,
): string {
  const by = (level: PlaceName['level']) => p.placePath.find((x) => x.level === level)?.name ?? '';
  const house = `${by('building')}${zh(lang) ? '' : ' '}${by('unit')}`.trim();
  const parts = short ? [by('estate'), house] : [by('community'), by('grid'), by('estate'), house];
  const floor = floorWord(p.floor, lang);
  const words = parts.filter(Boolean);
  if (!words.length) words.push(by('street'));
  if (floor) words.push(floor);
  return zh(lang) ? words.join(short ? '' : ' ') : words.join(', ');
}

/** 「1月5日 16:00」 / 「5 Jan 16:00」 in the community's time zone. */
export function formatTime(ms: number, timeZone: string, lang: MessageLang): string {
  const parts = dateFormat(zh(lang) ? 'zh-CN' : 'en-GB', {
    timeZone,
    month: zh(lang) ? 'numeric' : 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(ms));
  const get = (t: string) => parts.find((x) => x.type === t)?.value ?? '';
  return zh(lang)
    ? `${get('month')}月${get('day')}日 ${get('hour')}:${get('minute')}`
    : `${get('day')} ${get('month')} ${get('hour')}:${get('minute')}`;
}

/** 「16:01」 */
export function clockTime(ms: number, timeZone: string): string {
  return dateFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
    new Date(ms),
  );
}

const num = (v: unknown): number | null =>
  typeof v === 'number'
    ? v
    : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
      ? Number(v)
      : null;
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

export function deviceWord(type: string, lang: MessageLang): string {
  return DEVICE_TYPES[type]?.[lang] ?? type;
}

/** What happened, one sentence, from the category, the device and its evidence (never the English rule text). */
export function whatHappened(m: AlarmMessage, lang: MessageLang): string {
  const e = m.evidence;
  const z = zh(lang);
  const dev = deviceWord(m.device.type, lang);
  const repeated = m.count > 1 ? (z ? `（已报 ${m.count} 次）` : ` (${m.count} times)`) : '';
  let s: string;
  switch (m.category) {
    case 'fire': {
      const smoke = num(e.smoke);
      const temp = num(e.temperature);
      const extra = [
        smoke !== null ? (z ? `烟雾浓度 ${smoke} dB/m` : `smoke ${smoke} dB/m`) : '',
        temp !== null ? (z ? `温度 ${temp}℃` : `${temp} °C`) : '',
      ].filter(Boolean);
      s = z
        ? `${floorWord(m.floor, lang)}烟感探测器报警${extra.length ? `，${extra.join('，')}` : ''}`
        : `The smoke sensor${m.floor !== null ? ` on floor ${m.floor}` : ''} is sounding${extra.length ? ` (${extra.join(', ')})` : ''}`;
      break;
    }
    case 'call_for_help':
      s = z
        ? '住户按下了一键呼叫按钮，需要帮助'
        : 'The resident pressed the one-key call button and needs help';
      break;
    case 'fall':
      s = z ? '一键呼叫设备检测到住户可能跌倒' : 'The call button detected that the resident may have fallen';
      break;
    case 'bin_fire': {
      const temp = num(e.temperature);
      s = z
        ? `垃圾桶温度过高${temp !== null ? `（${temp}℃）` : ''}，可能起火`
        : `The bin is very hot${temp !== null ? ` (${temp} °C)` : ''} and may be burning`;
      break;
    }
    case 'throw_from_height': {
      const floor = num(e.floor);
      const facade = text(e.facade);
      const conf = num(e.confidence);
      s = z
        ? `探头拍到有物品从${facade ? `${facade}侧` : ''}${floor !== null ? `约${floor}楼` : '高处'}抛下${conf !== null ? `（可信度 ${Math.round(conf * 100)}%）` : ''}`
        : `The camera saw something thrown from ${floor !== null ? `about floor ${floor}` : 'height'}${facade ? ` on the ${facade} side` : ''}${conf !== null ? ` (confidence ${Math.round(conf * 100)} %)` : ''}`;
      break;
    }
    case 'ebike_in_elevator': {
      const held = e.doorHeld === true || e.doorHeld === 'true';
      const lift = text(e.elevatorId);
      s = z
        ? `${lift ? `电梯 ${lift} ` : '电梯'}内发现电动车${held ? '，电梯门被挡住' : ''}`
        : `An e-bike is in the elevator${lift ? ` ${lift}` : ''}${held ? ' and the door is being held' : ''}`;
      break;
    }
    case 'bin_full': {
      const fill = num(e.fill);
      s = z
        ? `垃圾桶已满${fill !== null ? `（${fill}%）` : ''}`
        : `The bin is full${fill !== null ? ` (${fill} %)` : ''}`;
      break;
    }
    case 'device_offline':
      s = z
        ? `${dev} ${m.device.id} 已失联，超过 3 个心跳周期没有消息`
        : `The ${dev} ${m.device.id} has sent nothing for 3 heartbeats`;
      break;
    case 'battery_low': {
      const b = num(e.battery);
      s = z
        ? `${dev} ${m.device.id} 电量低${b !== null ? `（${b}%）` : ''}`
        : `The ${dev} ${m.device.id} battery is low${b !== null ? ` (${b} %)` : ''}`;
      break;
    }
    case 'tamper':
      s = z ? `${dev} ${m.device.id} 被拆或被移动` : `The ${dev} ${m.device.id} was opened or moved`;
      break;
    default:
      s = z
        ? `${dev} ${m.device.id}：${alarmTitle(m, lang)}`
        : `${dev} ${m.device.id}: ${alarmTitle(m, lang)}`;
  }
  return `${s}${repeated}${z ? '。' : '.'}`;
}

export function todo(m: Pick<AlarmMessage, 'category' | 'title'>, lang: MessageLang): string {
  return categoryWords(m.category, m.title).todo[lang];
}

export function todoShort(m: Pick<AlarmMessage, 'category' | 'title'>, lang: MessageLang): string {
  return categoryWords(m.category, m.title).todoShort[lang];
}

export function roleWord(role: string, lang: MessageLang): string {
  return ROLES[role]?.[lang] ?? role;
}

/** 「网格员1A（网格员）、物业值班员1（物业值班）」 */
export function whoLine(m: AlarmMessage, lang: MessageLang): string {
  if (!m.onDuty.length) return LABELS.nobody[lang];
  return m.onDuty
    .map((p) => `${p.name}（${roleWord(p.role, lang)}）`.replace(/（(.*)）/, zh(lang) ? '（$1）' : ' ($1)'))
    .join(zh(lang) ? '、' : ', ');
}

/** The SLA clock: 「16:01 前确认，16:15 前到场」. */
export function slaLine(m: AlarmMessage, lang: MessageLang): string {
  const z = zh(lang);
  const t = (ms: number) => clockTime(ms, m.timeZone);
  const parts: string[] = [];
  if (m.sla.acknowledgeBy !== null)
    parts.push(z ? `${t(m.sla.acknowledgeBy)} 前确认` : `acknowledge by ${t(m.sla.acknowledgeBy)}`);
  if (m.sla.arriveBy !== null)
    parts.push(z ? `${t(m.sla.arriveBy)} 前到场` : `on site by ${t(m.sla.arriveBy)}`);
  else if (m.sla.resolveBy !== null)
    parts.push(
      z
        ? `${formatTime(m.sla.resolveBy, m.timeZone, lang)} 前办结`
        : `resolved by ${formatTime(m.sla.resolveBy, m.timeZone, lang)}`,
    );
  return parts.join(z ? '，' : ', ');
}

export function changeLead(m: Pick<AlarmMessage, 'change'>, lang: MessageLang): string {
  return CHANGES[m.change]?.[lang] ?? '';
}

/** The resident lines: the unmasked card for those acting (app messages), the masked one elsewhere. */
export function residentLines(m: AlarmMessage, lang: MessageLang): string[] {
  const r = m.residentCard ?? m.resident;
  if (!r) return [];
  const z = zh(lang);
  const lines: string[] = [];
  const name = r.name ?? '';
  lines.push(
    `${LABELS.resident[lang]}${z ? '：' : ': '}${name}${r.phone ? `${z ? '，' : ', '}${LABELS.callback[lang]} ${r.phone}` : ''}`,
  );
  if (r.familyName || r.familyPhone) {
    lines.push(
      `${LABELS.family[lang]}${z ? '：' : ': '}${[r.familyName, r.familyPhone].filter(Boolean).join(' ')}`,
    );
  }
  if (r.healthNotes && !r.masked) lines.push(`${LABELS.health[lang]}${z ? '：' : ': '}${r.healthNotes}`);
  return lines;
}

export function itemLine(i: DigestItem, lang: MessageLang): string {
  return `${alarmTitle(i, lang)} · ${placePhrase(i, lang, true)} · ${deviceWord(i.device.type, lang)} ${i.device.id}`;
}

/** UTF-8 length: WeCom and DingTalk count bytes. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
