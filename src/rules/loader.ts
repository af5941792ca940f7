import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { Catalogue } from '../catalogue/catalogue.ts';
import { GridHubError } from '../domain/errors.ts';
import { type CompiledRule, compileRule } from './compile.ts';

/**
 * Where rules come from. The default pack (`src/rules/pack/*.yaml`) is always the base; files in the rules
 * folder override a default rule with the same id, add new rules, or disable a default with a stub
 * `{ id: <id>, enabled: false }`. Each file holds one rule, or a list of rules.
 */
export const PACK_DIR = join(dirname(fileURLToPath(import.meta.url)), 'pack');

const RULE_FILE = /\.(ya?ml|json)$/i;

export interface RuleSource {
  input: unknown;
  file: string;
  /** Position in a file that holds a list of rules; undefined for a one-rule file. */
  index: number | undefined;
  origin: 'pack' | 'user';
}

export interface LoadedRule {
  compiled: CompiledRule;
  origin: 'pack' | 'user';
  /** The file that defines the rule in force (the user's file when it overrides a default). */
  file: string;
  /** True when a default rule of the same id exists. */
  hasDefault: boolean;
}

function parseFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new GridHubError(
      'RULE_INVALID',
      `rules file ${basename(file)}: cannot be parsed: ${(err as Error).message}`,
      {
        field: basename(file),
      },
    );
  }
}

/** Read every rule file of `dir`; with `onError`, an unparseable file is reported and skipped, not thrown. */
export function readRuleDir(
  dir: string,
  origin: 'pack' | 'user',
  onError?: (err: unknown, file: string) => void,
): RuleSource[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir)
    .filter((f) => RULE_FILE.test(f) && !f.startsWith('.'))
    .sort();
  const out: RuleSource[] = [];
  for (const f of files) {
    const file = join(dir, f);
    let content: unknown;
    try {
      content = parseFile(file);
    } catch (err) {
      if (!onError) throw err;
      onError(err, file);
      continue;
    }
    if (content === null || content === undefined) continue;
    if (Array.isArray(content)) {
      content.forEach((input, index) => {
        out.push({ input, file, index, origin });
      });
    } else out.push({ input: content, file, index: undefined, origin });
  }
  return out;
}

function isDisableStub(input: unknown): input is { id: string; enabled: boolean } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return false;
  const keys = Object.keys(input);
  return keys.includes('id') && keys.every((k) => k === 'id' || k === 'enabled');
}

function idOf(input: unknown): string | undefined {
  const id = (input as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Compile the pack and the user's files into the rule set in force. All or nothing: the first invalid rule
 * throws GridHubError('RULE_INVALID') naming the file, the rule and the field.
 */
export function buildRuleSet(
  pack: readonly RuleSource[],
  user: readonly RuleSource[],
  catalogue: Catalogue,
): Map<string, LoadedRule> {
  const out = new Map<string, LoadedRule>();
  const compile = (src: RuleSource, input: unknown) => {
    try {
      return compileRule(
        input,
        catalogue,
        `${basename(src.file)}${src.index === undefined ? '' : `[${src.index}]`}`,
      );
    } catch (err) {
      if (err instanceof GridHubError) {
        throw new GridHubError(err.code, `${basename(src.file)}: ${err.message}`, {
          ...(err.field ? { field: err.field } : {}),
        });
      }
      throw err;
    }
  };
  for (const src of pack) {
    const c = compile(src, src.input);
    if (out.has(c.id))
      throw new GridHubError('RULE_INVALID', `rule ${c.id}: id: defined twice in the default pack`, {
        field: 'id',
      });
    out.set(c.id, { compiled: c, origin: 'pack', file: src.file, hasDefault: true });
  }
  const seen = new Set<string>();
  for (const src of user) {
    const id = idOf(src.input);
    if (id !== undefined && seen.has(id)) {
      throw new GridHubError(
        'RULE_INVALID',
        `${basename(src.file)}: rule ${id}: id: defined in more than one file`,
        {
          field: 'id',
        },
      );
    }
    if (id !== undefined) seen.add(id);
    const def = id === undefined ? undefined : out.get(id);
    const input =
      def && def.origin === 'pack' && isDisableStub(src.input)
        ? {
            ...(def.compiled.input as object),
            enabled: (src.input as { enabled?: boolean }).enabled ?? false,
          }
        : src.input;
    const c = compile(src, input);
    out.set(c.id, { compiled: c, origin: 'user', file: src.file, hasDefault: def !== undefined });
  }
  return out;
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  // A dot-file in the same folder: ignored by the loader, renamed into place in one step.
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

function serialise(file: string, content: unknown): string {
  return extname(file).toLowerCase() === '.json'
    ? `${JSON.stringify(content, null, 2)}\n`
    : stringifyYaml(content, { lineWidth: 0 });
}

/** Write `input` as the user's rule `id`, in the file that already holds it or in `<dir>/<id>.yaml`. */
export function writeUserRule(
  dir: string,
  id: string,
  input: unknown,
  current: RuleSource | undefined,
): string {
  if (current && current.origin === 'user') {
    if (current.index === undefined) {
      writeAtomic(current.file, serialise(current.file, input));
      return current.file;
    }
    const list = parseFile(current.file) as unknown[];
    list[current.index] = input;
    writeAtomic(current.file, serialise(current.file, list));
    return current.file;
  }
  // Never overwrite a file that holds other rules (a user may have named files freely).
  let file = join(dir, `${id}.yaml`);
  for (let n = 2; existsSync(file); n++) file = join(dir, `${id}-${n}.yaml`);
  writeAtomic(file, serialise(file, input));
  return file;
}

/** Remove the user's rule `id` from its file (the file goes when it held only that rule). */
export function removeUserRule(current: RuleSource): void {
  if (current.index === undefined) {
    unlinkSync(current.file);
    return;
  }
  const list = (parseFile(current.file) as unknown[]).filter((_, i) => i !== current.index);
  writeAtomic(current.file, serialise(current.file, list));
}
