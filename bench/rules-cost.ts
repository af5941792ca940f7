/**
 * Rule evaluation cost per reading (design §4: "cost per reading does not grow with the number of rules for
 * other types"). Bin readings go through an engine holding the bin rules of the default pack plus 10, then
 * 1 000, rules for other device types; ns/reading should stay about the same.
 *
 * Run alone: `node --import tsx bench/rules-cost.ts`; `npm run bench` calls runRulesCostBench().
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createCatalogue } from '../src/catalogue/catalogue.ts';
import { ManualClock } from '../src/clock/clock.ts';
import type { Reading } from '../src/domain/reading.ts';
import { createRuleEngine } from '../src/rules/engine.ts';
import { openDatabase } from '../src/storage/sqlite.ts';

const DEVICES = 200;
const READINGS = 200_000;
const WARMUP = 20_000;
const ROUNDS = 5;

/** The default pack's rules for bins, so each bin reading meets the rules it would meet in production. */
const BIN_RULES = [
  {
    id: 'bin-full',
    name: 'Bin full',
    match: { deviceTypes: ['bin'] },
    condition: { field: 'fill', gte: 90 },
    for: '10m',
    clear: { when: { field: 'fill', lt: 30 } },
    raise: { severity: 'minor', category: 'bin_full', title: 'Bin full' },
  },
  {
    id: 'bin-fire',
    name: 'Bin fire',
    match: { deviceTypes: ['bin'] },
    condition: { field: 'temperature', gte: 70 },
    raise: { severity: 'critical', category: 'bin_fire', title: 'Bin fire' },
  },
  {
    id: 'battery-low',
    name: 'Low battery',
    match: { deviceTypes: ['bin'] },
    condition: { field: 'battery', lt: 20 },
    clear: { when: { field: 'battery', gte: 30 } },
    raise: { severity: 'minor', category: 'battery_low', title: 'Low battery' },
  },
  {
    id: 'offline',
    name: 'Device offline',
    match: { deviceTypes: ['bin'] },
    absence: { heartbeats: 3 },
    raise: { severity: 'minor', category: 'device_offline', title: 'Device offline' },
  },
];

/** Varied rules for every type but bins. */
function otherRules(n: number): object[] {
  const raise = { severity: 'major', category: 'test', title: 'x' };
  return Array.from({ length: n }, (_, i) => {
    const id = `other-${i}`;
    switch (i % 4) {
      case 0:
        return {
          id,
          name: id,
          match: { deviceTypes: ['smoke'] },
          condition: { field: 'smoke', gte: (i % 100) / 50 },
          raise,
        };
      case 1:
        return {
          id,
          name: id,
          match: { deviceTypes: ['throw_camera'] },
          condition: { all: [{ event: 'throw_detected' }, { field: 'confidence', gte: 0.5 }] },
          raise,
        };
      case 2:
        return {
          id,
          name: id,
          match: { deviceTypes: ['call_button'] },
          condition: { field: 'battery', lt: i % 50 },
          for: '5m',
          raise,
        };
      default:
        return {
          id,
          name: id,
          match: { deviceTypes: ['ebike_elevator'] },
          condition: { count: { event: 'ebike_detected' }, within: '10m', gte: 3 },
          raise,
        };
    }
  });
}

function binReadings(): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < 1000; i++) {
    out.push({
      kind: 'telemetry',
      deviceId: `bin-${i % DEVICES}`,
      deviceType: 'bin',
      placeId: 'b1',
      place: { street: 's1', community: 'c1', grid: 'g1', estate: 'e1', building: 'b1' },
      floor: null,
      ts: 0,
      receivedAt: 0,
      qos: 0,
      values: { fill: (i * 7) % 85, temperature: 20 + (i % 10), battery: 80 },
    });
  }
  return out;
}

interface Subject {
  handle(reading: Reading): void;
  close(): void;
}

/** An engine on a temp SQLite file holding the bin rules plus `otherCount` rules for other types. */
function subject(otherCount: number): Subject {
  const dir = mkdtempSync(join(tmpdir(), 'gridhub-rules-bench-'));
  const db = openDatabase(join(dir, 'state.db'));
  const rulesDir = join(dir, 'rules');
  mkdirSync(rulesDir, { recursive: true });
  writeFileSync(join(rulesDir, 'bench.json'), JSON.stringify([...BIN_RULES, ...otherRules(otherCount)]));
  const engine = createRuleEngine({
    catalogue: createCatalogue(),
    clock: new ManualClock(),
    db,
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
    rulesDir,
    onTimerResults: () => {},
    packDir: null,
    watch: false,
  });
  return {
    handle: (reading: Reading) => void engine.evaluate(reading),
    close() {
      void engine.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * ns per reading through engine.handle (no sink). The two set-ups run in alternating rounds and the best
 * round of each counts, so that load from other processes on a shared machine hits both alike.
 */
export async function runRulesCostBench(): Promise<{
  rulesOther10NsPerReading: number;
  rulesOther1000NsPerReading: number;
}> {
  const sample = binReadings();
  const subjects = [subject(10), subject(1000)];
  const run = (s: Subject, count: number) => {
    for (let i = 0; i < count; i++) s.handle(sample[i % sample.length] as Reading);
  };
  for (const s of subjects) run(s, WARMUP);
  const best = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  for (let k = 0; k < ROUNDS; k++) {
    subjects.forEach((s, j) => {
      const t0 = process.hrtime.bigint();
      run(s, READINGS);
      best[j] = Math.min(best[j] as number, Number(process.hrtime.bigint() - t0) / READINGS);
    });
  }
  for (const s of subjects) s.close();
  return {
    rulesOther10NsPerReading: Math.round(best[0] as number),
    rulesOther1000NsPerReading: Math.round(best[1] as number),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runRulesCostBench();
  console.log(
    `rules cost: ${BIN_RULES.length} bin rules + 10 other-type rules: ${r.rulesOther10NsPerReading} ns/reading; ` +
      `+ 1000 other-type rules: ${r.rulesOther1000NsPerReading} ns/reading ` +
      `(ratio ${(r.rulesOther1000NsPerReading / r.rulesOther10NsPerReading).toFixed(2)}; node ${process.version}; ` +
      `${READINGS} readings × ${ROUNDS} alternating rounds, best)`,
  );
}
