import { createDecipheriv, createECDH, createHmac, createPublicKey, randomBytes, verify } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness, raise, seedCommunity } from '../alerts/fixtures.ts';
import { Receiver } from './receiver.ts';

let h: Harness;
let rx: Receiver;

afterEach(async () => {
  await h?.close();
  await rx?.stop();
});

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/** A browser's side of a push subscription: a P-256 key pair and a 16-byte auth secret (RFC 8291 §2). */
function fakeBrowser() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  const publicKey = ecdh.getPublicKey();
  return {
    keys: { p256dh: publicKey.toString('base64url'), auth: auth.toString('base64url') },
    /** Decrypt an aes128gcm body (RFC 8188 header + one record) with the subscription's private key. */
    decrypt(body: Buffer): string {
      const salt = body.subarray(0, 16);
      const rs = body.readUInt32BE(16);
      const idlen = body[20] ?? 0;
      const asPublic = body.subarray(21, 21 + idlen);
      const record = body.subarray(21 + idlen);
      expect(record.length).toBeLessThanOrEqual(rs);
      // RFC 8291 §3.4: IKM from the ECDH secret and the auth secret, bound to both public keys.
      const ecdhSecret = ecdh.computeSecret(asPublic);
      const prkKey = hmac(auth, ecdhSecret);
      const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), publicKey, asPublic, Buffer.from([1])]);
      const ikm = hmac(prkKey, keyInfo);
      // RFC 8188 §2.2/2.3: content-encryption key and nonce from the salt.
      const prk = hmac(salt, ikm);
      const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01', 'latin1')).subarray(0, 16);
      const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01', 'latin1')).subarray(0, 12);
      const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
      decipher.setAuthTag(record.subarray(record.length - 16));
      const padded = Buffer.concat([
        decipher.update(record.subarray(0, record.length - 16)),
        decipher.final(),
      ]);
      let end = padded.length - 1;
      while (end > 0 && padded[end] === 0) end--;
      expect(padded[end]).toBe(2); // delimiter of the last record
      return padded.subarray(0, end).toString('utf8');
    },
  };
}

/** Check the VAPID JWT (RFC 8292) against the public key the hub hands to browsers. */
function verifyVapid(authorization: string, publicKey: string, audience: string) {
  const m = /^vapid t=([^,]+), k=(.+)$/.exec(authorization);
  expect(m).not.toBeNull();
  const [, jwt = '', k = ''] = m ?? [];
  expect(k).toBe(publicKey);
  const [head = '', claims = '', sig = ''] = jwt.split('.');
  const raw = Buffer.from(k, 'base64url');
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  const ok = verify(
    'sha256',
    Buffer.from(`${head}.${claims}`),
    { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(sig, 'base64url'),
  );
  expect(ok).toBe(true);
  const payload = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as {
    aud: string;
    sub: string;
  };
  expect(payload.aud).toBe(audience);
  return payload;
}

describe('Web Push', () => {
  it('sends a real encrypted push that the subscription’s keys decrypt, signed with the hub’s VAPID key', async () => {
    rx = await new Receiver().start();
    rx.script('/push/w1-phone', { status: 201 });
    h = createHarness({ config: { webPushSubject: 'mailto:duty@example.org' } });
    seedCommunity(h.registry);
    const browser = fakeBrowser();
    await h.dispatcher.pushStore.subscribe({
      endpoint: rx.url('/push/w1-phone'),
      keys: browser.keys,
      personId: 'w1',
      username: 'w1',
    });
    await h.dispatcher.start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-7' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.drain();

    const [push] = rx.at('/push/w1-phone');
    expect(push).toBeDefined();
    expect(push?.headers['content-encoding']).toBe('aes128gcm');
    expect(push?.headers.urgency).toBe('high');
    expect(Number(push?.headers.ttl)).toBe(h.config.webPushTtlSeconds);
    const message = JSON.parse(browser.decrypt(push?.body ?? Buffer.alloc(0))) as Record<string, unknown>;
    expect(message).toMatchObject({
      kind: 'alarm',
      alertId: id,
      severity: 'critical',
      title: '[紧急] 烟感报警',
    });
    expect(String(message.body)).toContain('第一网格');

    const vapidKey = h.dispatcher.pushStore.vapidKeys().publicKey;
    expect(verifyVapid(String(push?.headers.authorization), vapidKey, rx.base).sub).toBe(
      'mailto:duty@example.org',
    );
    const delivered = (await h.dispatcher.timeline(id)).find(
      (e) => e.type === 'delivered' && e.data.channel === 'webpush',
    );
    expect(delivered?.data).toMatchObject({ status: 201, rung: 0 });

    // The key pair is made once and kept: a restarted hub signs with the same key.
    await h.dispatcher.stop();
    h.db.close();
    const again = h.restart();
    expect(again.pushStore.vapidKeys().publicKey).toBe(vapidKey);
  });

  it('drops a subscription the push service says is gone (410) and marks the delivery dead', async () => {
    rx = await new Receiver().start();
    rx.script('/push/old', { status: 410 });
    h = createHarness();
    seedCommunity(h.registry);
    await h.dispatcher.pushStore.subscribe({
      endpoint: rx.url('/push/old'),
      keys: fakeBrowser().keys,
      personId: 'w1',
      username: 'w1',
    });
    await h.dispatcher.start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.drain();
    expect(rx.at('/push/old')).toHaveLength(1);
    expect(await h.dispatcher.pushStore.list('w1')).toEqual([]);
    const row = (await h.dispatcher.deliveries(id)).find((d) => d.channel === 'webpush');
    expect(row).toMatchObject({ state: 'dead', lastStatus: 410 });
  });
});
