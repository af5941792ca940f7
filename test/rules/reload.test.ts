import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { GridHubError } from '../../src/domain/errors.ts';
import { createHarness, type Harness, MIN, telemetry, tempDir } from './helpers.ts';

let h: Harness;
afterEach(async () => {
  await h.engine.close();
  h.db.close();
});

const binHot = (gte: number) => `id: bin-hot
name: Hot bin
match: { deviceTypes: [bin] }
condition: { field: temperature, gte: ${gte} }
raise: { severity: major, category: bin_fire, title: "Hot bin {{temperature}}" }
`;

function caught(fn: () => unknown): GridHubError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GridHubError) return err;
    throw err;
  }
  throw new Error('expected a GridHubError');
}

describe('rules folder', () => {
  it('loads the default pack when the folder has none, and user files on top', () => {
    h = createHarness();
    expect(h.engine.list().map((r) => r.id)).toContain('bin-full');
    writeFileSync(join(h.rulesDir, 'bin-hot.yaml'), binHot(40));
    h.engine.reload();
    expect(h.engine.get('bin-hot')).toMatchObject({
      origin: 'user',
      overridesDefault: false,
      rule: { version: 1 },
    });
    expect(h.engine.get('bin-full')?.origin).toBe('pack');
    expect(h.send(telemetry('b', 'bin', { temperature: 41 })).map((r) => r.ruleId)).toEqual(['bin-hot']);
  });

  it('an invalid rule file is refused naming the rule and field; the rules in force stay unchanged', () => {
    h = createHarness();
    writeFileSync(join(h.rulesDir, 'bin-hot.yaml'), binHot(40));
    h.engine.reload();
    writeFileSync(
      join(h.rulesDir, 'bin-hot.yaml'),
      binHot(40).replace('field: temperature', 'field: temprature'),
    );
    const err = caught(() => h.engine.reload());
    expect(err.code).toBe('RULE_INVALID');
    expect(err.field).toBe('condition.field');
    expect(err.message).toMatch(
      /bin-hot\.yaml: rule bin-hot: condition\.field: temprature is not a telemetry or event field of bin/,
    );
    // Still the old rule set: the old bin-hot fires, every default is still there.
    expect(h.send(telemetry('b', 'bin', { temperature: 41 })).map((r) => r.ruleId)).toEqual(['bin-hot']);
    expect(h.engine.list().length).toBe(12);
  });

  it.each([
    ['severity: major', 'severity: huge', 'raise.severity'],
    ['{ field: temperature, gte: 40 }', '{ field: temperature, gte: "hot" }', 'condition.gte'],
    ['{ field: temperature, gte: 40 }', '{ any: [] }', 'condition.any'],
    ['name: Hot bin', 'name: Hot bin\nfor: 10 minutes', 'for'],
    ['deviceTypes: [bin]', 'deviceTypes: [bin, toaster]', 'match.deviceTypes[1]'],
    ['title: "Hot bin {{temperature}}"', 'title: "Hot {{constructor.name}}"', 'raise.title'],
    ['name: Hot bin', 'name: Hot bin\ncolour: red', '(root)'],
  ])('refuses %s → %s at field %s', (from, to, field) => {
    h = createHarness({ packDir: null });
    writeFileSync(join(h.rulesDir, 'bin-hot.yaml'), binHot(40).replace(from, to));
    const err = caught(() => h.engine.reload());
    expect(err.field).toBe(field);
    expect(err.message).toContain('rule bin-hot');
    expect(h.engine.list()).toEqual([]);
  });

  it('starts with the defaults and the valid user rules when a file is bad at start-up', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'rules'));
    writeFileSync(join(dir, 'rules', 'a-good.yaml'), binHot(40));
    writeFileSync(
      join(dir, 'rules', 'b-bad.yaml'),
      binHot(40).replace('bin-hot', 'bin-bad').replace('major', 'huge'),
    );
    writeFileSync(join(dir, 'rules', 'c-broken.json'), '{ not json');
    h = createHarness({ dir });
    expect(h.engine.get('bin-hot')).toBeDefined();
    expect(h.engine.get('bin-bad')).toBeUndefined();
    expect(h.engine.get('smoke-fire')).toBeDefined();
    expect(h.engine.lastError()).toMatchObject({ field: 'c-broken.json' });
  });

  it('applies an edited file without restart through the folder watcher, and refuses a bad edit', async () => {
    h = createHarness({ watch: true, packDir: null });
    const file = join(h.rulesDir, 'bin-hot.yaml');
    writeFileSync(file, binHot(40));
    await vi.waitFor(() => expect(h.engine.get('bin-hot')).toBeDefined(), { timeout: 3000, interval: 20 });
    writeFileSync(file, binHot(60));
    await vi.waitFor(() => expect(JSON.stringify(h.engine.get('bin-hot')?.rule.condition)).toContain('60'), {
      timeout: 3000,
      interval: 20,
    });
    writeFileSync(file, binHot(60).replace('severity: major', 'severity: huge'));
    await vi.waitFor(() => expect(h.engine.lastError()?.field).toBe('raise.severity'), {
      timeout: 3000,
      interval: 20,
    });
    expect(h.engine.lastError()?.message).toContain('rule bin-hot');
    expect(h.engine.get('bin-hot')?.rule.raise?.severity).toBe('major');
    expect(h.send(telemetry('b', 'bin', { temperature: 61 }))).toMatchObject([
      { ruleId: 'bin-hot', severity: 'major' },
    ]);
  });
});

