import { describe, expect, it } from 'vitest';
import { fill, VIEWS_ZH } from '../../dashboards/web/src/common/i18n-views.ts';

describe('fill: the slots of a translated string', () => {
  it('spaces a Latin word filled in next to Chinese, as Chinese copy writes mixed text', () => {
    expect(fill('已通过{channel}送达{target}', { channel: 'App 推送', target: '张伟' })).toBe(
      '已通过 App 推送送达张伟',
    );
    expect(fill(VIEWS_ZH['tl.failedTo'], { target: 'Wang Fang', n: 2 })).toBe('发给 Wang Fang，第 2 次');
    expect(fill('由{who}处理', { who: 'Li Wei' })).toBe('由 Li Wei 处理');
  });

  it('leaves Chinese values, digits and English templates as they are', () => {
    expect(fill(VIEWS_ZH['tl.deliveredTo'], { target: '幸福社区群' })).toBe('发给幸福社区群');
    expect(fill(VIEWS_ZH.onFloor, { n: 3 })).toBe('3层');
    expect(fill('By {channel} to {target}', { channel: 'SMS', target: 'Wang' })).toBe('By SMS to Wang');
  });

  it('keeps a slot without a value', () => {
    expect(fill('已通过{channel}送达', {})).toBe('已通过{channel}送达');
  });
});
