import {
  createHash,
  createHmac,
  randomBytes,
  type ScryptOptions,
  scrypt as scryptCb,
  timingSafeEqual,
} from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Password KDF cost: OWASP's scrypt recommendation (N=2^17, r=8, p=1; 128 MiB and ~0.3 s per check here).
 * Hashes of a lower cost are re-hashed at the next successful login.
 */
export const PASSWORD_COST = 131_072;
const R = 8;
/** Node refuses scrypt above 32 MiB unless told; N=2^17, r=8 needs 128 MiB plus a little. */
const MAXMEM = 256 * 1024 * 1024;

/** `scrypt$N$r$p$salt$hash`, all base64url. */
export async function hashSecret(secret: string, cost: number = PASSWORD_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, 32, { N: cost, r: R, p: 1, maxmem: MAXMEM });
  return `scrypt$${cost}$${R}$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltText, hashText] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashText, 'base64url');
  const key = await scrypt(secret, Buffer.from(saltText, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: MAXMEM,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** True when a stored password hash is weaker than today's cost and should be replaced at the next login. */
export function needsRehash(stored: string, cost: number = PASSWORD_COST): boolean {
  const parts = stored.split('$');
  return parts[0] !== 'scrypt' || Number(parts[1]) < cost || Number(parts[2]) < R;
}

/**
 * Device secrets are 192 random bits the hub issues, not something a person chose: a keyed fast hash is as
 * safe at rest as a KDF (nobody can enumerate 2^192), and it costs microseconds, so 10 000 devices
 * reconnecting after a restart do not queue behind key derivation. The key lives in the data dir (0600), so a
 * copy of the database alone does not even allow an offline check of a guessed secret.
 */
export class DeviceSecretHasher {
  readonly #key: Buffer;
  constructor(key: Buffer) {
    this.#key = key;
  }
  hash(secret: string): string {
    return `hmac-sha256$${createHmac('sha256', this.#key).update(secret).digest('base64url')}`;
  }
  /** Constant-time check against an `hmac-sha256$…` hash; false for other forms (see `isLegacy`). */
  verify(secret: string, stored: string): boolean {
    if (!stored.startsWith('hmac-sha256$')) return false;
    const a = Buffer.from(this.hash(secret));
    const b = Buffer.from(stored);
    return a.length === b.length && timingSafeEqual(a, b);
  }
  /** A stored scrypt hash from before the keyed hash: verified once, then replaced. */
  static isLegacy(stored: string): boolean {
    return stored.startsWith('scrypt$');
  }
}

/**
 * The hub's server key for device-secret hashing: `hub.key` in the data dir, 32 random bytes, created 0600 on
 * first start. Losing it means re-issuing every device secret, so it belongs in the backups with the database.
 */
export function loadServerKey(file: string): Buffer {
  if (!existsSync(file))
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (key.length < 32) throw new Error(`${file} holds no usable key (expected 32 bytes, base64url)`);
  return key;
}

/** A random secret for devices, API tokens and one-time links: 24 bytes, base64url (32 chars). */
export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** Tokens are looked up by hash on every request, so a fast digest (the token itself is high-entropy). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
