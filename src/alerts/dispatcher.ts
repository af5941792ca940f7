/**
 * The dispatcher: takes the rules' decisions, keeps alerts and their timelines in the alert store, routes them to
 * the people on duty, escalates, and delivers through the outbox. This file wires the parts, each a factory taking
 * only what it uses: transactions (effects after commit, timeline, views), lifecycle (rule results), actions (what
 * people do), routing (who hears), escalation (ladder timers), must-reach (critical ladder), noise (quiet hours,
 * digests), outbox (delivery), the read side and maintenance. The stores and channels come from the composition
 * root (src/hub.ts); nothing here opens a table or a connection.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AlertStream, Channel } from '../channels/channel.ts';
import type { OutboundPolicy } from '../channels/endpoints.ts';
import type { PushStore } from '../channels/webpush.ts';
import type { Clock } from '../clock/clock.ts';
import type { EventBus } from '../domain/events.ts';
import type { TelemetrySink } from '../domain/ports.ts';
import type { RuleResult } from '../domain/rule-result.ts';
import type { PeopleStore } from '../registry/people.ts';
import { createActions, type Rating, type RatingLinkInfo } from './actions.ts';
import type { DeliveryView } from './api-views.ts';
import type { AuditLog } from './audit-log.ts';
import type { ChannelTargetStore } from './channel-targets.ts';
import type { AlertsConfig } from './config.ts';
import { createEscalation } from './escalation.ts';
import type { KpiFilter, KpiReport } from './kpis.ts';
import { createLifecycle } from './lifecycle.ts';
import { createMaintenance, type Maintenance } from './maintenance.ts';
import { createAlertsMetrics } from './metrics.ts';
import { createMustReach } from './must-reach.ts';
import { createNoiseControl } from './noise.ts';
import { createOutbox } from './outbox.ts';
import { createPayloads } from './payloads.ts';
import type { PlaceNames } from './places.ts';
import type { QuietHoursStore } from './quiet-hours.ts';
import { createReads } from './read-side.ts';
import type { ResidentStore } from './residents.ts';
import { createRouting } from './routing.ts';
import type { AlertStores } from './sqlite-alert-store.ts';
import { createTransactions, type TransactionsDeps } from './transactions.ts';
import type {
  AlertFilter,
  AlertScope,
  AlertView,
  IncidentView,
  Resolution,
  RunState,
  TimelineEvent,
} from './types.ts';

export type { DeliveryView } from './api-views.ts';
export { MUST_REACH_RUNGS } from './must-reach.ts';
export type { PlaceNames } from './places.ts';

export interface DispatcherDeps {
  clock: Clock;
  log: Logger;
  metrics: Registry;
  sink: TelemetrySink;
  bus: EventBus;
  config: AlertsConfig;
  places: PlaceNames;
  /** On a shared database: the announcement of a transaction's stream messages, run inside it (live-relay.ts). */
  announce?: TransactionsDeps['announce'];
  /** The locale of a person's user account: their messages are written in it (zh-CN when unknown). */
  localeOf?: (personId: string) => string | undefined;
  /** The hub's address for links in messages; `alerts.messages.publicUrl` wins when set. */
  publicUrl?: () => string;
  /** Who serves where and who is on duty: the registry's people store. */
  people: PeopleStore;
  /** The dispatcher's own stores on the hub's database (`openSqliteAlertStores`). */
  stores: AlertStores;
  /** Every outbox channel (`deliveryChannels` for those of the config; tests add their own). */
  channels: readonly Channel[];
  /** Which targets the hub may send to (`outboundPolicy`). */
  outbound: OutboundPolicy;
  /** The Web Push subscriptions (the channels' store), for the API. */
  pushStore: PushStore;
  /** The dashboards' live stream: the composition root feeds it from the bus (`alert.streamed`). */
  stream: AlertStream;
}

