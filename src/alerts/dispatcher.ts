/**
 * The dispatcher: takes the rules' decisions, keeps alerts and their timelines in SQLite, routes them to the
 * people on duty, escalates, and delivers through the outbox. This file wires the parts; each part owns one job:
 * store (views, transactions, timeline), lifecycle (rule results), actions (what people do), routing (who hears),
 * escalation (ladder timers), must-reach (critical ladder), noise (quiet hours, digests), outbox (delivery),
 * reads and maintenance.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type AlertStream, type Channel, mqttChannel } from '../channels/channel.ts';
import { createOutboundPolicy, type OutboundPolicy } from '../channels/endpoints.ts';
import { gatewayChannel } from '../channels/gateway.ts';
import { createAlertStream } from '../channels/stream.ts';
import { smsSettings } from '../channels/templates/index.ts';
import { WEBHOOK_FORMATS, webhookChannel } from '../channels/webhook.ts';
import { createPushStore, type PushStore, webPushChannel } from '../channels/webpush.ts';
import type { Clock } from '../clock/clock.ts';
import type { EventBus } from '../domain/events.ts';
import type { TelemetrySink, WorkerPublisher } from '../domain/ports.ts';
import type { RuleResult } from '../domain/rule-result.ts';
import type { PeopleStore } from '../registry/people.ts';
import { migrateModuleSync } from '../storage/migrations.ts';
import type { Db } from '../storage/sqlite.ts';
import { sqliteStore } from '../storage/sqlite-kysely.ts';
import { createActions, type Rating, type RatingLinkInfo } from './actions.ts';
import type { AlertsConfig } from './config.ts';
import type { AlertsContext, PlaceNames } from './context.ts';
import { createEscalation } from './escalation.ts';
import type { KpiFilter, KpiReport } from './kpis.ts';
import { laneTimeoutOf } from './lanes.ts';
import { createLifecycle } from './lifecycle.ts';
import { createMaintenance, type Maintenance } from './maintenance.ts';
import { createAlertsMetrics } from './metrics.ts';
import { createMustReach, PHONE_CHANNELS } from './must-reach.ts';
import { createNoiseControl } from './noise.ts';
import { createOutbox } from './outbox.ts';
import { OUTBOX_MIGRATIONS } from './outbox-schema.ts';
import { createPayloads } from './payloads.ts';
import { prepareQueries } from './queries.ts';
import { createReads } from './reads.ts';
import { createRouting } from './routing.ts';
import { ALERTS_MIGRATIONS } from './schema.ts';
import { createAlertStore } from './store.ts';
import {
  type AuditLog,
  type ChannelTargetStore,
  createAuditLog,
  createChannelTargetStore,
  createQuietHoursStore,
  createResidentStore,
  type QuietHoursStore,
  type ResidentStore,
} from './stores.ts';
import type { AlertFilter, AlertScope, AlertView, IncidentView, Resolution, TimelineEvent } from './types.ts';
import type { DeliveryView } from './views.ts';

export type { PlaceNames } from './context.ts';
export { MUST_REACH_RUNGS } from './must-reach.ts';
export type { DeliveryView } from './views.ts';

export interface DispatcherDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  metrics: Registry;
  publisher: WorkerPublisher;
  sink: TelemetrySink;
  bus: EventBus;
  config: AlertsConfig;
  places: PlaceNames;
  /** The locale of a person's user account: their messages are written in it (zh-CN when unknown). */
  localeOf?: (personId: string) => string | undefined;
  /** The hub's address for links in messages; `alerts.messages.publicUrl` wins when set. */
  publicUrl?: () => string;
  /** Who serves where and who is on duty: the registry's people store. */
  people: PeopleStore;
  /** Extra outbox channels (webhook, Web Push, SMS …) besides the built-in `mqtt` and `stream`. */
  channels?: Channel[];
}

export interface Dispatcher {
  /** Take a rule's decision. Synchronous; the decision and its deliveries are durable when it returns. */
  handle(result: RuleResult): void;
  /** Load due escalation times and pending deliveries; overdue ones fire at once. */
  start(): void;
  stop(): Promise<void>;
  /** Deliver every outbox row that is due now (the loop does this by itself; tests await it). */
  drain(): Promise<void>;
  registerChannel(channel: Channel): void;

