/** The grid hierarchy: street 街道 → community 社区 → grid 网格 → estate 小区 → building 楼栋 → unit 单元. */
export const PLACE_LEVELS = ['street', 'community', 'grid', 'estate', 'building', 'unit'] as const;
export type PlaceLevel = (typeof PLACE_LEVELS)[number];

/** Ids of a place and its ancestors, by level, as written to InfluxDB tags and used for scope checks. */
export type PlacePath = { [L in PlaceLevel]?: string };

export interface Place {
  id: string;
  level: PlaceLevel;
  name: string;
  parentId: string | null;
}

export function levelIndex(level: PlaceLevel): number {
  return PLACE_LEVELS.indexOf(level);
}

/** True when `path` lies at or under the place `ancestorId` (of level `ancestorLevel`). */
export function pathIsWithin(path: PlacePath, ancestorId: string, ancestorLevel: PlaceLevel): boolean {
  return path[ancestorLevel] === ancestorId;
}
