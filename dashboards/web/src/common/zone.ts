/**
 * The community's time zone. A duty screen or a phone set to another zone (a kiosk left on UTC, a worker back
 * from travel) must still show 14:05 when the smoke alarm went off at 14:05 in the community, so every time the
 * pages write — and every calendar day the KPI page asks for — is in the zone the hub hands over at login.
 * Without one (a session saved before the hub sent it) the browser's own zone is used.
 */

import { zoneOffset } from '../../../../src/alerts/local-day.ts';

let zone: string | undefined;

export function setTimeZone(timeZone: string | undefined): void {
  zone = timeZone;
}

export function timeZone(): string | undefined {
  return zone;
}

/** Midnight that starts a YYYY-MM-DD day in the community's zone, epoch ms. */
export function dayStart(date: string): number {
  if (!zone) return new Date(`${date}T00:00:00`).getTime();
  const [y = 1970, m = 1, d = 1] = date.split('-').map(Number);
  const asUtc = Date.UTC(y, m - 1, d);
  // Twice: the offset at the first guess may differ from the offset at the true midnight (a DST change).
  const guess = asUtc - zoneOffset(zone, asUtc);
  return asUtc - zoneOffset(zone, guess);
}

/** The community's calendar day of an instant, YYYY-MM-DD. */
export function isoDay(ms: number): string {
  // en-CA writes dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(ms);
}
