/** Places as the dispatcher sees them: names and paths from the registry, and an alert's place from its row. */
import { PLACE_LEVELS, type PlacePath } from '../domain/places.ts';

/** What the dispatcher needs of the registry's places. */
export interface PlaceNames {
  path(placeId: string): PlacePath;
  name(placeId: string): string;
}

/** The place path an alert (or incident) row keeps as JSON. */
export function placeOf(r: { place: string }): PlacePath {
  return JSON.parse(r.place) as PlacePath;
}

/** The names of every place on a path, from the street down. */
export function placeNames(places: PlaceNames, path: PlacePath): string[] {
  const names: string[] = [];
  for (const level of PLACE_LEVELS) {
    const id = path[level];
    if (id) names.push(places.name(id));
  }
  return names;
}

/** The ids of every place on a path, for matching rules set at any level. */
export function placeIdsOf(path: PlacePath): Set<string> {
  return new Set(Object.values(path).filter((v): v is string => typeof v === 'string'));
}
