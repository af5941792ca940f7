/**
 * Many alerts, fast, straight into the store's own tables (`alerts`, `alert_whistles`): one prepared insert in one
 * transaction, ~100 000 rows in a couple of seconds. The rows are what the dispatcher would have left behind —
 * every status, timestamps in order, self-resolved and reopened alerts, ratings, escalations, whistles reported
 * in time, late or not yet — so lists, lights and KPIs meet every case. Used by bench/alert-reads.ts and the read
 * side's tests.
 */
import { createRng } from '../devices-sim/rng.ts';
import type { PlacePath } from '../src/domain/places.ts';
import type { Severity } from '../src/domain/severity.ts';
import type { Db } from '../src/storage/sqlite.ts';

export interface SeedDevice {
  id: string;
  type: string;
  placeId: string;
}

export interface AlertSeed {
  count: number;
  /** The latest opening time; alerts open over `spanMs` before it. */
  now: number;
  spanMs: number;
  devices: readonly SeedDevice[];
  path(placeId: string): PlacePath;
  seed?: number;
  /** Ids are `<prefix>-<n>` (default `seed`): seed twice with two prefixes. */
  idPrefix?: string;
  /** Share of alerts with a department whistled in (default 0.05). */
  whistleShare?: number;
}

const MIN = 60_000;
const CATEGORY: Record<string, { category: string; title: string; severity: Severity; ruleId: string }> = {
  smoke: { category: 'fire', title: '烟感报警', severity: 'critical', ruleId: 'smoke.alarm' },
  call_button: { category: 'call_for_help', title: '一键呼叫', severity: 'critical', ruleId: 'call.press' },
  throw_camera: { category: 'throw', title: '高空抛物', severity: 'major', ruleId: 'throw.detected' },
  ebike_elevator: { category: 'ebike', title: '电动车进电梯', severity: 'major', ruleId: 'ebike.detected' },
  bin: { category: 'bin_full', title: '垃圾满溢', severity: 'minor', ruleId: 'bin.full' },
};
const OTHER = {
  category: 'device_offline',
  title: '设备离线',
  severity: 'minor' as Severity,
  ruleId: 'offline',
};

