import { z } from 'zod';
import { DEFAULT_PUSH_SERVICES } from '../channels/endpoints.ts';
import { MESSAGE_LANGS } from '../domain/alarm.ts';
import { PERSON_ROLES } from '../domain/records.ts';
import { duration, int } from '../settings/fields.ts';

/**
 * SLA allowances per severity (design §1): acknowledge, on site, resolve; `null` = no such clock (minor alerts
 * have no on-site clock). `reportIn` is the department's 报到 allowance after a whistle.
 */
const allowanceSchema = z.object({
  acknowledgeMs: z.number().int().positive(),
  arriveMs: z.number().int().positive().nullable(),
  resolveMs: z.number().int().positive(),
  reportInMs: z.number().int().positive(),
});
export type SlaAllowance = z.output<typeof allowanceSchema>;

const MIN = 60_000;
const HOUR = 60 * MIN;

export const DEFAULT_SLA = {
  critical: { acknowledgeMs: 1 * MIN, arriveMs: 15 * MIN, resolveMs: 60 * MIN, reportInMs: 10 * MIN },
  major: { acknowledgeMs: 5 * MIN, arriveMs: 60 * MIN, resolveMs: 24 * HOUR, reportInMs: 30 * MIN },
  minor: { acknowledgeMs: 30 * MIN, arriveMs: null, resolveMs: 72 * HOUR, reportInMs: 4 * HOUR },
} satisfies Record<string, SlaAllowance>;

/** Which milestone must have been reached by `afterMs` from the alert's clock start for a step not to fire. */
export const MILESTONES = ['acknowledged', 'on_site', 'resolved'] as const;
export type Milestone = (typeof MILESTONES)[number];

const roleSchema = z.enum(PERSON_ROLES);

/**
 * One rung of an escalation ladder. Step 0 (no `when`) is the dispatch itself. A later step fires at the first of
 * its conditions that holds: `{ unless: 'acknowledged', afterMs: 60000 }` = "if not acknowledged within 1 min".
 * `reach` says how far up the grid the step takes the alert (for the in-grid resolution KPI).
 */
const stepSchema = z.object({
  roles: z.array(roleSchema).min(1),
  reach: z.enum(['grid', 'community', 'street']),
  when: z.array(z.object({ unless: z.enum(MILESTONES), afterMs: z.number().int().min(0) })).default([]),
});
export type LadderStep = z.output<typeof stepSchema>;
const ladderSchema = z.array(stepSchema).min(1);
export type Ladder = z.output<typeof ladderSchema>;

export const DEFAULT_LADDERS = {
  // design §6: grid worker + property duty at once; grid leader if not acknowledged in 1 min; community duty at
  // 5 min or when not on site at 15 min; street command centre when unresolved at 60 min.
  critical: [
    // The building head (楼栋长, of "1+3+N") lives next door: the nearest help for a fire or a fall.
    { roles: ['grid_worker', 'property_duty', 'building_head'], reach: 'grid', when: [] },
    { roles: ['grid_leader'], reach: 'grid', when: [{ unless: 'acknowledged', afterMs: 1 * MIN }] },
    {
      roles: ['community_duty'],
      reach: 'community',
      when: [
        { unless: 'acknowledged', afterMs: 5 * MIN },
        { unless: 'on_site', afterMs: 15 * MIN },
      ],
    },
    { roles: ['street_command'], reach: 'street', when: [{ unless: 'resolved', afterMs: 60 * MIN }] },
  ],
  // Same shape stretched to the major SLA: leader at the acknowledge allowance, community when far past it
  // or not on site within the hour, street when the day's resolve allowance is gone.
  major: [
    { roles: ['grid_worker', 'property_duty'], reach: 'grid', when: [] },
    { roles: ['grid_leader'], reach: 'grid', when: [{ unless: 'acknowledged', afterMs: 5 * MIN }] },
    {
      roles: ['community_duty'],
      reach: 'community',
      when: [
        { unless: 'acknowledged', afterMs: 30 * MIN },
        { unless: 'on_site', afterMs: 60 * MIN },
      ],
    },
    { roles: ['street_command'], reach: 'street', when: [{ unless: 'resolved', afterMs: 24 * HOUR }] },
  ],
  // Minor matters stay in the grid unless they rot: leader at 30 min, community when unresolved at 72 h.
  minor: [
    { roles: ['grid_worker'], reach: 'grid', when: [] },
    { roles: ['grid_leader'], reach: 'grid', when: [{ unless: 'acknowledged', afterMs: 30 * MIN }] },
    { roles: ['community_duty'], reach: 'community', when: [{ unless: 'resolved', afterMs: 72 * HOUR }] },
  ],
} satisfies Record<string, z.input<typeof ladderSchema>>;

