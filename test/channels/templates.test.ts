/**
 * Golden files of every message template, per category and language, rendered from payloads the real dispatcher
 * built for the demo community (its places, people and residents), and checked against each platform's documented
 * format and limits. `GOLDEN_UPDATE=1 npx vitest run test/channels/templates.test.ts` rewrites the files; review
 * the diff like code.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import {
  DEFAULT_SMS_TEMPLATES,
  LIMITS,
  renderDingTalk,
  renderFeishu,
  renderPush,
  renderRatingSms,
  renderSms,
  renderVoice,
  renderWeCom,
  type SmsSettings,
  smsSettings,
} from '../../src/channels/templates/index.ts';
import { dingtalkSign, feishuSign } from '../../src/channels/webhook.ts';
import { seedDemo, seedDemoResidents } from '../../src/demo/seed.ts';
import type { AlarmMessage, DigestMessage, MessageLang, OutboxMessage } from '../../src/domain/alarm.ts';
import { MESSAGE_LANGS } from '../../src/domain/alarm.ts';
import type { AlertRaise } from '../../src/domain/rule-result.ts';
import { createHarness, type Harness } from '../alerts/fixtures.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const UPDATE = process.env.GOLDEN_UPDATE === '1';
const PUBLIC_URL = 'https://grid.example.cn';
const SMS: SmsSettings = smsSettings({ signName: '幸福社区', maxSegments: 2 });

/** The real demo seed, cut to one estate of one building per grid (the demo users need grids 1 and 3). */
const PLAN = {
  communities: 2,
  gridsPerCommunity: 2,
  estatesPerGrid: 1,
  buildingsPerEstate: 1,
  unitsPerBuilding: 2,
  floors: 18,
};

type Spec = Omit<AlertRaise, 'kind' | 'place' | 'at' | 'placeId' | 'deviceType' | 'floor'> & {
  deviceId: string;
};

/** One alert per category of the default rule pack, as its rule raises it, on the demo's devices. */
const CASES: Record<string, Spec> = {
  fire: {
    ruleId: 'smoke-fire',
    deviceId: 'smoke-001',
    severity: 'critical',
    category: 'fire',
    title: 'Smoke alarm',
    detail: 'Smoke sensor smoke-001 (floor 3): smoke 0.35 dB/m',
    evidence: { smoke: 0.35, temperature: 41 },
    dedup: 'per-device',
  },
  call_for_help: {
    ruleId: 'call-button-press',
    deviceId: 'call-001',
    severity: 'critical',
    category: 'call_for_help',
    title: 'One-key call',
    detail: 'Call button call-001 pressed',
    evidence: {},
    dedup: 'per-occurrence',
  },
  fall: {
    ruleId: 'call-button-fall',
    deviceId: 'call-001',
    severity: 'critical',
    category: 'fall',
    title: 'Fall detected',
    detail: 'Call button call-001: fall',
    evidence: {},
    dedup: 'per-occurrence',
  },
  throw_from_height: {
    ruleId: 'throw-detected',
    deviceId: 'throw-001',
    severity: 'major',
    category: 'throw_from_height',
    title: 'Object thrown from height',
    detail: 'Camera throw-001: object thrown from about floor 12, east facade (confidence 0.91)',
    evidence: { clipId: 'clip-20260105-1600', floor: '12', facade: '东', confidence: '0.91' },
    dedup: 'per-occurrence',
  },
  ebike_in_elevator: {
    ruleId: 'ebike-detected',
    deviceId: 'ebike-001',
    severity: 'major',
    category: 'ebike_in_elevator',
    title: 'E-bike in elevator',
    detail: 'ebike-001: e-bike detected',
    evidence: { elevatorId: '1号梯', doorHeld: 'true', confidence: '0.88' },
    dedup: 'per-device',
  },
  bin_full: {
    ruleId: 'bin-full',
    deviceId: 'bin-001',
    severity: 'minor',
    category: 'bin_full',
    title: 'Bin full',
    detail: 'bin-001 fill 94 %',
    evidence: { fill: 94 },
    dedup: 'per-device',
  },
  bin_fire: {
    ruleId: 'bin-fire',
    deviceId: 'bin-001',
    severity: 'critical',
    category: 'bin_fire',
    title: 'Bin fire',
    detail: 'bin-001 temperature 76 °C',
    evidence: { temperature: 76 },
    dedup: 'per-device',
  },
  device_offline: {
    ruleId: 'offline-safety',
    deviceId: 'smoke-002',
    severity: 'major',
    category: 'device_offline',
    title: 'Safety device offline',
    detail: 'smoke smoke-002 silent since 2026-01-05T03:00:00Z',
    evidence: {},
    dedup: 'per-device',
  },
  battery_low: {
    ruleId: 'battery-low',
    deviceId: 'smoke-003',
    severity: 'minor',
    category: 'battery_low',
    title: 'Low battery',
    detail: 'smoke-003 battery 12 %',
    evidence: { battery: 12 },
    dedup: 'per-device',
  },
  tamper: {
    ruleId: 'tamper',
    deviceId: 'smoke-004',
    severity: 'major',
    category: 'tamper',
    title: 'Tamper',
    detail: 'smoke-004 tamper',
    evidence: {},
    dedup: 'per-device',
  },
};

