/**
 * The common telemetry payload — one flat JSON object of a device type's own fields, plain numbers, booleans and
 * short ASCII strings, e.g. `{"fill":41.35,"temperature":18.02,"tilt":false,"battery":81.1}` — read straight
 * from the message's bytes. `JSON.parse` of the decoded text cost more than the rest of ingest's decode and
 * validation together (about 1 µs of a 60-byte payload, plus its UTF-8 check and decode; issue #19).
 *
 * This reader takes only a strict subset of JSON and answers undefined for anything else (an unknown or repeated
 * key, `ts`, `null`, nesting, arrays, exponents, more than 15 significant digits, escapes, non-ASCII bytes,
 * anything malformed), which then goes through `JSON.parse` and the usual checks as before: so what it does
 * accept, it reads exactly as `JSON.parse` would, and every refusal and its message stays the general path's.
 *
 * Numbers: the digits as an integer M (at most 15 digits, so M < 2⁵³ is exact) divided by 10^f (f ≤ 22, exact
 * too). IEEE division of two exact values is correctly rounded, and so is `JSON.parse` (V8's strtod), so both
 * give the same double — the classic exact fast path of decimal-to-binary conversion (Clinger 1990).
 */

/** The field names of one device type as bytes, in the catalogue's order. */
export interface FlatKeys {
  names: readonly string[];
  bytes: readonly Uint8Array[];
}

export function flatKeys(names: readonly string[]): FlatKeys {
  return { names, bytes: names.map((n) => Buffer.from(n, 'latin1')) };
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
const MAX_DIGITS = 15;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Which of `keys` the bytes [from, to) spell, or -1. */
function keyAt(buf: Uint8Array, from: number, to: number, keys: FlatKeys): number {
  const len = to - from;
  const all = keys.bytes;
  outer: for (let k = 0; k < all.length; k++) {
    const name = all[k] as Uint8Array;
    if (name.length !== len) continue;
    for (let i = 0; i < len; i++) if (buf[from + i] !== name[i]) continue outer;
    return k;
  }
  return -1;
}

/**
 * The object `buf` holds, when it is in the subset above and every key is one of `keys`; else undefined.
 * Keys come out in the payload's order, as `JSON.parse` gives them.
 */
export function readFlatObject(buf: Buffer, keys: FlatKeys): Record<string, unknown> | undefined {
  const n = buf.length;
  let i = 0;
  while (i < n && isSpace(buf[i] as number)) i++;
  if (buf[i] !== OPEN) return undefined;
  i++;
  const out: Record<string, unknown> = {};
  /** Bit k set: key k was seen (a repeat goes the general way: JSON.parse keeps the last, say). */
  let seen = 0;
  let first = true;
  for (;;) {
    while (i < n && isSpace(buf[i] as number)) i++;
    if (i >= n) return undefined;
    if (buf[i] === CLOSE) {
      if (first) return undefined; // `{}`: the general path answers it
      i++;
      break;
    }
    if (!first) {
      if (buf[i] !== COMMA) return undefined;
      i++;
      while (i < n && isSpace(buf[i] as number)) i++;
    }
    first = false;
    // the key: printable ASCII without escapes
    if (buf[i] !== QUOTE) return undefined;
    const keyStart = ++i;
    while (i < n && buf[i] !== QUOTE) {
      const c = buf[i] as number;
      if (c < 0x20 || c > 0x7e || c === BACKSLASH) return undefined;
      i++;
    }
    if (i >= n) return undefined;
    const k = keyAt(buf, keyStart, i, keys);
    if (k < 0 || k > 30 || (seen & (1 << k)) !== 0) return undefined;
    seen |= 1 << k;
    i++;
    while (i < n && isSpace(buf[i] as number)) i++;
    if (buf[i] !== COLON) return undefined;
    i++;
    while (i < n && isSpace(buf[i] as number)) i++;
    if (i >= n) return undefined;
    const c = buf[i] as number;
    let value: unknown;
    if (c === MINUS || (c >= ZERO && c <= NINE)) {
      const neg = c === MINUS;
      if (neg) i++;
      const intStart = i;
      let m = 0;
      let digits = 0;
      while (i < n && (buf[i] as number) >= ZERO && (buf[i] as number) <= NINE) {
        m = m * 10 + ((buf[i] as number) - ZERO);
        digits++;
        i++;
      }
      // JSON: at least one digit, and no leading zero before more digits
      if (digits === 0 || (buf[intStart] === ZERO && digits > 1)) return undefined;
      let frac = 0;
      if (buf[i] === DOT) {
        i++;
        const fracStart = i;
        while (i < n && (buf[i] as number) >= ZERO && (buf[i] as number) <= NINE) {
          m = m * 10 + ((buf[i] as number) - ZERO);
          digits++;
          i++;
        }
        frac = i - fracStart;
        if (frac === 0) return undefined;
      }
      const e = buf[i];
      if (e === 0x65 || e === 0x45 || digits > MAX_DIGITS) return undefined; // exponents, long numbers
      const v = frac === 0 ? m : m / (POW10[frac] as number);
      value = neg ? -v : v;
    } else if (c === 0x74) {
      // true
      if (buf[i + 1] !== 0x72 || buf[i + 2] !== 0x75 || buf[i + 3] !== 0x65) return undefined;
      i += 4;
      value = true;
    } else if (c === 0x66) {
      // false
      if (buf[i + 1] !== 0x61 || buf[i + 2] !== 0x6c || buf[i + 3] !== 0x73 || buf[i + 4] !== 0x65)
        return undefined;
      i += 5;
      value = false;
    } else if (c === QUOTE) {
      const start = ++i;
      while (i < n && buf[i] !== QUOTE) {
        const s = buf[i] as number;
        if (s < 0x20 || s > 0x7e || s === BACKSLASH) return undefined;
        i++;
      }
      if (i >= n) return undefined;
      value = buf.toString('latin1', start, i);
      i++;
    } else return undefined;
    out[keys.names[k] as string] = value;
  }
  while (i < n && isSpace(buf[i] as number)) i++;
  return i === n ? out : undefined;
}