/** `alerts` section: env GRIDHUB_ALERTS_<KEY>; `sla` and `ladders` accept JSON in the environment. */
export const alertsConfigSchema = z.object({
  /** Time zone of duty shifts (IANA name, resolved through Intl). */
  timeZone: z
    .string()
    .default('Asia/Shanghai')
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'unknown time zone'),
  /** Alerts of one category in one building within this window form one incident. */
  incidentWindowMs: duration(10 * MIN),
  /** A raise of (rule, device) this soon after its alert was resolved reopens that alert. */
  reopenWindowMs: duration(30 * MIN),
  /** After false-alarm / device-fault, repeats of that (rule, device) are suppressed this long. */
  suppressAfterFalseAlarmMs: duration(60 * MIN),
  /** Lifetime of the resident's one-time rating link. */
  ratingTokenTtlMs: duration(7 * 24 * HOUR),
  /** Outbox retries: first back-off, doubling up to the cap; after maxAttempts the delivery is given up. */
  retryBaseMs: duration(1000),
  retryMaxMs: duration(5 * MIN),
  maxAttempts: int(12, 1, 1000),
  /** Delivered (or given-up) outbox rows are deleted after this; the alert timeline keeps each receipt. */
  outboxRetentionMs: duration(7 * 24 * HOUR),
  /** A single delivery attempt taking longer than this counts as failed (per channel: `laneTimeoutsMs`). */
  deliveryTimeoutMs: duration(10_000),
  /**
   * Delivery lanes: every channel and target (one robot, one worker's phone) is a lane of its own, so a slow or
   * hanging target delays only its own messages. Deliveries in flight at once per lane; when more than one, one
   * of them is kept for critical messages (with 2, the others go one at a time, in order, and a critical one
   * can always pass them).
   */
  laneConcurrency: int(2, 1, 64),
  /** Timeout of one attempt per channel (ms), e.g. `{"mqtt":5000,"wecom":8000}`; others use deliveryTimeoutMs. */
  laneTimeoutsMs: z.record(z.string(), z.number().int().positive()).default({ mqtt: 5000 }),
  /**
   * An outbox row being delivered is claimed by this hub (its name and a lease); a claim whose lease ran out (its
   * hub died) is taken over. The lease is at least twice the lane's timeout.
   */
  claimLeaseMs: duration(60_000),
  /** Name of this hub on the outbox rows it claims (default: the host name); unique per hub sharing a database. */
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'letters, digits, ., :, - and _ only')
    .optional(),
  /** Bytes a live-stream (SSE) connection may fall behind before it is cut off; the page reconnects. */
  streamMaxBufferedBytes: int(512 * 1024, 4096, 64 * 1024 * 1024),
  /** Back-off jitter: each wait is scaled by a random factor in [1 - jitter, 1 + jitter] so retries spread out. */
  retryJitter: z.coerce.number().min(0).max(1).default(0.2),
  /** Non-critical alarms wait this long for company: two or more to one recipient go out as one digest. */
  digestWaitMs: duration(5000),
  /**
   * In the worker app (MQTT, Web Push), a digest sent this recently to the same recipient is updated (same id, next
   * version). Channels that cannot edit a message follow `messages.robotWindowMs` instead.
   */
  digestUpdateWindowMs: duration(30 * MIN),
  /** Items listed in one digest message (the count covers all of them). */
  digestMaxItems: int(50, 1, 1000),
  /** Must-reach ladder of critical alerts: the next rung goes out when this passes without acknowledgement. */
  mustReachStepMs: duration(30_000),
  /** Attempts of a must-reach delivery before it is dead and the ladder moves on at once. */
  mustReachMaxAttempts: int(3, 1, 100),
  /** Rate limits per target of a channel (messages a minute to each robot); a channel not named is not limited. */
  rateLimits: z
    .record(z.string(), z.object({ perMinute: z.number().positive() }))
    .default({ wecom: { perMinute: 20 }, dingtalk: { perMinute: 20 }, feishu: { perMinute: 100 } }),
  /**
   * Named webhook endpoints, referred to by targets of the `webhook`, `wecom`, `dingtalk` and `feishu` channels
   * (only by name: the hub sends nowhere an admin did not configure here). `secret` signs: DingTalk and Feishu as they specify, plain JSON with
   * X-GridHub-Signature. Env: GRIDHUB_ALERTS_WEBHOOKS='{"g1-robot":{"url":"https://…","secret":"SEC…"}}'.
   */
  webhooks: z
    .record(
      z.string(),
      z.object({ url: z.url({ protocol: /^https?$/ }), secret: z.string().min(1).optional() }),
    )
    .default({}),
  /** The SMS/voice gateway (webhook); channels `sms` and `voice` exist only when it is set. */
  smsGatewayUrl: z.url({ protocol: /^https?$/ }).optional(),
  smsGatewaySecret: z.string().min(1).optional(),
  /** VAPID subject of Web Push (mailto: or https:). */
  webPushSubject: z
    .string()
    .regex(/^(mailto:|https:)/)
    .default('mailto:ops@gridhub.invalid'),
  webPushTtlSeconds: int(3600, 0, 2_419_200),
  /** What messages to people say and where they point. */
  messages: z
    .object({
      /** Language of messages to groups and to people without a user account (a user's locale wins). */
      language: z.enum(MESSAGE_LANGS).default('zh-CN'),
      /** The hub's address as phones reach it: links in messages (default: the address the hub listens on). */
      publicUrl: z.url({ protocol: /^https?$/ }).optional(),
      /** The approved SMS signature, shown as 【…】 before every SMS. */
      smsSignName: z.string().min(2).max(20).default('智慧社区'),
      /** Longest SMS in segments (70 characters in one, 67 per segment of a long one). */
      smsMaxSegments: int(2, 1, 8),
      /** Provider template codes by kind and language, when they differ from the defaults. */
      smsTemplateCodes: z.record(z.string(), z.string().min(1)).default({}),
      /**
       * Group robots cannot edit a sent message: per robot, non-critical alarms within this window after a message
       * go out together as one summary at its end, never as a growing series of updates.
       */
      robotWindowMs: duration(60_000),
      /** When the ladder reaches the grid leader: call (voice) every grid leader of the place, on shift or not. */
      leaderCall: z
        .object({
          critical: z.boolean().default(true),
          major: z.boolean().default(false),
          minor: z.boolean().default(false),
        })
        .prefault({}),
      /** After resolve, text the resident (else the family) the link to the rating page. */
      ratingSms: z.boolean().default(true),
    })
    .prefault({}),
  /** Hosts Web Push endpoints may be on (`*.` = any subdomain); a subscription elsewhere is refused. */
  webPushServices: z.array(z.string().min(1)).default([...DEFAULT_PUSH_SERVICES]),
  /** Who is called when a whistled department misses its report-in allowance. */
  reportInEscalationRoles: z.array(roleSchema).default(['community_duty']),
  sla: z
    .object({
      critical: allowanceSchema.default(DEFAULT_SLA.critical),
      major: allowanceSchema.default(DEFAULT_SLA.major),
      minor: allowanceSchema.default(DEFAULT_SLA.minor),
    })
    .prefault({}),
  ladders: z
    .object({
      critical: ladderSchema.default(DEFAULT_LADDERS.critical),
      major: ladderSchema.default(DEFAULT_LADDERS.major),
      minor: ladderSchema.default(DEFAULT_LADDERS.minor),
    })
    .prefault({}),
});

export type AlertsConfig = z.output<typeof alertsConfigSchema>;
