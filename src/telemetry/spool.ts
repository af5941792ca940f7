import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/**
 * A bounded, append-only, on-disk FIFO of line-protocol lines: what InfluxDB could not take yet.
 *
 * Layout of `dir`: segment files `seg-<seq>.lp` (newline-terminated lines, appended only) and `cursor.json`
 * (`{ seq, offset }`: how far the head segment has been replayed). A process only appends to segments it
 * created itself; a segment left by a crashed process is read-only and a torn last line in it is discarded.
 *
 * Delivery is at-least-once: a crash between a successful write and the cursor update replays that batch
 * again. InfluxDB stores a point by (measurement, tags, time), so a repeated identical line overwrites itself:
 * the point count stays exact.
 */
export interface Spool {
  /** Bytes not yet replayed. */
  readonly bytes: number;
  isEmpty(): boolean;
  /** Append lines at the tail, in order. Lines that would exceed the bound are dropped (newest first). */
  append(lines: readonly string[]): { written: number; dropped: number };
  /** Up to `maxLines` lines from the head, without consuming them; `commit()` consumes what was peeked. */
  peek(maxLines: number): string[];
  commit(): void;
  close(): void;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** A segment is closed and a new one started past this size, so replayed data is freed segment by segment. */
  segmentBytes?: number;
  log: Logger;
  /** Called with the number of lines discarded because a crashed writer left them torn. */
  onTorn?: (lines: number) => void;
}

interface Segment {
  seq: number;
  size: number;
}

const SEGMENT_RE = /^seg-(\d{12})\.lp$/;
const READ_CHUNK = 4 * 1024 * 1024;

const segName = (seq: number) => `seg-${String(seq).padStart(12, '0')}.lp`;

/**
 * Segments are newline-delimited, but a line-protocol string field may hold a newline. Inside the spool a
 * newline is written as ESC n and ESC itself as ESC e (ESC, 0x1b, never appears unescaped), so every line is
 * one record and comes back byte for byte.
 */
const ESC = '\u001b';
const frame = (l: string) =>
  l.includes('\n') || l.includes(ESC) ? l.replaceAll(ESC, `${ESC}e`).replaceAll('\n', `${ESC}n`) : l;
function unframe(l: string): string {
  if (!l.includes(ESC)) return l;
  let out = '';
  for (let i = 0; i < l.length; i++) {
    const c = l[i];
    if (c === ESC) out += l[++i] === 'n' ? '\n' : ESC;
    else out += c;
  }
  return out;
}

