import { describe, expect, it } from 'vitest';
import { compileTemplate } from './templates.ts';

describe('templates', () => {
  const values: Record<string, string | number> = { fill: 93, 'device.id': 'bin-7' };
  const lookup = (n: string) => values[n];

  it('substitutes names and renders missing ones as empty', () => {
    expect(compileTemplate('Bin {{ device.id }} at {{fill}} % {{nope}}!').render(lookup)).toBe(
      'Bin bin-7 at 93 % !',
    );
  });

  it('knows a single-placeholder template (evidence keeps the value type)', () => {
    expect(compileTemplate('{{fill}}').single).toBe('fill');
    expect(compileTemplate('x{{fill}}').single).toBeUndefined();
  });

  it.each(['{{fill + 1}}', '{{ process.exit() }}', '{{constructor.name}}', '{{device.secret}}', "{{'a'}}"])(
    'refuses %s: no expressions, only known names',
    (src) => {
      expect(() => compileTemplate(src)).toThrow();
    },
  );

  it('leaves out an optional [[ part ]] whose value is missing, and keeps it when present', () => {
    const t = compileTemplate('Bin {{device.id}}[[ at {{fill}} %]][[, tilted: {{nope}}]].');
    expect(t.render(lookup)).toBe('Bin bin-7 at 93 %.');
    expect(compileTemplate('[[{{nope}}]]').render(lookup)).toBe('');
    expect(() => compileTemplate('[[{{fill + 1}}]]')).toThrow();
  });
});
