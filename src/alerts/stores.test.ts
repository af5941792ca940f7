import { describe, expect, it } from 'vitest';
import { REGISTRY_MIGRATIONS } from '../registry/schema.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import {
  createChannelTargetStore,
  createQuietHoursStore,
  maskName,
  maskPhone,
  maskResident,
  maskTarget,
} from './stores.ts';

describe('masking', () => {
  it.each([
    ['13812345678', '138****5678'],
    ['+86 138-1234-5678', '138****5678'],
    ['12345', '***45'],
    [null, null],
  ])('masks phone %s as %s', (input, out) => {
    expect(maskPhone(input)).toBe(out);
  });

  it('keeps the first character of a name and hides health notes', () => {
    expect(maskName('王秀英')).toBe('王**');
    expect(maskName('李')).toBe('李*');
    const m = maskResident({
      id: 'r',
      name: '王秀英',
      phone: '13700000003',
      familyName: null,
      familyPhone: '13600000004',
      healthNotes: '糖尿病',
      deviceId: null,
      placeId: null,
      updatedAt: 0,
    });
    expect(JSON.stringify(m)).not.toMatch(/13700000003|13600000004|糖尿病|秀英/);
  });

  it('cuts webhook URLs to their origin in the timeline (their keys are credentials)', () => {
    expect(maskTarget('wecom', 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret')).toBe(
      'https://qyapi.weixin.qq.com/…',
    );
    expect(maskTarget('wecom', 'g1-robot')).toBe('g1-robot');
    expect(maskTarget('sms', '13800000001')).toBe('138****0001');
  });
});

describe('quiet hours', () => {
  const db = openDatabase(':memory:');
  migrateModuleSync(sqliteStore(db), 'registry', REGISTRY_MIGRATIONS);
  migrateModuleSync(sqliteStore(db), 'alerts', ALERTS_MIGRATIONS);
  const store = createQuietHoursStore(db, 'Asia/Shanghai');
  store.add({ personId: null, placeId: 'g1', startMinute: 22 * 60, endMinute: 7 * 60 });
  const at = (hhmm: string) => Date.parse(`2026-01-05T${hhmm}:00+08:00`);

  it.each([
    ['21:59', null],
    ['22:00', '2026-01-06T07:00:00+08:00'],
    ['23:30', '2026-01-06T07:00:00+08:00'],
    ['06:59', '2026-01-05T07:00:00+08:00'],
    ['07:00', null],
  ])('at %s local the hold ends at %s', (time, end) => {
    const until = store.heldUntil(null, { grid: 'g1' }, at(time));
    expect(until).toBe(end === null ? null : Date.parse(end));
  });

  it('applies only to its place or person', () => {
    expect(store.heldUntil('w9', { grid: 'g2' }, at('23:00'))).toBeNull();
  });
});

describe('cached lists follow their edits', () => {
  const db = openDatabase(':memory:');
  migrateModuleSync(sqliteStore(db), 'registry', REGISTRY_MIGRATIONS);
  migrateModuleSync(sqliteStore(db), 'alerts', ALERTS_MIGRATIONS);
  const at = Date.parse('2026-01-05T23:00:00+08:00');

  it('quiet hours added and removed apply from the next message on', () => {
    const store = createQuietHoursStore(db, 'Asia/Shanghai');
    expect(store.heldUntil(null, { grid: 'g7' }, at)).toBeNull();
    const q = store.add({ personId: null, placeId: 'g7', startMinute: 22 * 60, endMinute: 7 * 60 });
    expect(store.heldUntil(null, { grid: 'g7' }, at)).toBe(Date.parse('2026-01-06T07:00:00+08:00'));
    expect(store.remove(q.id)).toBe(true);
    expect(store.heldUntil(null, { grid: 'g7' }, at)).toBeNull();
  });

  it('channel targets added and removed are matched from the next alarm on', () => {
    const store = createChannelTargetStore(db);
    expect(store.match({ grid: 'g7' }, ['grid_worker'])).toEqual([]);
    const t = store.add({ placeId: 'g7', role: null, channel: 'wecom', target: 'g7-robot', label: null });
    expect(store.match({ grid: 'g7' }, ['grid_worker']).map((x) => x.target)).toEqual(['g7-robot']);
    // A caller changing what it got does not change the store's copy.
    store.list().pop();
    expect(store.list()).toHaveLength(1);
    expect(store.remove(t.id)).toBe(true);
    expect(store.match({ grid: 'g7' }, ['grid_worker'])).toEqual([]);
  });
});