export interface Dispatcher {
  /**
   * Take a rule's decision: the decision and its deliveries are durable when the promise resolves; it rejects
   * when nothing was committed. Results are taken in the order given (each waits for the store's transactions
   * asked before it), so a caller that awaits each keeps a device's results in order.
   */
  handle(result: RuleResult): Promise<void>;
  /** Load due escalation times and pending deliveries; overdue ones fire at once. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Deliver every outbox row that is due now (the loop does this by itself; tests await it). */
  drain(): Promise<void>;
  registerChannel(channel: Channel): void;
  /**
   * On a shared database, after each lease renewal: take over what instances that died left due. The escalation
   * and must-reach timers are armed again from the store (a step another instance scheduled, sooner than any of
   * this one's, is fired here if its scheduler is gone: taken once, `takeTimer`), and the outbox rows an instance
   * whose lease ran out had claimed are delivered now; answers how many rows.
   */
  takeOver(now: number): Promise<number>;

  get(id: string): Promise<AlertView | undefined>;
  /** Alerts of a scope (default: all), newest first; `total` counts every match. */
  list(filter: AlertFilter, scope?: AlertScope): Promise<{ total: number; items: AlertView[] }>;
  timeline(id: string): Promise<TimelineEvent[]>;
  incident(id: string): Promise<IncidentView | undefined>;
  kpis(filter: KpiFilter, scope?: AlertScope): Promise<KpiReport>;

  acknowledge(id: string, actor: string): Promise<AlertView>;
  arrive(id: string, actor: string): Promise<AlertView>;
  resolve(
    id: string,
    actor: string,
    input: { note: string; resolution?: Resolution },
  ): Promise<{ alert: AlertView; ratingToken: string }>;
  rate(id: string, actor: string, input: Rating): Promise<AlertView>;
  rateByToken(token: string, input: Rating): Promise<AlertView>;
  /** The rating link's state (open, used, expired, unknown) and what it is about, for the public page. */
  ratingLink(token: string): Promise<RatingLinkInfo>;
  close(id: string, actor: string, note?: string): Promise<AlertView>;
  markFalse(
    id: string,
    actor: string,
    input: { kind: 'false_alarm' | 'device_fault'; reason: string; note?: string },
  ): Promise<AlertView>;
  whistle(id: string, actor: string, input: { department: string; note?: string }): Promise<AlertView>;
  reportIn(id: string, actor: string, department: string, note?: string): Promise<AlertView>;

  /** People ids notified of the alert and user names that acted on it: those who may read it unmasked. */
  actors(id: string): Promise<{ personIds: Set<string>; usernames: Set<string> }>;
  /** The alert's outbox rows (delivery state per channel and target, targets masked). */
  deliveries(id: string): Promise<DeliveryView[]>;
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
  const { clock, config: cfg } = deps;
  const log = deps.log.child({ module: 'alerts' });
  const { people, pushStore, outbound, stream } = deps;
  const { residents, audit, quietHours, channelTargets } = deps.stores;
  /** The alert store (the port): everything the dispatcher records and reads goes through it. */
  const store = deps.stores.alerts;
  // In the order given: routing offers a person's channels in this order.
  const channels = new Map<string, Channel>();
  const registerChannel = (c: Channel) => channels.set(c.name, c);
  for (const c of deps.channels) registerChannel(c);
  const q = store.statements;
  const localeOf = deps.localeOf ?? (() => undefined);
  const publicUrl = () => cfg.messages.publicUrl ?? deps.publicUrl?.() ?? 'http://127.0.0.1:8080';
  const payloads = createPayloads({ cfg, places: deps.places, localeOf, publicUrl });

  const metrics = createAlertsMetrics(deps.metrics, q);
  const run: RunState = { stopped: true };

