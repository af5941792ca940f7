/** Reading the demo credentials file and choosing the devices of a scenario's groups from it. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEVICE_TYPE_IDS } from '../src/catalogue/types.ts';
import type { PlacePath } from '../src/domain/places.ts';
import type { DemoCredentials } from '../src/domain/wire.ts';
import type { Rng } from './rng.ts';
import type { GroupSpec } from './scenario.ts';

const credentialsSchema = z.object({
  generatedAt: z.string().default(''),
  mqttUrl: z.string().default('mqtt://127.0.0.1:1883'),
  httpUrl: z.string().default('http://127.0.0.1:8080'),
  devices: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      placeId: z.string(),
      placeName: z.string().default(''),
      floor: z.number().nullable().default(null),
      secret: z.string(),
    }),
  ),
  users: z
    .array(
      z.object({
        username: z.string(),
        password: z.string(),
        role: z.string(),
        personId: z.string().nullable().default(null),
        scope: z.array(z.string()).default([]),
      }),
    )
    .default([]),
  workers: z
    .array(
      z.object({ personId: z.string(), username: z.string(), token: z.string(), alarmsTopic: z.string() }),
    )
    .default([]),
});

export type CredentialDevice = DemoCredentials['devices'][number] & {
  type: (typeof DEVICE_TYPE_IDS)[number];
  /** The install place's ancestry, when read from the hub's API (the credentials file does not carry it). */
  place?: PlacePath;
};
export type Credentials = Omit<DemoCredentials, 'devices'> & { devices: CredentialDevice[] };

export function parseCredentials(raw: unknown, source = 'credentials'): Credentials {
  const r = credentialsSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(
      `${source}: not a demo credentials file: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const known = new Set<string>(DEVICE_TYPE_IDS);
  return { ...r.data, devices: r.data.devices.filter((d): d is CredentialDevice => known.has(d.type)) };
}

export function loadCredentials(path: string): Credentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the credentials file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): start the hub once with the demo enabled (npm start) or pass --credentials FILE`,
    );
  }
  return parseCredentials(JSON.parse(text), path);
}

/**
 * Pick each group's devices, deterministic for a seed, never the same device in two groups (a device in an
 * outage cannot also be the one that reports a fire).
 */
export function selectGroups(
  devices: readonly CredentialDevice[],
  groups: Record<string, GroupSpec>,
  rng: Rng,
): Record<string, CredentialDevice[]> {
  const used = new Set<string>();
  const out: Record<string, CredentialDevice[]> = {};
  for (const [name, spec] of Object.entries(groups)) {
    const types = new Set<string>(spec.types ?? (spec.type ? [spec.type] : []));
    let pool = devices.filter((d) => types.has(d.type) && !used.has(d.id));
    if (spec.samePlace) {
      // The place with the most candidates (distinct floors when asked), ties broken by id for determinism.
      const byPlace = new Map<string, CredentialDevice[]>();
      const level = spec.samePlace === true ? undefined : spec.samePlace;
      const key = (d: CredentialDevice) => (level ? (d.place?.[level] ?? d.placeId) : d.placeId);
      for (const d of pool) byPlace.set(key(d), [...(byPlace.get(key(d)) ?? []), d]);
      const score = (ds: CredentialDevice[]) =>
        spec.distinctFloors ? new Set(ds.map((d) => d.floor)).size : ds.length;
      const best = [...byPlace.entries()].sort(
        (a, b) => score(b[1]) - score(a[1]) || a[0].localeCompare(b[0]),
      )[0];
      pool = best ? best[1] : [];
    }
    if (spec.distinctFloors) {
      const byFloor = new Map<number, CredentialDevice>();
      for (const d of [...pool].sort((a, b) => a.id.localeCompare(b.id))) {
        if (d.floor !== null && !byFloor.has(d.floor)) byFloor.set(d.floor, d);
      }
      pool = [...byFloor.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d);
    } else {
      // A seeded shuffle so repeated runs pick the same devices.
      pool = [...pool].sort((a, b) => a.id.localeCompare(b.id));
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        [pool[i], pool[j]] = [pool[j] as CredentialDevice, pool[i] as CredentialDevice];
      }
    }
    const chosen = pool.slice(0, spec.count);
    const min = spec.min ?? spec.count;
    if (chosen.length < min) {
      throw new Error(
        `group ${name}: needs ${min} device(s) of type ${[...types].join('/')}${spec.samePlace ? ' in one place' : ''}${spec.distinctFloors ? ' on distinct floors' : ''}, the credentials file has ${chosen.length}`,
      );
    }
    for (const d of chosen) used.add(d.id);
    out[name] = chosen;
  }
  return out;
}