  get(id: string): AlertView | undefined;
  /** Alerts of a scope (default: all), newest first; `total` counts every match. */
  list(filter: AlertFilter, scope?: AlertScope): { total: number; items: AlertView[] };
  timeline(id: string): TimelineEvent[];
  incident(id: string): IncidentView | undefined;
  kpis(filter: KpiFilter, scope?: AlertScope): KpiReport;

  acknowledge(id: string, actor: string): AlertView;
  arrive(id: string, actor: string): AlertView;
  resolve(
    id: string,
    actor: string,
    input: { note: string; resolution?: Resolution },
  ): { alert: AlertView; ratingToken: string };
  rate(id: string, actor: string, input: Rating): AlertView;
  rateByToken(token: string, input: Rating): AlertView;
  /** The rating link's state (open, used, expired, unknown) and what it is about, for the public page. */
  ratingLink(token: string): RatingLinkInfo;
  close(id: string, actor: string, note?: string): AlertView;
  markFalse(
    id: string,
    actor: string,
    input: { kind: 'false_alarm' | 'device_fault'; reason: string; note?: string },
  ): AlertView;
  whistle(id: string, actor: string, input: { department: string; note?: string }): AlertView;
  reportIn(id: string, actor: string, department: string, note?: string): AlertView;

  /** People ids notified of the alert and user names that acted on it: those who may read it unmasked. */
  actors(id: string): { personIds: Set<string>; usernames: Set<string> };
  /** The alert's outbox rows (delivery state per channel and target, targets masked). */
  deliveries(id: string): DeliveryView[];
  maintenance: Maintenance;

  readonly stream: AlertStream;
  readonly people: PeopleStore;
  readonly pushStore: PushStore;
  /** Which targets and push endpoints the hub may send to (admin-configured endpoints only). */
  readonly outbound: OutboundPolicy;
  readonly residents: ResidentStore;
  readonly audit: AuditLog;
  readonly quietHours: QuietHoursStore;
  readonly channelTargets: ChannelTargetStore;
  /** Why a channel target would never deliver (channel not configured, endpoint unknown), else undefined. */
  checkChannelTarget(channel: string, target: string): string | undefined;
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { db, clock, config: cfg } = deps;
  const log = deps.log.child({ module: 'alerts' });
  const schema = sqliteStore(db);
  migrateModuleSync(schema, 'alerts', ALERTS_MIGRATIONS);
  migrateModuleSync(schema, 'alerts.outbox', OUTBOX_MIGRATIONS);
  const { people } = deps;
  const outbound = createOutboundPolicy({
    webhookNames: Object.keys(cfg.webhooks),
    pushServices: cfg.webPushServices,
  });
  // The live stream is fed from the bus, after each commit, never through the outbox.
  const stream = createAlertStream({
    maxBufferedBytes: cfg.streamMaxBufferedBytes,
    metrics: deps.metrics,
    log,
  });
  deps.bus.on('alert.streamed', stream.publish);
  const channels = new Map<string, Channel>();
  const registerChannel = (c: Channel) => channels.set(c.name, c);
  registerChannel(mqttChannel(deps.publisher));
  for (const format of WEBHOOK_FORMATS) {
    registerChannel(
      webhookChannel({ format, endpoints: cfg.webhooks, timeoutMs: laneTimeoutOf(cfg, format) }),
    );
  }
  const pushStore = createPushStore(db, clock);
  registerChannel(
    webPushChannel({
      store: pushStore,
      clock,
      subject: cfg.webPushSubject,
      ttlSeconds: cfg.webPushTtlSeconds,
      timeoutMs: laneTimeoutOf(cfg, 'webpush'),
    }),
  );
  if (cfg.smsGatewayUrl) {
    for (const name of PHONE_CHANNELS) {
      registerChannel(
        gatewayChannel({
          name,
          url: cfg.smsGatewayUrl,
          secret: cfg.smsGatewaySecret,
          timeoutMs: laneTimeoutOf(cfg, name),
          sms: smsSettings({
            signName: cfg.messages.smsSignName,
            maxSegments: cfg.messages.smsMaxSegments,
            codes: cfg.messages.smsTemplateCodes,
          }),
        }),
      );
    }
  }
  for (const c of deps.channels ?? []) registerChannel(c);
  const residents = createResidentStore(db, clock);
  const audit = createAuditLog(db, clock);
  const quietHours = createQuietHoursStore(db, cfg.timeZone);
  const channelTargets = createChannelTargetStore(db);
  const q = prepareQueries(db);
  const localeOf = deps.localeOf ?? (() => undefined);
  const publicUrl = () => cfg.messages.publicUrl ?? deps.publicUrl?.() ?? 'http://127.0.0.1:8080';
  const payloads = createPayloads({ cfg, places: deps.places, localeOf, publicUrl });