  // A committed change re-arms the escalation timers when it scheduled a step, and drains the outbox when it left
  // rows for the lanes to claim, or while the last pass left due rows without a slot (a backlog, perhaps another
  // instance's, that slots freed here can take). Otherwise a delivery's outcome, or rows all claimed at their
  // insert, only arm the outbox's timer for their claims' end, from what the transaction wrote: on PostgreSQL a
  // pass is three statements or more. Rows other instances leave meanwhile are found by the passes of the
  // heartbeat's sweep (`takeOver`), of the outbox's timer and of the next commit that queues. The drain waits
  // until the broker has written the worker's alarm: the rows the commit claimed are already on their way
  // (transactions.ts), aedes hands a message to a subscriber's socket in a setImmediate of its own (client.js
  // deliverQoS) queued after any of ours from this turn, and a pass over every lane before it would only stand in
  // its way. Commits of one turn share one pass.
  let drainQueued = false;
  const alerts = createTransactions({
    store,
    clock,
    cfg,
    places: deps.places,
    metrics,
    residents,
    sink: deps.sink,
    bus: deps.bus,
    ...(deps.announce ? { announce: deps.announce } : {}),
    wake: (fx) => {
      escalation.armIfScheduled();
      if (fx.leaseBy !== null) outbox.wakeBy(fx.leaseBy);
      if ((!fx.queued && !outbox.backlog) || drainQueued) return;
      drainQueued = true;
      setImmediate(() =>
        setImmediate(() => {
          drainQueued = false;
          void outbox.drain();
        }),
      );
    },
  });
  const { enqueue, tryFold } = createNoiseControl({
    clock,
    cfg,
    q,
    metrics,
    channels,
    quietHours,
    payloads,
    alerts,
  });
  const mustReach = createMustReach({
    clock,
    cfg,
    q,
    log,
    metrics,
    run,
    people,
    channels,
    payloads,
    alerts,
    enqueue,
  });
  const { notify, callLeaders } = createRouting({
    clock,
    cfg,
    log,
    payloads,
    people,
    channels,
    channelTargets,
    audit,
    alerts,
    enqueue,
  });
  const escalation = createEscalation({ clock, cfg, q, store, log, run, alerts, notify, callLeaders });
  const lifecycle = createLifecycle({
    clock,
    cfg,
    q,
    log,
    metrics,
    channels,
    residents,
    payloads,
    publicUrl,
    alerts,
    notify,
    escalation,
    mustReach,
    enqueue,
  });
  const actions = createActions({ clock, cfg, q, payloads, people, alerts, lifecycle, enqueue, escalation });
  const outbox = createOutbox({
    clock,
    cfg,
    q,
    log,
    store,
    metrics,
    run,
    channels,
    alerts,
    tryFold,
    mustReach,
  });
  const reads = createReads({ store, clock, cfg, places: deps.places, q, alerts });

  return {
    async handle(result) {
      try {
        switch (result.kind) {
          case 'raise':
            return await lifecycle.raise(result);
          case 'update':
            return await lifecycle.update(result);
          case 'clear':
            return await lifecycle.clear(result);
          case 'fact':
            return await lifecycle.fact(result);
        }
      } catch (err) {
        // Nothing was committed: the caller learns it (a QoS 1 event stays unacknowledged and comes again).
        log.error(
          { err, ruleId: result.ruleId, deviceId: result.deviceId, kind: result.kind },
          'rule result not taken',
        );
        metrics.failures.inc();
        throw err;
      }
    },
    async start() {
      if (!run.stopped) return;
      run.stopped = false;
      await outbox.prune();
      // Overdue steps of a hub that was down fire now, before new work; the rest are armed on the clock.
      await escalation.resume();
      await mustReach.fire();
      void outbox.drain();
      log.info('dispatcher started');
    },
    async stop() {
      run.stopped = true;
      // a firing under way ends its step before the store closes; what is left stays due for the next start
      await Promise.all([escalation.stop(), mustReach.stop()]);
      await outbox.stop();
    },
    drain: outbox.settle,
    async takeOver(now) {
      await Promise.all([escalation.arm(), mustReach.arm()]);
      return outbox.takeOverOrphans(now);
    },
    registerChannel,
    ...reads,
    ...actions,
    actors: alerts.actors,
    maintenance: createMaintenance({ store, clock, q, alerts }),
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
