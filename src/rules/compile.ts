import type { z } from 'zod';
import type { Catalogue, CompiledEntry, DeviceTypeId } from '../catalogue/catalogue.ts';
import { GridHubError } from '../domain/errors.ts';
import type { Severity } from '../domain/severity.ts';
import {
  type CompiledCondition,
  ConditionError,
  type ConditionRefs,
  compileCondition,
  newCompileOptions,
} from './conditions.ts';
import { checkRuleShape } from './limits.ts';
import { type Rule, ruleSchema } from './schema.ts';
import { type CompiledTemplate, compileTemplate, TemplateError } from './templates.ts';

export interface RuleStats {
  evaluations: number;
  matches: number;
  errors: number;
  /** Estimated evaluation time (sampled), nanoseconds. */
  nanos: number;
}

export interface CompiledRule {
  readonly id: string;
  readonly rule: Rule;
  /** The rule as given (durations as written), for files and the API. */
  readonly input: unknown;
  readonly types: ReadonlySet<DeviceTypeId>;
  readonly placeId: string | undefined;
  readonly condition: CompiledCondition | undefined;
  readonly forMs: number;
  /** Silence allowed per device type, for absence rules. */
  readonly absenceMs: ReadonlyMap<DeviceTypeId, number> | undefined;
  readonly clear:
    | {
        when: CompiledCondition | undefined;
        withinMs: number | undefined;
        resolution: 'auto' | 'prevented';
        note: CompiledTemplate;
        late: 'update' | 'clear' | 'ignore';
      }
    | undefined;
  readonly raise:
    | {
        severity: Severity;
        category: string;
        title: CompiledTemplate;
        detail: CompiledTemplate;
        dedup: 'per-device' | 'per-occurrence';
        evidence: [string, CompiledTemplate][];
      }
    | undefined;
  readonly update:
    | {
        detail: CompiledTemplate | undefined;
        severity: Severity | undefined;
        evidence: [string, CompiledTemplate][];
      }
    | undefined;
  readonly facts: {
    when: CompiledCondition;
    fact: 'cancelled_by_resident';
    note: CompiledTemplate;
    withinMs: number | undefined;
  }[];
  readonly notes: { when: CompiledCondition; detail: CompiledTemplate; withinMs: number | undefined }[];
  readonly write: [string, number | boolean | string | CompiledTemplate][];
  /** Changes when the condition tree changes: operator memory of an older tree is dropped. */
  readonly fingerprint: string;
  /** Longest duration the rule looks at (for, windows, absence), for the test sandbox. */
  readonly horizonMs: number;
  readonly stats: RuleStats;
}

const has = (o: object, k: string) => Object.hasOwn(o, k);

function invalid(ruleId: string, field: string, why: string): GridHubError {
  return new GridHubError('RULE_INVALID', `rule ${ruleId}: ${field}: ${why}`, { field });
}

function zodPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** Parse the envelope; the error names the rule (when its id is readable) and the first bad field. */
export function parseRule(input: unknown, fallbackId = '(unnamed)'): Rule {
  const shape = checkRuleShape(input);
  if (shape) {
    const raw = input as { id?: unknown } | null;
    const id = typeof raw?.id === 'string' && raw.id.length <= 64 ? raw.id : fallbackId;
    throw invalid(id, shape.field, shape.why);
  }
  const r = ruleSchema.safeParse(input);
  if (r.success) return r.data;
  const raw = input as { id?: unknown } | null;
  const id = typeof raw?.id === 'string' && raw.id ? raw.id : fallbackId;
  const issue = r.error.issues[0] as z.core.$ZodIssue;
  const field = zodPath(issue.path) || '(root)';
  const why =
    issue.code === 'unrecognized_keys'
      ? `unknown key(s) ${issue.keys.join(', ')}`
      : (issue.message as string);
  throw invalid(id, field, why);
}

/**
 * Validate a rule fully (envelope, conditions, templates, references against the catalogue) and compile it
 * into closures. Throws GridHubError('RULE_INVALID') naming the rule and the field.
 */