  const ctx: AlertsContext = {
    db,
    clock,
    log,
    cfg,
    places: deps.places,
    sink: deps.sink,
    bus: deps.bus,
    q,
    m: createAlertsMetrics(deps.metrics, q),
    channels,
    people,
    residents,
    quietHours,
    channelTargets,
    audit,
    payloads,
    localeOf,
    publicUrl,
    run: { stopped: true },
  };

  // Every committed change re-arms the escalation timers and drains the outbox. The drain waits until the broker
  // has written the worker's alarm: the rows the commit claimed are already on their way (store.ts), aedes hands
  // a message to a subscriber's socket in a setImmediate of its own (client.js deliverQoS) queued after any of
  // ours from this turn, and a pass over every lane before it would only stand in its way. Commits of one turn
  // share one pass.
  let drainQueued = false;
  const store = createAlertStore(ctx, () => {
    escalation.arm();
    if (drainQueued) return;
    drainQueued = true;
    setImmediate(() =>
      setImmediate(() => {
        drainQueued = false;
        void outbox.drain();
      }),
    );
  });
  const { enqueue, tryFold } = createNoiseControl(ctx, store);
  const mustReach = createMustReach(ctx, store, enqueue);
  const { notify, callLeaders } = createRouting(ctx, store, enqueue);
  const escalation = createEscalation(ctx, store, notify, callLeaders);
  const lifecycle = createLifecycle(ctx, store, { notify, escalation, mustReach, enqueue });
  const actions = createActions(ctx, store, { lifecycle, enqueue });
  const outbox = createOutbox(ctx, store, { tryFold, mustReach });
  const reads = createReads(ctx, store);

  return {
    handle(result) {
      try {
        switch (result.kind) {
          case 'raise':
            return lifecycle.raise(result);
          case 'update':
            return lifecycle.update(result);
          case 'clear':
            return lifecycle.clear(result);
          case 'fact':
            return lifecycle.fact(result);
        }
      } catch (err) {
        // Nothing was committed: the caller learns it (a QoS 1 event stays unacknowledged and comes again).
        log.error(
          { err, ruleId: result.ruleId, deviceId: result.deviceId, kind: result.kind },
          'rule result not taken',
        );
        ctx.m.failures.inc();
        throw err;
      }
    },
    start() {
      if (!ctx.run.stopped) return;
      ctx.run.stopped = false;
      outbox.prune();
      // Overdue steps of a hub that was down fire now, before new work; the rest are armed on the clock.
      escalation.resume();
      mustReach.fire();
      void outbox.drain();
      log.info('dispatcher started');
    },
    async stop() {
      ctx.run.stopped = true;
      escalation.cancel();
      mustReach.cancel();
      await outbox.stop();
    },
    drain: outbox.settle,
    registerChannel,
    ...reads,
    ...actions,
    actors: store.actors,
    maintenance: createMaintenance(ctx, store),
    stream,
    people,
    pushStore,
    outbound,
    residents,
    audit,
    quietHours,
    channelTargets,
    checkChannelTarget(channel, target) {
      if (!channels.has(channel)) {
        return `channel ${channel} is not configured on this hub (GRIDHUB_ALERTS_WEBHOOKS for robots and webhooks, GRIDHUB_ALERTS_SMS_GATEWAY_URL for sms and voice)`;
      }
      return outbound.targetProblem(channel, target);
    },
  };
}
