import { describe, expect, it } from 'vitest';
import { flatKeys, readFlatObject } from './flat-json.ts';

const keys = flatKeys(['fill', 'temperature', 'tilt', 'battery', 'label']);
const read = (text: string) => readFlatObject(Buffer.from(text, 'utf8'), keys);

/** A deterministic stream of numbers in [0, 1) (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the flat telemetry object reader', () => {
  it('reads what JSON.parse reads, to the bit, for numbers as devices print them', () => {
    const r = rng(19);
    let read0 = 0;
    const mismatches: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      const digits = Math.floor(r() * 16);
      const scale = 10 ** Math.floor(r() * 8);
      const v = (r() < 0.3 ? -1 : 1) * Math.round(r() * 10 ** digits) * (r() < 0.5 ? 1 / scale : 1);
      const text = `{"fill":${JSON.stringify(v)},"tilt":${r() < 0.5},"battery":${(r() * 100).toFixed(Math.floor(r() * 4))}}`;
      const fast = read(text);
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (fast === undefined) continue; // exponents or over 15 digits: the general path's
      read0++;
      const same =
        Object.keys(fast).join() === Object.keys(parsed).join() &&
        Object.keys(parsed).every((k) => Object.is(fast[k], parsed[k]));
      if (!same) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
    // nearly all of them take the fast path
    expect(read0).toBeGreaterThan(15_000);
  });

  it.each([
    ['{"fill":41.35,"temperature":18.02,"tilt":false,"battery":81.1}'],
    [' { "fill" : 0 , "tilt" : true }\r\n'],
    ['{"fill":-0}'],
    ['{"fill":-0.0,"label":"north gate"}'],
    ['{"battery":100,"fill":0.000001}'],
    ['{"temperature":-40.125}'],
  ])('reads %s exactly as JSON.parse', (text) => {
    const fast = read(text) as Record<string, unknown>;
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(fast).toBeDefined();
    expect(Object.keys(fast)).toEqual(Object.keys(parsed));
    for (const k of Object.keys(parsed)) expect(Object.is(fast[k], parsed[k])).toBe(true);
  });

  it.each([
    ['{}', 'empty: the general path answers it'],
    ['{"fill":1,"fill":2}', 'a repeated key'],
    ['{"fill":1,"ts":1767600000000}', 'ts'],
    ['{"fill":1,"smoke":2}', 'a key of another type'],
    ['{"fill":null}', 'null'],
    ['{"fill":1e3}', 'an exponent'],
    ['{"fill":1234567890123456}', '16 digits'],
    ['{"fill":01}', 'a leading zero (not JSON)'],
    ['{"fill":1.}', 'a dot without digits (not JSON)'],
    ['{"fill":.5}', 'no integer part (not JSON)'],
    ['{"fill":+1}', 'a plus sign (not JSON)'],
    ['{"fill":-}', 'a lone minus (not JSON)'],
    ['{"fill":1,}', 'a trailing comma (not JSON)'],
    ['{"fill":1} x', 'text after the object'],
    ['{"fill":1', 'cut short'],
    ['{"fill":tru}', 'a cut-off literal'],
    ['{"fill" 1}', 'no colon'],
    ['{"fill":1 "tilt":true}', 'no comma'],
    ['{"label":"a\\"b"}', 'an escape'],
    ['{"label":"北门"}', 'non-ASCII text'],
    ['{"fill":{"a":1}}', 'nesting'],
    ['[{"fill":1}]', 'an array'],
    ['"fill"', 'not an object'],
    ['', 'nothing'],
  ])('leaves %s to JSON.parse (%s)', (text) => {
    expect(read(text)).toBeUndefined();
  });
});
