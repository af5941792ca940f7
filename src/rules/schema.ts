import { z } from 'zod';
import { SEVERITIES } from '../domain/severity.ts';
import { parseDuration } from '../settings/fields.ts';

/**
 * A rule as data (design §4). The envelope is checked here with zod; the condition trees and templates are
 * checked by `compileRule` against the catalogue, so that every refusal names the rule and the exact field.
 *
 * Durations are milliseconds or strings such as `90s`, `10m`, `4h`, `2d`.
 */
export const RULE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const durationSchema = z.union([
  z.number().int().min(0),
  z
    .string()
    .regex(/^\d+(ms|s|m|h|d)?$/, 'expected milliseconds or a number followed by ms, s, m, h or d')
    .transform(parseDuration),
]);

const scalar = z.union([z.number(), z.boolean(), z.string()]);
const templateMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.string().max(500));

export const FACTS = ['cancelled_by_resident'] as const;

export const ruleSchema = z.strictObject({
  id: z.string().regex(RULE_ID_PATTERN, 'expected lower-case letters, digits, - or _ (at most 64)'),
  name: z.string().min(1).max(200),
  /** The rule's own revision; bump it when changing the rule. */
  version: z.number().int().min(1).default(1),
  enabled: z.boolean().default(true),
  description: z.string().max(2000).optional(),
  match: z
    .strictObject({
      /** Device types the rule applies to; omitted = every type the condition can speak about. */
      deviceTypes: z.array(z.string()).min(1).optional(),
      /** Only life-safety types (catalogue `safety: true`) when true, only the others when false. */
      safety: z.boolean().optional(),
      /** Only devices installed at or under this place (any level of the grid tree). */
      placeId: z.string().min(1).max(128).optional(),
    })
    .prefault({}),
  /** Per-reading condition (structured data; see conditions.ts). Exactly one of condition / absence. */
  condition: z.unknown().optional(),
  /** The condition must hold continuously this long before the rule raises. */
  for: durationSchema.optional(),
  /** Fires when the device has sent nothing for `after`, or for `heartbeats` × its catalogue heartbeat. */
  absence: z
    .strictObject({
      heartbeats: z.number().positive().optional(),
      after: durationSchema.optional(),
    })
    .optional(),
  /**
   * How a raised alert clears. `when` defaults to "the condition is false"; give a separate condition for
   * hysteresis. With `within`, only a clear that comes within that time of the raise counts (`resolution`);
   * a later one is handled as `late` says.
   */
  clear: z
    .strictObject({
      when: z.unknown().optional(),
      within: durationSchema.optional(),
      resolution: z.enum(['auto', 'prevented']).default('auto'),
      note: z.string().max(500).default('condition cleared'),
      late: z.enum(['update', 'clear', 'ignore']).default('update'),
    })
    .optional(),
  raise: z
    .strictObject({
      severity: z.enum(SEVERITIES),
      /** Stable code the UI localises (see categories.ts). */
      category: z
        .string()
        .regex(/^[a-z][a-z0-9_]{0,63}$/, 'expected a lower-case code such as fire or bin_full'),
      title: z.string().min(1).max(200),
      detail: z.string().max(1000).default(''),
      dedup: z.enum(['per-device', 'per-occurrence']).default('per-device'),
      evidence: templateMap.optional(),
    })
    .optional(),
  /** Sent while the alert is raised and the condition holds again (e.g. the bin is fuller still). */
  update: z
    .strictObject({
      detail: z.string().max(1000).optional(),
      severity: z.enum(SEVERITIES).optional(),
      evidence: templateMap.optional(),
    })
    .optional(),
  /** Facts recorded on the alert this rule raised for the device, e.g. the resident cancelled the call. */
  facts: z
    .array(
      z.strictObject({
        when: z.unknown(),
        fact: z.enum(FACTS),
        note: z.string().max(500).default(''),
        within: durationSchema.optional(),
      }),
    )
    .optional(),
  /** Notes added (as updates) to the alert this rule raised for the device, e.g. the sensor stopped sounding. */
  notes: z
    .array(
      z.strictObject({
        when: z.unknown(),
        detail: z.string().min(1).max(1000),
        within: durationSchema.optional(),
      }),
    )
    .optional(),
  /** Derived fields added to readings on which the condition holds, before they go to the telemetry sink. */
  write: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), scalar).optional(),
});

/** A rule as written in a file or sent to the API (defaults not yet applied). */
export type RuleInput = z.input<typeof ruleSchema>;
/** A validated rule, defaults applied, durations in ms. */
export type Rule = z.output<typeof ruleSchema>;

/**
 * JSON form of a rule as users write it (durations may be strings). Used for the API schemas, where the
 * condition tree is free-form JSON that `compileRule` checks.
 */
export const ruleInputJsonSchema = z.looseObject({
  id: z.string().optional(),
  name: z.string().optional(),
});