export function compileRule(input: unknown, catalogue: Catalogue, fallbackId?: string): CompiledRule {
  const rule = parseRule(input, fallbackId);
  const id = rule.id;
  const opts = newCompileOptions();

  const cond = (node: unknown, path: string): CompiledCondition => {
    try {
      return compileCondition(node, path, opts);
    } catch (err) {
      if (err instanceof ConditionError) throw invalid(id, err.path, err.message);
      throw err;
    }
  };
  const tpl = (source: string, path: string): CompiledTemplate => {
    try {
      return compileTemplate(source);
    } catch (err) {
      if (err instanceof TemplateError) throw invalid(id, path, err.message);
      throw err;
    }
  };

  if ((rule.condition === undefined) === (rule.absence === undefined)) {
    throw invalid(id, 'condition', 'a rule needs exactly one of condition or absence');
  }
  if (rule.absence) {
    const { heartbeats, after } = rule.absence;
    if ((heartbeats === undefined) === (after === undefined)) {
      throw invalid(id, 'absence', 'give exactly one of heartbeats or after');
    }
    if (after !== undefined && after <= 0) throw invalid(id, 'absence.after', 'must be longer than 0');
    if (rule.for !== undefined) throw invalid(id, 'for', 'does not apply to absence rules');
    if (rule.clear) throw invalid(id, 'clear', 'absence rules clear when the device speaks again');
    if (!rule.raise) throw invalid(id, 'raise', 'an absence rule must raise an alert');
  }
  if (!rule.raise && !rule.write && !rule.facts?.length) {
    throw invalid(id, 'raise', 'the rule has no output (raise, facts or write)');
  }
  if (rule.clear && !rule.raise) throw invalid(id, 'clear', 'only a rule that raises can clear');
  if (rule.update && !rule.raise) throw invalid(id, 'update', 'only a rule that raises can update');
  if (rule.facts?.length && !rule.raise)
    throw invalid(id, 'facts', 'only a rule that raises can record facts');
  if (rule.clear?.within !== undefined && rule.clear.within <= 0) {
    throw invalid(id, 'clear.within', 'must be longer than 0');
  }

  const condition = rule.condition === undefined ? undefined : cond(rule.condition, 'condition');
  // Only the main condition's references decide which types a rule without deviceTypes applies to.
  const mainRefs: ConditionRefs = { fields: [...opts.refs.fields], events: [...opts.refs.events] };
  const clearWhen = rule.clear?.when === undefined ? undefined : cond(rule.clear.when, 'clear.when');
  const facts = (rule.facts ?? []).map((f, i) => ({
    when: cond(f.when, `facts[${i}].when`),
    fact: f.fact,
    note: tpl(f.note, `facts[${i}].note`),
    withinMs: f.within,
  }));

  const notes = (rule.notes ?? []).map((n, i) => ({
    when: cond(n.when, `notes[${i}].when`),
    detail: tpl(n.detail, `notes[${i}].detail`),
    withinMs: n.within,
  }));

  // Device types: the listed ones (each must exist), or every type the main condition can speak about.
  const entries: CompiledEntry[] = [];
  if (rule.match.deviceTypes) {
    rule.match.deviceTypes.forEach((t, i) => {
      if (!catalogue.has(t)) {
        throw invalid(
          id,
          `match.deviceTypes[${i}]`,
          `unknown device type ${t} (known: ${catalogue
            .all()
            .map((e) => e.id)
            .join(', ')})`,
        );
      }
      entries.push(catalogue.get(t));
    });
  } else {
    entries.push(...catalogue.all());
  }
  let candidates = entries;
  if (rule.match.safety !== undefined) candidates = candidates.filter((e) => e.safety === rule.match.safety);
  if (candidates.length === 0) throw invalid(id, 'match', 'no device type matches');

  const speaksAbout = (e: CompiledEntry, refs: ConditionRefs) =>
    refs.fields.some(
      (f) => has(e.telemetry, f.name) || Object.values(e.events).some((ev) => has(ev.data, f.name)),
    ) || refs.events.some((ev) => has(e.events, ev.name));
  const allRefs = opts.refs;
  // Every reference must exist in at least one candidate type: catches typos such as `fil` for `fill`.
  for (const f of allRefs.fields) {
    const spec = candidates
      .map((e) =>
        has(e.telemetry, f.name)
          ? e.telemetry[f.name]
          : Object.values(e.events).find((ev) => has(ev.data, f.name))?.data[f.name],
      )
      .find((s) => s !== undefined);
    if (!spec) {
      throw invalid(
        id,
        f.path,
        `${f.name} is not a telemetry or event field of ${candidates.map((e) => e.id).join(', ')}`,
      );
    }
    if (f.numeric && spec.kind !== 'number') {
      throw invalid(id, f.path, `${f.name} is a ${spec.kind} field, not a number`);
    }
  }
  for (const ev of allRefs.events) {
    if (!candidates.some((e) => has(e.events, ev.name))) {
      throw invalid(id, ev.path, `${ev.name} is not an event of ${candidates.map((e) => e.id).join(', ')}`);
    }
  }
  if (!rule.match.deviceTypes && condition) {
    candidates = candidates.filter((e) => speaksAbout(e, mainRefs));
    if (candidates.length === 0) throw invalid(id, 'condition', 'refers to nothing any device type sends');
  }

  let absenceMs: Map<DeviceTypeId, number> | undefined;
  if (rule.absence) {
    absenceMs = new Map();
    for (const e of candidates) {
      const ms = rule.absence.after ?? Math.round((rule.absence.heartbeats as number) * e.heartbeatMs);
      absenceMs.set(e.id, ms);
    }
  }

  const raise = rule.raise && {
    severity: rule.raise.severity,
    category: rule.raise.category,
    title: tpl(rule.raise.title, 'raise.title'),
    detail: tpl(rule.raise.detail, 'raise.detail'),
    dedup: rule.raise.dedup,
    evidence: Object.entries(rule.raise.evidence ?? {}).map(
      ([k, v]) => [k, tpl(v, `raise.evidence.${k}`)] as [string, CompiledTemplate],
    ),
  };
  const update = rule.update && {
    detail: rule.update.detail === undefined ? undefined : tpl(rule.update.detail, 'update.detail'),
    severity: rule.update.severity,
    evidence: Object.entries(rule.update.evidence ?? {}).map(
      ([k, v]) => [k, tpl(v, `update.evidence.${k}`)] as [string, CompiledTemplate],
    ),
  };
  const clear = rule.clear && {
    when: clearWhen,
    withinMs: rule.clear.within,
    resolution: rule.clear.resolution,
    note: tpl(rule.clear.note, 'clear.note'),
    late: rule.clear.late,
  };
  const write = Object.entries(rule.write ?? {}).map(
    ([k, v]) =>
      [k, typeof v === 'string' ? tpl(v, `write.${k}`) : v] as [
        string,
        number | boolean | string | CompiledTemplate,
      ],
  );
  const horizonMs = Math.max(
    rule.for ?? 0,
    opts.maxWindowMs.value,
    rule.clear?.within ?? 0,
    ...(absenceMs ? [...absenceMs.values()] : [0]),
  );

  return {
    id,
    rule,
    input,
    types: new Set(candidates.map((e) => e.id)),
    placeId: rule.match.placeId,
    condition,
    forMs: rule.for ?? 0,
    absenceMs,
    clear,
    raise,
    update,
    facts,
    notes,
    write,
    fingerprint: JSON.stringify([
      rule.condition ?? null,
      rule.clear?.when ?? null,
      rule.facts ?? null,
      rule.notes ?? null,
    ]),
    horizonMs,
    stats: { evaluations: 0, matches: 0, errors: 0, nanos: 0 },
  };
}
