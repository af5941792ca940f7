import type { FieldValue } from '../domain/reading.ts';

/**
 * `{{name}}` substitution, nothing more: no expressions, no helpers, no code. A name is a field of the reading
 * (`{{fill}}`, `{{confidence}}`) or one of the namespaced values below. Unknown or missing values render as
 * an empty string. A part in `[[ … ]]` is optional: it is left out, brackets and all, when a value it names is
 * missing — so one detail template serves a telemetry reading and an event that carries none of those fields.
 */
export const TEMPLATE_NAMESPACES = {
  device: ['id', 'type', 'floor'],
  place: ['id', 'street', 'community', 'grid', 'estate', 'building', 'unit'],
  rule: ['id', 'name'],
  reading: ['event', 'ts', 'kind'],
  absence: ['lastSeen', 'silentMinutes'],
  alert: ['raisedAt', 'minutes'],
} as const;

export type TemplateLookup = (name: string) => FieldValue | null | undefined;

type Part = string | { name: string } | { optional: Part[] };

export interface CompiledTemplate {
  readonly source: string;
  /** The one name when the template is exactly `{{name}}` (evidence keeps the value's type then). */
  readonly single: string | undefined;
  render(lookup: TemplateLookup): string;
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

export class TemplateError extends Error {}

const OPTIONAL = /\[\[(.*?)\]\]/g;

export function compileTemplate(source: string): CompiledTemplate {
  const parts: Part[] = [];
  let last = 0;
  for (const m of source.matchAll(OPTIONAL)) {
    if (m.index > last) parts.push(...compileParts(source.slice(last, m.index)));
    parts.push({ optional: compileParts(m[1] as string) });
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push(...compileParts(source.slice(last)));
  const first = parts[0];
  const single = parts.length === 1 && typeof first === 'object' && 'name' in first ? first.name : undefined;
  return {
    source,
    single,
    render: (lookup) => renderParts(parts, lookup) ?? '',
  };
}

/** The text, or undefined when an optional part names a missing value (so its caller leaves it out). */
function renderParts(parts: readonly Part[], lookup: TemplateLookup, optional = false): string | undefined {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else if ('optional' in p) out += renderParts(p.optional, lookup, true) ?? '';
    else {
      const v = lookup(p.name);
      if (v !== undefined && v !== null && v !== '') out += String(v);
      else if (optional) return undefined;
    }
  }
  return out;
}

function compileParts(source: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of source.matchAll(PLACEHOLDER)) {
    const name = m[1] as string;
    if (!NAME.test(name)) throw new TemplateError(`{{${name}}} is not a field name`);
    const dot = name.indexOf('.');
    if (dot > 0) {
      const ns = name.slice(0, dot) as keyof typeof TEMPLATE_NAMESPACES;
      const key = name.slice(dot + 1);
      const keys: readonly string[] | undefined = Object.hasOwn(TEMPLATE_NAMESPACES, ns)
        ? TEMPLATE_NAMESPACES[ns]
        : undefined;
      if (!keys) {
        throw new TemplateError(
          `{{${name}}}: unknown namespace ${ns} (known: ${Object.keys(TEMPLATE_NAMESPACES).join(', ')})`,
        );
      }
      if (!keys.includes(key)) throw new TemplateError(`{{${name}}}: ${ns} has ${keys.join(', ')}`);
    }
    if (m.index > last) parts.push(source.slice(last, m.index));
    parts.push({ name });
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  return parts;
}
