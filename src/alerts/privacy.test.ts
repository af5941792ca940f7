import { describe, expect, it } from 'vitest';
import { maskName, maskPhone, maskResident, maskTarget } from './privacy.ts';

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
