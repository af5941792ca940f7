import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { coreConfigSchema, SECTIONS } from './sections.ts';

const configSchema = coreConfigSchema.extend({
  http: SECTIONS.http.prefault({}),
  mqtt: SECTIONS.mqtt.prefault({}),
  rules: SECTIONS.rules.prefault({}),
  influx: SECTIONS.influx.prefault({}),
  telemetry: SECTIONS.telemetry.prefault({}),
  alerts: SECTIONS.alerts.prefault({}),
});

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const toEnv = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  return schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : undefined;
}

/** Every environment variable the config understands, with the config path it sets. */
export function environmentKeys(): { env: string; path: string[] }[] {
  const keys: { env: string; path: string[] }[] = [];
  for (const key of Object.keys(coreConfigSchema.shape))
    keys.push({ env: `GRIDHUB_${toEnv(key)}`, path: [key] });
  for (const [section, schema] of Object.entries(SECTIONS)) {
    for (const key of Object.keys(objectShape(schema) ?? {})) {
      keys.push({ env: `GRIDHUB_${toEnv(section)}_${toEnv(key)}`, path: [section, key] });
    }
  }
  return keys;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const p of path.slice(0, -1)) {
    const next = node[p];
    if (typeof next !== 'object' || next === null) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

/** Values that are objects or arrays in the schema may be given in the environment as JSON. */
function envValue(raw: string): unknown {
  const t = raw.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      return raw;
    }
  }
  return raw;
}

/**
 * Load configuration: defaults, then the config file (`GRIDHUB_CONFIG`, or `gridhub.config.yaml`/`.json` in the
 * working directory when present), then `GRIDHUB_*` environment variables. Throws ConfigError naming each bad
 * key, its environment variable and what is allowed.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];
  let fileValues: Record<string, unknown> = {};
  const explicit = env.GRIDHUB_CONFIG;
  const candidates = explicit
    ? [resolve(cwd, explicit)]
    : ['gridhub.config.yaml', 'gridhub.config.yml', 'gridhub.config.json'].map((f) => resolve(cwd, f));
  const file = candidates.find((f) => existsSync(f));
  if (explicit && !file) problems.push(`GRIDHUB_CONFIG: file ${explicit} does not exist`);
  if (file) {
    try {
      const parsed: unknown = parseYaml(readFileSync(file, 'utf8'));
      if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
        problems.push(`${file}: expected a mapping of settings at the top level`);
      } else fileValues = (parsed as Record<string, unknown> | null) ?? {};
    } catch (err) {
      problems.push(`${file}: cannot be parsed: ${(err as Error).message}`);
    }
  }
  const merged = structuredClone(fileValues);
  const envByPath = new Map<string, string>();
  for (const { env: name, path } of environmentKeys()) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(merged, path, envValue(raw));
    envByPath.set(path.join('.'), name);
  }
  if (problems.length) throw new ConfigError(problems);

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.join('.');
      const top = issue.path.slice(0, 2).join('.');
      const envName = envByPath.get(key) ?? envByPath.get(top);
      const where = envName ? `${key} (from ${envName})` : `${key}${file ? ` (in ${file})` : ''}`;
      problems.push(`${where || '(root)'}: ${describeIssue(issue)}`);
    }
    throw new ConfigError(problems);
  }
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `${issue.message}`;
  if (issue.code === 'unrecognized_keys') return `unknown setting(s) ${issue.keys.join(', ')}`;
  return issue.message;
}
