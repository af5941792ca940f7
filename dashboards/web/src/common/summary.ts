/**
 * An alert's summary rendered from the catalogue's labels in the reader's language — "烟感 smoke-031（3层）：
 * 烟雾浓度 0.31 dB/m" — rather than the rule's English detail text.
 */
import { CATALOGUE_ENTRIES } from '../../../../src/catalogue/entries.ts';
import type { FieldSpec } from '../../../../src/catalogue/types.ts';
import { getLang, t } from './i18n.ts';
import { fill } from './i18n-views.ts';
import type { Alert } from './types.ts';

const ENTRIES = new Map(CATALOGUE_ENTRIES.map((e) => [e.id as string, e]));

/** The catalogue's spec of a field of a device type: a telemetry field, else a field of one of its events. */
export function fieldSpec(type: string, field: string): FieldSpec | undefined {
  const e = ENTRIES.get(type);
  if (!e) return undefined;
  if (Object.hasOwn(e.telemetry, field)) return e.telemetry[field];
  for (const ev of Object.values(e.events)) if (Object.hasOwn(ev.data, field)) return ev.data[field];
  return undefined;
}

export function fieldLabel(type: string, field: string): string {
  return fieldSpec(type, field)?.label?.[getLang()] ?? field;
}

export function typeName(type: string): string {
  return ENTRIES.get(type)?.name[getLang()] ?? type;
}

export function eventLabel(type: string, event: string): string {
  const e = ENTRIES.get(type);
  return (e && Object.hasOwn(e.events, event) ? e.events[event]?.label?.[getLang()] : undefined) ?? event;
}

export function fieldValue(type: string, field: string, value: unknown): string {
  const spec = fieldSpec(type, field);
  if (typeof value === 'boolean') return value ? t('yes') : t('no');
  if (typeof value === 'number' && spec?.kind === 'number') {
    if (spec.max === 1 && spec.min === 0 && !spec.unit) return `${Math.round(value * 100)}%`;
    return `${value}${spec.unit ? ` ${spec.unit}` : ''}`;
  }
  return String(value);
}

/** 「烟雾浓度 0.31 dB/m · 温度 24 °C」: the alert's evidence in words; ids of clips are left to the evidence list. */
export function evidenceText(a: Pick<Alert, 'deviceType' | 'evidence'>): string {
  return Object.entries(a.evidence)
    .filter(([k]) => k !== 'clipId')
    .map(([k, v]) => `${fieldLabel(a.deviceType, k)} ${fieldValue(a.deviceType, k, v)}`)
    .join(' · ');
}

export function alertSummary(a: Pick<Alert, 'deviceType' | 'deviceId' | 'floor' | 'evidence'>): string {
  const zh = getLang() === 'zh-CN';
  const floor = a.floor === null ? '' : zh ? `（${a.floor}层）` : ` (floor ${a.floor})`;
  const ev = evidenceText(a);
  return `${typeName(a.deviceType)} ${a.deviceId}${floor}${ev ? (zh ? `：${ev}` : `: ${ev}`) : ''}`;
}

export { fill };