/** Insert `count` alerts; answers their ids, newest last. */
export function seedAlerts(db: Db, s: AlertSeed): string[] {
  const rng = createRng(s.seed ?? 1);
  const insert = db.prepare(
    `INSERT INTO alerts (id, rule_id, device_id, device_type, place_id, place, grid_id, floor, severity, category,
      title, detail, evidence, dedup, status, count, opened_at, clock_start, last_seen_at, acknowledged_at,
      acknowledged_by, arrived_at, resolved_at, resolved_by, resolution, resolution_note, closed_at, rating, reach,
      escalation_step, escalated, reopened, updated_at)
     VALUES (@id, @ruleId, @deviceId, @deviceType, @placeId, @place, @gridId, @floor, @severity, @category, @title,
      @detail, '{}', 'per-device', @status, 1, @openedAt, @clockStart, @openedAt, @ackAt, @ackBy, @arrivedAt,
      @resolvedAt, @resolvedBy, @resolution, @note, @closedAt, @rating, @reach, @step, @escalated, @reopened,
      @updatedAt)`,
  );
  const whistle = db.prepare(
    `INSERT INTO alert_whistles (alert_id, department, note, whistled_at, whistled_by, due_at, reported_at,
      reported_by) VALUES (?, ?, NULL, ?, 'seed', ?, ?, ?)`,
  );
  const ids: string[] = [];
  const paths = new Map<string, PlacePath>();
  db.transaction(() => {
    for (let i = 0; i < s.count; i++) {
      const device = rng.pick(s.devices);
      const kind = CATEGORY[device.type] ?? OTHER;
      const severity: Severity = rng.chance(0.1) ? 'minor' : kind.severity;
      let path = paths.get(device.placeId);
      if (!path) {
        path = s.path(device.placeId);
        paths.set(device.placeId, path);
      }
      // Spread evenly over the span, newest last, with a distinct millisecond each.
      const openedAt = s.now - s.spanMs + Math.floor(((i + rng.next()) * s.spanMs) / s.count);
      const age = s.now - openedAt;
      const reopened = rng.chance(0.03);
      const clockStart = reopened ? openedAt + Math.min(age, rng.int(0, 30 * MIN)) : openedAt;
      const ms = (maxMin: number) => clockStart + rng.int(5_000, maxMin * MIN);
      const at = (t: number | null) => (t === null || t > s.now ? null : t);
      // The furthest step this alert reached, then the times of each step up to it.
      const stage = rng.pick([0, 1, 2, 3, 4, 4, 4, 5, 5, 5]);
      let ackAt = stage >= 2 ? at(ms(severity === 'minor' ? 60 : 8)) : null;
      let arrivedAt = stage >= 3 && ackAt !== null ? at(ackAt + rng.int(MIN, 40 * MIN)) : null;
      let resolvedAt =
        stage >= 4 && (arrivedAt ?? ackAt) !== null
          ? at((arrivedAt ?? ackAt ?? 0) + rng.int(MIN, 120 * MIN))
          : null;
      let closedAt = stage >= 5 && resolvedAt !== null ? at(resolvedAt + rng.int(MIN, 600 * MIN)) : null;
      let resolution: string | null = resolvedAt === null ? null : 'handled';
      if (resolvedAt !== null && rng.chance(0.12)) {
        // Ended by itself: no person acknowledged it.
        resolution = rng.pick(['auto', 'prevented']);
        ackAt = null;
        arrivedAt = null;
        closedAt = null;
      } else if (resolvedAt !== null && rng.chance(0.05)) {
        resolution = rng.pick(['false_alarm', 'device_fault', 'referred']);
      }
      const status =
        closedAt !== null
          ? 'closed'
          : resolvedAt !== null
            ? 'resolved'
            : arrivedAt !== null
              ? 'on_site'
              : ackAt !== null
                ? 'acknowledged'
                : stage >= 1 || age > MIN
                  ? 'dispatched'
                  : 'open';
      if (status !== 'resolved' && status !== 'closed') {
        resolvedAt = null;
        resolution = null;
      }
      const escalated = rng.chance(ackAt === null ? 0.6 : 0.15);
      const reach = escalated ? rng.pick(['grid', 'grid', 'community', 'street']) : 'grid';
      const id = `${s.idPrefix ?? 'seed'}-${String(i).padStart(7, '0')}`;
      insert.run({
        id,
        ruleId: kind.ruleId,
        deviceId: device.id,
        deviceType: device.type,
        placeId: device.placeId,
        place: JSON.stringify(path),
        gridId: path.grid ?? null,
        floor: rng.int(1, 18),
        severity,
        category: kind.category,
        title: kind.title,
        detail: `${kind.title} #${i}`,
        status,
        openedAt,
        clockStart,
        ackAt,
        ackBy: ackAt === null ? null : 'seed-worker',
        arrivedAt,
        resolvedAt,
        resolvedBy: resolvedAt === null ? null : 'seed-worker',
        resolution,
        note: resolvedAt === null ? null : 'seeded',
        closedAt,
        rating: closedAt !== null && rng.chance(0.6) ? rng.int(1, 5) : null,
        reach,
        step: escalated ? rng.int(1, 3) : 0,
        escalated: escalated ? 1 : 0,
        reopened: reopened ? 1 : 0,
        updatedAt: closedAt ?? resolvedAt ?? arrivedAt ?? ackAt ?? openedAt,
      });
      if (rng.chance(s.whistleShare ?? 0.05)) {
        const whistledAt = Math.min(s.now, clockStart + rng.int(MIN, 20 * MIN));
        const due = whistledAt + 10 * MIN;
        const reported = rng.chance(0.6) ? at(whistledAt + rng.int(MIN, 20 * MIN)) : null;
        whistle.run(
          id,
          rng.pick(['fire', 'police']),
          whistledAt,
          due,
          reported,
          reported === null ? null : 'seed',
        );
      }
      ids.push(id);
    }
  })();
  return ids;
}
