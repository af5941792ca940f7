import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { log, tempDir } from '../../test/telemetry/helpers.ts';
import { openDeadLetter, openSpool } from './spool.ts';

const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => `m v=${from + i} ${from + i}`);

function drain(spool: ReturnType<typeof openSpool>, batch: number): string[] {
  const out: string[] = [];
  for (;;) {
    const got = spool.peek(batch);
    if (got.length === 0) return out;
    out.push(...got);
    spool.commit();
  }
}

describe('spool', () => {
  it('is a FIFO across segments, freeing replayed segments', () => {
    const dir = tempDir('spool');
    const spool = openSpool({ dir, maxBytes: 1024 * 1024, segmentBytes: 50, log });
    spool.append(lines(0, 10));
    spool.append(lines(10, 10));
    expect(readdirSync(dir).filter((f) => f.endsWith('.lp')).length).toBe(2);
    expect(spool.peek(3)).toEqual(lines(0, 3));
    expect(spool.peek(3)).toEqual(lines(0, 3)); // not consumed until commit
    spool.commit();
    spool.append(lines(20, 5));
    expect(drain(spool, 4)).toEqual(lines(3, 22));
    expect(spool.isEmpty()).toBe(true);
    expect(spool.bytes).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.lp'))).toEqual([]);
    spool.append(lines(25, 2)); // starts a fresh segment after catching up
    expect(drain(spool, 10)).toEqual(lines(25, 2));
  });

  it('survives a restart with its cursor, and never appends to a previous run’s segment', () => {
    const dir = tempDir('spool-restart');
    const a = openSpool({ dir, maxBytes: 1024 * 1024, segmentBytes: 150, log });
    a.append(lines(0, 12));
    a.peek(5);
    a.commit();
    a.close();
    const b = openSpool({ dir, maxBytes: 1024 * 1024, log });
    b.append(lines(12, 3));
    expect(drain(b, 4)).toEqual(lines(5, 10));
  });

  it('drops the newest lines at its bound and reports how many', () => {
    const dir = tempDir('spool-bound');
    const one = Buffer.byteLength(`${lines(0, 1)[0]}\n`);
    const spool = openSpool({ dir, maxBytes: one * 5, log });
    expect(spool.append(lines(0, 3))).toEqual({ written: 3, dropped: 0 });
    expect(spool.append(lines(3, 4))).toEqual({ written: 2, dropped: 2 });
    expect(spool.bytes).toBe(one * 5);
    expect(drain(spool, 10)).toEqual(lines(0, 5));
    expect(spool.append(lines(7, 1))).toEqual({ written: 1, dropped: 0 });
  });

  it('gives back lines holding newlines and ESC byte for byte, one record each', () => {
    const dir = tempDir('spool-frame');
    const spool = openSpool({ dir, maxBytes: 1024 * 1024, log });
    const tricky = ['m s="a\nb\r\nc" 1', 'm s="esc \u001b n \u001bn" 2', 'm v=1 3'];
    spool.append(tricky);
    expect(drain(spool, 2)).toEqual(tricky);
  });

  it('discards a line torn by a crash of the previous writer', () => {
    const dir = tempDir('spool-torn');
    const a = openSpool({ dir, maxBytes: 1024 * 1024, log });
    a.append(lines(0, 2));
    a.close();
    const seg = readdirSync(dir).find((f) => f.endsWith('.lp'))!;
    appendFileSync(join(dir, seg), 'm v=99 9'); // no newline: the write never finished
    let torn = 0;
    const b = openSpool({ dir, maxBytes: 1024 * 1024, log, onTorn: (n) => (torn += n) });
    b.append(lines(2, 1));
    expect(drain(b, 10)).toEqual(lines(0, 3));
    expect(torn).toBe(1);
  });
});

describe('dead letter', () => {
  it('appends JSON lines with status and reason, up to its bound', () => {
    const file = join(tempDir('dl'), 'dead-letter.jsonl');
    const dl = openDeadLetter(file, 300);
    expect(dl.add([{ line: 'm v="x" 1', status: 400, reason: 'field type conflict' }], 0)).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      at: '1970-01-01T00:00:00.000Z',
      status: 400,
      reason: 'field type conflict',
      line: 'm v="x" 1',
    });
    const big = { line: 'x'.repeat(400), status: 400, reason: 'r' };
    expect(dl.add([big], 0)).toBe(1);
  });
});
