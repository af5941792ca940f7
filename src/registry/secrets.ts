import {
  createHash,
  randomBytes,
  type ScryptOptions,
  scrypt as scryptCb,
  timingSafeEqual,
} from 'node:crypto';

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Cost per kind of secret. People choose passwords, so they get the full scrypt cost. Device secrets and API
 * tokens are 128+ random bits issued by us, where a KDF adds little beyond a hash; they get a lighter scrypt
 * so that 20 000 devices reconnecting after an outage do not queue for minutes behind the KDF.
 */
export const KDF_COST = { password: 16_384, deviceSecret: 2_048 } as const;

/** `scrypt$N$r$p$salt$hash`, all base64url. */
export async function hashSecret(secret: string, cost: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, 32, { N: cost, r: 8, p: 1 });
  return `scrypt$${cost}$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
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
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A random secret for devices, API tokens and one-time links: 24 bytes, base64url (32 chars). */
export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** Tokens are looked up by hash on every request, so a fast digest (the token itself is high-entropy). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