describe('put and delete', () => {
  it('put validates, persists to the folder as a file and applies at once', () => {
    h = createHarness();
    const info = h.engine.put(parseYaml(binHot(40)));
    expect(info.file).toBe(join(h.rulesDir, 'bin-hot.yaml'));
    expect(parseYaml(readFileSync(info.file, 'utf8'))).toMatchObject({
      id: 'bin-hot',
      condition: { gte: 40 },
    });
    expect(h.send(telemetry('b', 'bin', { temperature: 41 }))).toHaveLength(1);
    const bad = caught(() => h.engine.put({ ...parseYaml(binHot(50)), for: -1 }));
    expect(bad).toMatchObject({ code: 'RULE_INVALID', field: 'for' });
    expect(h.engine.get('bin-hot')?.rule.condition).toEqual({ field: 'temperature', gte: 40 });
  });

  it('overriding a default keeps its id; delete disables a default with a stub file; put brings it back', () => {
    h = createHarness();
    const def = h.engine.get('bin-full');
    if (!def) throw new Error('no default');
    h.engine.put({ ...(def.source as object), for: '5m' });
    expect(h.engine.get('bin-full')).toMatchObject({
      origin: 'user',
      overridesDefault: true,
      rule: { for: 5 * MIN },
    });
    h.engine.delete('bin-full');
    expect(h.engine.get('bin-full')?.rule.enabled).toBe(false);
    expect(parseYaml(readFileSync(join(h.rulesDir, 'bin-full.yaml'), 'utf8'))).toEqual({
      id: 'bin-full',
      enabled: false,
    });
    h.send(telemetry('b', 'bin', { fill: 100 }));
    h.clock.advance(30 * MIN);
    expect(h.take().filter((r) => r.ruleId === 'bin-full')).toEqual([]);
    h.engine.put(def.source);
    expect(h.engine.get('bin-full')?.rule.enabled).toBe(true);
  });

  it('put never overwrites a file that holds another rule', () => {
    h = createHarness({ packDir: null });
    writeFileSync(join(h.rulesDir, 'bin-hot.yaml'), binHot(40).replace('id: bin-hot', 'id: other'));
    h.engine.reload();
    const info = h.engine.put(parseYaml(binHot(50)));
    expect(info.file).toBe(join(h.rulesDir, 'bin-hot-2.yaml'));
    expect(h.engine.list().map((r) => r.id)).toEqual(['bin-hot', 'other']);
    h.engine.reload();
    expect(h.engine.list().map((r) => r.id)).toEqual(['bin-hot', 'other']);
  });

  it('delete removes a user rule file; an unknown id is RULE_NOT_FOUND', () => {
    h = createHarness({ packDir: null });
    const info = h.engine.put(parseYaml(binHot(40)));
    h.engine.delete('bin-hot');
    expect(existsSync(info.file)).toBe(false);
    expect(h.engine.get('bin-hot')).toBeUndefined();
    expect(caught(() => h.engine.delete('bin-hot')).code).toBe('RULE_NOT_FOUND');
  });
});

describe('test sandbox', () => {
  it('runs a rule in virtual time over relative readings and returns its results, touching nothing', async () => {
    h = createHarness();
    const rule = h.engine.get('bin-full')?.source;
    const results = await h.engine.test(rule, [
      { after: 0, deviceType: 'bin', values: { fill: 95 } },
      { after: '4m', values: { fill: 96 } },
      { after: '20m', values: { fill: 10 } },
    ]);
    expect(results).toMatchObject([
      { kind: 'raise', offsetMs: 10 * MIN, severity: 'minor' },
      { kind: 'clear', offsetMs: 20 * MIN },
    ]);
    expect(h.results).toEqual([]);
    expect(h.written).toEqual([]);
  });
});
