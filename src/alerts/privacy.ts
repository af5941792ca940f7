/** What the dispatcher shows of people and targets to those not acting on an alert: masked. */
import type { MaskedResidentCard } from '../domain/alarm.ts';
import type { Resident } from '../domain/records.ts';

/** `13812345678` → `138****5678`; short numbers keep only their last two digits. */
export function maskPhone(phone: string | null | undefined): string | null {
  if (!phone) return phone ?? null;
  let digits = phone.replace(/\D/g, '');
  // +86 mainland mobile numbers: mask the number, not the country code.
  if (digits.length === 13 && digits.startsWith('86')) digits = digits.slice(2);
  if (digits.length >= 7) return `${digits.slice(0, 3)}****${digits.slice(-4)}`;
  return `***${digits.slice(-2)}`;
}

/** `张秀英` → `张**`: the family name is enough for a worker to greet; the rest waits for the unmasked read. */
export function maskName(name: string | null | undefined): string | null {
  if (!name) return name ?? null;
  const chars = [...name];
  return chars[0] + '*'.repeat(Math.max(1, chars.length - 1));
}

/** A target as the timeline shows it: phone numbers masked, webhook URLs cut to their origin (keys live in them). */
export function maskTarget(channel: string, target: string): string {
  if (channel === 'sms' || channel === 'voice') return maskPhone(target) ?? '';
  if (/^https?:\/\//.test(target)) {
    try {
      return `${new URL(target).origin}/…`;
    } catch {
      return '…';
    }
  }
  return target;
}

/** What anyone not acting on the alert sees of a resident: the card the alarm carries (src/domain/alarm.ts). */
export type MaskedResident = MaskedResidentCard;

export function maskResident(r: Resident): MaskedResident {
  return {
    id: r.id,
    name: maskName(r.name),
    phone: maskPhone(r.phone),
    familyName: maskName(r.familyName),
    familyPhone: maskPhone(r.familyPhone),
    healthNotes: r.healthNotes ? '***' : null,
    masked: true,
  };
}
