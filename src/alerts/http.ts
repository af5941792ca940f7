/** Pieces shared by the alerts area's HTTP routes. */
import { z } from 'zod';
import type { PlacePath } from '../domain/places.ts';
import type { PlaceNames } from './places.ts';

/** An instant in a query string: epoch milliseconds or ISO 8601. */
export const instant = z
  .string()
  .transform((s, ctx) => {
    const v = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
    if (Number.isNaN(v)) {
      ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO 8601 time' });
      return z.NEVER;
    }
    return v;
  })
  .optional();

export const idParams = z.object({ id: z.string().min(1).max(200) });

/** The path of a registered place; null for an id the registry does not know (it answers an empty path). */
export function knownPlace(places: PlaceNames, placeId: string): PlacePath | null {
  const path = places.path(placeId);
  return Object.keys(path).length ? path : null;
}
