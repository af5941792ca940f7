/**
 * Which live instance owns a device: rendezvous (highest-random-weight) hashing of the device id over the
 * instance ids. Every instance computes the same answer from the same set of live instances, with no
 * coordination, and when one instance joins or leaves only the devices it gains or held move (about 1/N of
 * them), not a reshuffle of all of them as `hash mod N` would.
 *
 * The weight is FNV-1a (32 bit) over `instance \0 device`, mixed by a finalizer (murmur3's fmix32) so that ids
 * differing only in their last characters still spread: cheap (no allocation, no crypto) and stable across
 * processes, versions and machines, which is all it needs — it is not a defence against anyone choosing ids.
 */
export function weight(instanceId: string, deviceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < instanceId.length; i++) h = Math.imul(h ^ instanceId.charCodeAt(i), 0x01000193);
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < deviceId.length; i++) h = Math.imul(h ^ deviceId.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The owner of `deviceId` among `instances` (undefined when there are none); ties go to the smaller id. */
export function ownerOf(deviceId: string, instances: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const id of instances) {
    const w = weight(id, deviceId);
    if (w > bestWeight || (w === bestWeight && best !== undefined && id < best)) {
      best = id;
      bestWeight = w;
    }
  }
  return best;
}