interface Rendered {
  /** The group's message (robots) and the on-duty worker's (app, SMS, voice), as the dispatcher built them. */
  group: AlarmMessage;
  worker: AlarmMessage;
}

const normalise = (s: string) =>
  s.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');

function golden(name: string, value: unknown): void {
  const file = join(GOLDEN, name);
  const text = normalise(typeof value === 'string' ? `${value}\n` : `${JSON.stringify(value, null, 2)}\n`);
  if (UPDATE || !existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  const stored = readFileSync(file, 'utf8');
  // JSON is compared as data (the formatter may lay the file out its own way), text as text.
  if (name.endsWith('.json')) {
    expect(JSON.parse(text), `golden file ${name} (GOLDEN_UPDATE=1 to rewrite)`).toEqual(JSON.parse(stored));
  } else expect(text, `golden file ${name} (GOLDEN_UPDATE=1 to rewrite)`).toBe(stored);
}

/** Build the demo, raise each case, and take the payloads from the outbox the way the channels get them. */
async function renderAll(
  lang: MessageLang,
): Promise<{ h: Harness; alarms: Map<string, Rendered>; digest: DigestMessage }> {
  const config: Partial<AlertsConfig> = {
    retryJitter: 0,
    webhooks: { robot: { url: 'http://127.0.0.1:9/robot' } },
  };
  const h = createHarness({ config });
  h.config.messages = { ...h.config.messages, language: lang, publicUrl: PUBLIC_URL };
  await seedDemo(h.registry, {
    dataDir: h.dir,
    now: h.clock.now(),
    mqttUrl: 'mqtt://127.0.0.1:1883',
    httpUrl: PUBLIC_URL,
    plan: PLAN,
  });
  await seedDemoResidents(h.dispatcher, h.registry.devices.list({ type: 'call_button' }));
  await h.dispatcher.channelTargets.add({
    placeId: 'G1',
    role: null,
    channel: 'wecom',
    target: 'robot',
    label: '第1网格群',
  });
  const alarms = new Map<string, Rendered>();
  for (const [name, spec] of Object.entries(CASES)) {
    const device = h.registry.devices.get(spec.deviceId);
    if (!device) throw new Error(`no demo device ${spec.deviceId}`);
    await h.dispatcher.handle({
      kind: 'raise',
      ...spec,
      deviceType: device.type,
      placeId: device.placeId,
      place: device.place,
      floor: device.floor,
      at: h.clock.now(),
    });
    const id =
      (await h.dispatcher.list({})).items.find(
        (a) => a.deviceId === spec.deviceId && a.category === spec.category,
      )?.id ?? '';
    await h.clock.advanceAsync(1000);
    const rows = h.db
      .prepare<[string], { channel: string; target: string; payload: string }>(
        'SELECT channel, target, payload FROM alert_outbox WHERE alert_id = ? ORDER BY id',
      )
      .all(id);
    const of = (channel: string, target?: string) => {
      const row = rows.find((r) => r.channel === channel && (target === undefined || r.target === target));
      if (!row) throw new Error(`${name}: no ${channel} message`);
      return JSON.parse(row.payload) as AlarmMessage;
    };
    alarms.set(name, { group: of('wecom'), worker: of('mqtt', 'g1-worker-a') });
  }
  // A storm: every device of the demo building offline at once (the digest, as the group robot gets it).
  await h.dispatcher.start();
  const devices = h.registry.devices.list().filter((d) => d.place.grid === 'G1');
  for (const d of devices) {
    await h.dispatcher.handle({
      kind: 'raise',
      ruleId: d.type === 'smoke' || d.type === 'call_button' ? 'offline-safety' : 'offline',
      deviceId: d.id,
      deviceType: d.type,
      placeId: d.placeId,
      place: d.place,
      floor: d.floor,
      at: h.clock.now(),
      severity: 'major',
      category: 'device_offline',
      title: 'Device offline',
      detail: 'silent',
      evidence: {},
      dedup: 'per-device',
    });
  }
  await h.clock.advanceAsync(h.config.digestWaitMs);
  await h.dispatcher.drain();
  const row = h.db
    .prepare<[], { payload: string }>(
      'SELECT payload FROM alert_outbox WHERE channel = \'wecom\' AND payload LIKE \'{"kind":"digest"%\' ORDER BY id DESC',
    )
    .get();
  if (!row) throw new Error('no digest');
  return { h, alarms, digest: JSON.parse(row.payload) as DigestMessage };
}

function checkPlatforms(m: OutboxMessage, label: string): void {
  const wecom = renderWeCom(m);
  expect(wecom.msgtype, label).toBe('markdown');
  expect(Buffer.byteLength(wecom.markdown.content, 'utf8'), `${label}: WeCom 4096 bytes`).toBeLessThanOrEqual(
    LIMITS.wecomMarkdownBytes,
  );

  const ding = renderDingTalk(m);
  expect(ding.msgtype).toBe('markdown');
  expect(ding.markdown.title.length, `${label}: DingTalk title`).toBeGreaterThan(0);
  expect(Buffer.byteLength(ding.markdown.text, 'utf8')).toBeLessThanOrEqual(LIMITS.dingtalkTextBytes);
  // A mention shows only when the text carries @mobile of each person in atMobiles.
  for (const mobile of ding.at.atMobiles) expect(ding.markdown.text).toContain(`@${mobile}`);

  const fei = renderFeishu(m);
  expect(fei.msg_type).toBe('interactive');
  expect(fei.card.header.title.content.length).toBeGreaterThan(0);
  const button = fei.card.elements.flatMap((e) => (e.tag === 'action' ? e.actions : []))[0];
  expect(button?.url, `${label}: Feishu button`).toBe(m.link);
  expect(Buffer.byteLength(JSON.stringify(fei), 'utf8')).toBeLessThanOrEqual(LIMITS.feishuBodyBytes);

  const push = renderPush(m);
  expect(Buffer.byteLength(JSON.stringify(push), 'utf8')).toBeLessThanOrEqual(LIMITS.webPushPlaintextBytes);
  expect(push.url).toBe(m.link);

  const sms = renderSms(m, SMS);
  checkSms(sms, label);
  const voice = renderVoice(m);
  expect([...voice.text].length, `${label}: voice length`).toBeLessThanOrEqual(LIMITS.voiceChars);
  expect(voice.text).not.toMatch(/https?:|<uuid>|[0-9a-f]{8}-[0-9a-f]{4}/);
}

function checkSms(sms: ReturnType<typeof renderSms>, label: string): void {
  expect(sms.text.startsWith(`【${SMS.signName}】`), `${label}: signature first`).toBe(true);
  expect(Object.values(DEFAULT_SMS_TEMPLATES).flatMap((t) => [t['zh-CN'].code, t.en.code])).toContain(
    sms.templateCode,
  );
  for (const [k, v] of Object.entries(sms.params)) {
    expect([...v].length, `${label}: SMS parameter ${k}`).toBeLessThanOrEqual(LIMITS.smsParamChars);
    // No links, no ids in parameters: providers refuse links in variables, and an id means nothing to a person.
    expect(v).not.toMatch(/https?:|[0-9a-f]{8}-[0-9a-f]{4}|\b(smoke|call|throw|ebike|bin)-\d{3}\b/);
  }
  expect(sms.segments, `${label}: SMS segments`).toBeLessThanOrEqual(SMS.maxSegments);
}

describe.each(MESSAGE_LANGS)('message templates in %s', (lang) => {
  let out: Awaited<ReturnType<typeof renderAll>>;
  beforeAll(async () => {
    out = await renderAll(lang);
  }, 60_000);
  afterAll(async () => {
    await out?.h.close();
  });

  it.each(Object.keys(CASES))('renders %s for every channel within each platform’s limits', (name) => {
    const r = out.alarms.get(name);
    if (!r) throw new Error(name);
    checkPlatforms(r.group, `${lang} ${name} group`);
    checkPlatforms(r.worker, `${lang} ${name} worker`);
    // A Chinese alarm SMS is one message, not a split one: it reaches old phones whole. (English needs two: a
    // Chinese signature makes the whole message UCS-2, 70 characters.)
    expect(renderSms(r.worker, SMS).segments).toBe(lang === 'zh-CN' ? 1 : 2);
    const family: AlarmMessage = {
      ...r.worker,
      residentCard: undefined,
      recipient: { personId: null, role: 'family', via: 'family_contact' },
    };
    delete family.residentCard;
    const base = `${lang}/${name}`;
    golden(`${base}.wecom.json`, renderWeCom(r.group));
    golden(`${base}.dingtalk.json`, renderDingTalk(r.group));
    golden(`${base}.feishu.json`, renderFeishu(r.group));
    golden(`${base}.push.json`, renderPush(r.worker));
    golden(`${base}.sms.json`, renderSms(r.worker, SMS));
    golden(`${base}.voice.txt`, renderVoice(r.worker).text);
    if (r.worker.resident) {
      golden(`${base}.family-sms.json`, renderSms(family, SMS));
      golden(`${base}.family-voice.txt`, renderVoice(family).text);
    }
  });

  it('says who, where, what to do and links to the alert, in plain words and no jargon', () => {
    const fire = out.alarms.get('fire')?.group as AlarmMessage;
    const md = renderWeCom(fire).markdown.content;
    const zh = lang === 'zh-CN';
    expect(md).toContain(zh ? '[紧急] 烟感报警' : '[Critical] Smoke alarm');
    expect(md).toContain(
      zh ? '幸福社区 第1网格 阳光花园 1栋1单元 3楼' : '幸福社区, 第1网格, 阳光花园, 1栋 1单元, floor 3',
    );
    expect(md).toContain(zh ? '1月5日 16:00' : '5 Jan 16:00');
    expect(md).toContain('网格员1A');
    expect(md).toContain(zh ? '16:01 前确认' : 'acknowledge by 16:01');
    expect(md).toContain(`${PUBLIC_URL}/worker/#/alerts/${fire.alertId}`);
    // Not the internal words of the old messages.
    expect(md).not.toMatch(/dispatched|opened|must_reach|Smoke sensor smoke-001/);
    expect(md).not.toContain(`告警编号`);
    // The people on duty are @mentioned in DingTalk.
    const ding = renderDingTalk(fire);
    expect(ding.at.atMobiles).toEqual(fire.onDuty.map((p) => p.mobile));
  });

  it('shows the resident card unmasked only in the app message of a person acting on it', async () => {
    const call = out.alarms.get('call_for_help') as Rendered;
    const resident = await out.h.dispatcher.residents.forDevice('call-001');
    expect(resident).toBeDefined();
    expect(call.worker.residentCard).toMatchObject({ name: resident?.name, phone: resident?.phone });
    expect(renderPush(call.worker).body).toContain(resident?.phone ?? '?');
    // Health notes never on a lock screen; the group robot gets the masked card only.
    expect(renderPush(call.worker).body).not.toContain(resident?.healthNotes ?? '?');
    const group = JSON.stringify([
      renderWeCom(call.group),
      renderDingTalk(call.group),
      renderFeishu(call.group),
    ]);
    expect(group).not.toContain(resident?.phone ?? '?');
    expect(group).not.toContain(resident?.healthNotes ?? '?');
    expect(group).toContain(resident?.name.slice(0, 1) ?? '?');
    // No SMS or call carries the resident's details at all.
    const phoneTexts = JSON.stringify([renderSms(call.worker, SMS), renderVoice(call.worker)]);
    expect(phoneTexts).not.toContain(resident?.phone ?? '?');
    expect(phoneTexts).not.toContain(resident?.name ?? '?');
  });

  it('summarises a storm for a group robot: counts, buildings, devices named, life-safety first, within limits', () => {
    const d = out.digest;
    expect(d.count).toBeGreaterThan(10);
    checkPlatforms(d, `${lang} digest`);
    const md = renderWeCom(d).markdown.content;
    const offline = d.byKind.find((k) => k.category === 'device_offline')?.n ?? 0;
    expect(offline).toBeGreaterThanOrEqual(9);
    expect(md).toContain(lang === 'zh-CN' ? `设备离线 ${offline} 条` : `Device offline: ${offline}`);
    // A throw from height (major) is listed before the offline devices.
    expect(md.indexOf('throw-001')).toBeLessThan(md.indexOf('smoke-001'));
    expect(md).toContain('阳光花园1栋');
    expect(md).toMatch(/smoke-0\d\d/);
    golden(`${lang}/digest.wecom.json`, renderWeCom(d));
    golden(`${lang}/digest.dingtalk.json`, renderDingTalk(d));
    golden(`${lang}/digest.feishu.json`, renderFeishu(d));
    golden(`${lang}/digest.sms.json`, renderSms(d, SMS));
    golden(`${lang}/digest.voice.txt`, renderVoice(d).text);
  });

  it('cuts a 1000-alarm summary to fit WeCom’s 4096 bytes and says how many more there are', () => {
    const one = out.digest.items[0];
    if (!one) throw new Error('empty digest');
    const items = Array.from({ length: 1000 }, (_, i) => ({
      ...one,
      alertId: `a${i}`,
      device: { ...one.device, id: `smoke-${i}` },
    }));
    const big: DigestMessage = { ...out.digest, items, count: 1000, alertIds: items.map((i) => i.alertId) };
    const md = renderWeCom(big).markdown.content;
    expect(Buffer.byteLength(md, 'utf8')).toBeLessThanOrEqual(LIMITS.wecomMarkdownBytes);
    expect(md).toMatch(lang === 'zh-CN' ? /另有 \d+ 条，见列表/ : /and \d+ more in the list/);
  });

  it('renders the rating link SMS with the link in fixed template text and only the token as a parameter', () => {
    const sms = renderRatingSms(SMS, {
      lang,
      place: '阳光花园1栋1单元6楼',
      event: lang === 'zh-CN' ? '一键呼叫' : 'One-key call',
      token: 'AbCdEfGhIjKlMnOpQrStUvWx',
      base: PUBLIC_URL,
    });
    checkSms(sms, `${lang} rating`);
    expect(sms.text).toContain(`${PUBLIC_URL}/r/AbCdEfGhIjKlMnOpQrStUvWx`);
    expect(sms.params.token).toBe('AbCdEfGhIjKlMnOpQrStUvWx');
    golden(`${lang}/rating.sms.json`, sms);
  });
});

describe('robot signing', () => {
  // The documented reference computations: DingTalk signs `${timestamp}\n${secret}` with the secret as key, in
  // milliseconds; Feishu signs an empty message with `${timestamp}\n${secret}` as key, in seconds.
  it('signs DingTalk and Feishu as their platforms check', async () => {
    const { createHmac } = await import('node:crypto');
    expect(dingtalkSign(1767600000000, 'SEC123')).toBe(
      createHmac('sha256', 'SEC123').update('1767600000000\nSEC123').digest('base64'),
    );
    expect(feishuSign(1767600000, 'abc')).toBe(
      createHmac('sha256', '1767600000\nabc').update('').digest('base64'),
    );
  });
});