export function openSpool(options: SpoolOptions): Spool {
  const { dir, maxBytes, log } = options;
  const segmentBytes = options.segmentBytes ?? Math.max(64 * 1024, Math.min(64 * 1024 * 1024, maxBytes / 8));
  mkdirSync(dir, { recursive: true });
  const cursorFile = join(dir, 'cursor.json');

  const segments: Segment[] = readdirSync(dir)
    .map((f) => SEGMENT_RE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ seq: Number(m[1]), size: statSync(join(dir, m[0])).size }))
    .sort((a, b) => a.seq - b.seq);

  let offset = 0;
  if (existsSync(cursorFile)) {
    try {
      const c = JSON.parse(readFileSync(cursorFile, 'utf8')) as { seq?: unknown; offset?: unknown };
      if (typeof c.seq === 'number' && typeof c.offset === 'number') {
        // Segments before the cursor were fully replayed; only a crash before their unlink leaves them.
        while (segments[0] && segments[0].seq < c.seq) unlinkSync(join(dir, segName(segments.shift()!.seq)));
        if (segments[0]?.seq === c.seq) offset = Math.min(c.offset, segments[0].size);
      }
    } catch (err) {
      log.warn({ err, cursorFile }, 'spool cursor unreadable; replaying the head segment from its start');
    }
  }
  let nextSeq = (segments.at(-1)?.seq ?? 0) + 1;
  /** The segment this process appends to (always the last), with its descriptor. */
  let active: { seg: Segment; fd: number } | undefined;
  let peeked: { bytes: number } | undefined;

  const pendingBytes = () => segments.reduce((n, s) => n + s.size, 0) - offset;

  function saveCursor(): void {
    const head = segments[0];
    const tmp = `${cursorFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ seq: head?.seq ?? nextSeq, offset: head ? offset : 0 }));
    renameSync(tmp, cursorFile);
  }

  function closeActive(sync: boolean): void {
    if (!active) return;
    if (sync) fsyncSync(active.fd);
    closeSync(active.fd);
    active = undefined;
  }

  function dropHead(): void {
    const head = segments.shift();
    if (!head) return;
    if (active?.seg === head) closeActive(false);
    unlinkSync(join(dir, segName(head.seq)));
    offset = 0;
    saveCursor();
  }

  function openActive(): { seg: Segment; fd: number } {
    if (active && active.seg.size < segmentBytes) return active;
    closeActive(true);
    const seg = { seq: nextSeq++, size: 0 };
    const fd = openSync(join(dir, segName(seg.seq)), 'a+');
    segments.push(seg);
    active = { seg, fd };
    return active;
  }

  return {
    get bytes() {
      return pendingBytes();
    },
    isEmpty: () => pendingBytes() === 0,

    append(lines) {
      if (lines.length === 0) return { written: 0, dropped: 0 };
      let room = maxBytes - pendingBytes();
      let n = 0;
      let body = '';
      for (const raw of lines) {
        const l = frame(raw);
        const size = Buffer.byteLength(l) + 1;
        if (size > room) break;
        room -= size;
        body += `${l}\n`;
        n++;
      }
      if (n > 0) {
        const a = openActive();
        const buf = Buffer.from(body);
        let done = 0;
        while (done < buf.length) done += writeSync(a.fd, buf, done, buf.length - done);
        a.seg.size += buf.length;
      }
      return { written: n, dropped: lines.length - n };
    },

    peek(maxLines) {
      peeked = undefined;
      for (;;) {
        const head = segments[0];
        if (!head) return [];
        const remaining = head.size - offset;
        if (remaining <= 0) {
          if (active?.seg === head) return [];
          dropHead();
          continue;
        }
        const fd = active?.seg === head ? active.fd : openSync(join(dir, segName(head.seq)), 'r');
        try {
          let want = Math.min(remaining, READ_CHUNK);
          for (;;) {
            const buf = Buffer.allocUnsafe(want);
            const got = readSync(fd, buf, 0, want, offset);
            const lines: string[] = [];
            let pos = 0;
            while (lines.length < maxLines) {
              const nl = buf.indexOf(10, pos);
              if (nl < 0 || nl >= got) break;
              lines.push(unframe(buf.toString('utf8', pos, nl)));
              pos = nl + 1;
            }
            if (lines.length > 0) {
              peeked = { bytes: pos };
              return lines;
            }
            if (want < remaining) {
              want = remaining; // one line longer than the chunk: read the rest of the segment
              continue;
            }
            // No newline in what is left: a write torn by a crash of the previous process.
            if (active?.seg === head) return [];
            log.warn({ segment: segName(head.seq), bytes: remaining }, 'spool: discarding torn last line');
            options.onTorn?.(1);
            dropHead();
            break;
          }
        } finally {
          if (active?.seg !== head) {
            try {
              closeSync(fd);
            } catch {
              // already closed by dropHead
            }
          }
        }
      }
    },

    commit() {
      if (!peeked) return;
      offset += peeked.bytes;
      peeked = undefined;
      const head = segments[0];
      if (head && offset >= head.size) {
        dropHead(); // also the active segment when replay caught up: the next append starts a fresh one
      } else saveCursor();
    },

    close() {
      closeActive(true);
      saveCursor();
    },
  };
}

/** `dead-letter.jsonl`: lines InfluxDB refused as malformed, with the reason; never retried. */
export interface DeadLetter {
  add(entries: readonly { line: string; status: number; reason: string }[], at: number): number;
  readonly file: string;
}

export function openDeadLetter(file: string, maxBytes: number): DeadLetter {
  let size = existsSync(file) ? statSync(file).size : 0;
  return {
    file,
    /** Returns how many entries did not fit under `maxBytes` (the caller counts and logs them). */
    add(entries, at) {
      let body = '';
      let dropped = 0;
      const ts = new Date(at).toISOString();
      for (const e of entries) {
        const rec = `${JSON.stringify({ at: ts, status: e.status, reason: e.reason, line: e.line })}\n`;
        if (size + body.length + rec.length > maxBytes) {
          dropped++;
          continue;
        }
        body += rec;
      }
      if (body) {
        const fd = openSync(file, 'a');
        try {
          writeSync(fd, body);
          size = fstatSync(fd).size;
        } finally {
          closeSync(fd);
        }
      }
      return dropped;
    },
  };
}
