import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLine } from '../../src/telemetry/line-protocol.ts';
import { tempDir } from './helpers.ts';
import { findInfluxd, INFLUXD_MISSING, type Influxd, startInfluxd } from './influxd.ts';
import { WRITABLE } from './line-protocol-cases.ts';

const binary = findInfluxd();
if (!binary) console.warn(INFLUXD_MISSING);

/** The first row of the first series of an InfluxQL answer as raw JSON tokens (int64 digits kept as text). */
function rawFirstRow(body: string): { columns: string[]; tokens: string[] } {
  const columns = (JSON.parse(body) as { results: { series?: { columns: string[] }[] }[] }).results[0]
    ?.series?.[0]?.columns;
  const start = body.indexOf('"values":[[');
  if (!columns || start < 0) return { columns: [], tokens: [] };
  const tokens: string[] = [];
  let i = start + '"values":[['.length;
  while (body[i] !== ']') {
    let j = i;
    if (body[i] === '"') {
      j++;
      while (body[j] !== '"') j += body[j] === '\\' ? 2 : 1;
      j++;
    } else while (body[j] !== ',' && body[j] !== ']') j++;
    tokens.push(body.slice(i, j));
    i = body[j] === ',' ? j + 1 : j;
  }
  return { columns, tokens };
}

const ident = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

describe.skipIf(!binary)('line protocol round trip through a real influxd 1.x', () => {
  let influxd: Influxd;
  beforeAll(async () => {
    influxd = await startInfluxd(binary as string, tempDir('influxd-lp'));
    await influxd.query('CREATE DATABASE lp');
    const body = WRITABLE.map((c) => encodeLine(c)).join('\n');
    const res = await fetch(`${influxd.url}/write?db=lp&precision=n`, { method: 'POST', body });
    expect(`${res.status} ${await res.text()}`).toBe('204 ');
  });
  afterAll(async () => {
    await influxd?.stop();
  });

  it.each(WRITABLE)('$name: equal in meaning after the round trip', async (c) => {
    const q = `SELECT * FROM ${ident(c.measurement)}`;
    const res = await fetch(`${influxd.url}/query?db=lp&q=${encodeURIComponent(q)}`);
    const text = await res.text();
    const { columns, tokens } = rawFirstRow(text);
    expect(columns, text).toContain('time');
    const row = Object.fromEntries(columns.map((col, i) => [col, tokens[i]]));
    expect(JSON.parse(row.time as string)).toBe(c.rfc3339);
    const integers = new Set(c.fields.filter((f) => f[2] === 'integer').map((f) => f[0]));
    for (const [key, want] of Object.entries(c.back)) {
      const got = row[key];
      expect(got, `${key} in ${text}`).toBeDefined();
      // Integers as InfluxDB's own digits (no double in between); everything else by value.
      if (integers.has(key)) expect(got).toBe(want);
      else expect(JSON.parse(got as string)).toEqual(JSON.parse(want));
    }
    // Nothing more came back than was written (no stray tag or field from a mis-escape).
    expect(columns.sort()).toEqual(['time', ...Object.keys(c.back)].sort());
  });
});
