/**
 * The dashboards' live stream across instances (issue #18). Each instance streams the alert changes it commits
 * to its own SSE clients straight from its bus; each one is also announced on the change feed — in the hub by
 * the dispatcher, inside the transaction that makes the change (`relayAnnouncement`, `announces: 'transaction'`),
 * so that a committed change is announced even if its instance is killed the moment after; else by this relay
 * from the bus, after the commit. An instance hearing another's announcement reads the alert from the shared
 * store and streams it to its clients. So the board served by any instance shows every alert, live, whichever
 * instance raised or changed it.
 *
 * The announcement says which alert, what happened and when, and carries the alert's view as the change left it
 * when the notice fits in one NOTIFY (8000 bytes): the hearer streams that view as it is, without a read. Every
 * instance reading back every alert after every change was about one statement in seven a hub sent on a loaded
 * cluster. An alert whose view is too large is read from the shared store instead, once per batch of
 * announcements. Either way one message per announced change is streamed, in order, so a board still hears
 * `opened` (its alarm sound) before `dispatched`. Batches run one at a time, and announcements from the bus are
 * sent one at a time (in a transaction they go in commit order): a slow store delays the relayed messages, never
 * the instance's own stream or alarms.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { streamMessageOf } from './alerts/api-views.ts';
import type { AlertView } from './alerts/types.ts';
import type { AlertStream } from './channels/channel.ts';
import type { AlertStreamMessage, EventBus } from './domain/events.ts';
import type { Change, ChangeFeed } from './storage/changes.ts';

const TABLE = 'alerts';
/** Announcements waiting for the store at most; beyond, they are dropped and logged. */
const MAX_QUEUED = 10_000;

export interface LiveRelayDeps {
  bus: EventBus;
  changes: ChangeFeed;
  stream: AlertStream;
  /** The alert as the shared store holds it now (the dispatcher's `get`). */
  read(alertId: string): AlertView | undefined | Promise<AlertView | undefined>;
  log: Logger;
  /** Heard, streamed and skipped changes of other instances, and those waiting (an operator's first look). */
  metrics: Registry;
  /**
   * `transaction` when the dispatcher announces each transaction's changes inside it (`relayAnnouncement`, on
   * the shared database): a change that committed is announced even if this instance dies right after, which an
   * announcement after the commit is not. `bus` (default): announced here, after the commit.
   */
  announces?: 'bus' | 'transaction';
}

/** What the relay's hearers need of one stream message: the alert, what happened and when, and its view. */
export function relayAnnouncement(
  msg: Pick<AlertStreamMessage, 'alertId' | 'type' | 'at'> & Partial<Pick<AlertStreamMessage, 'alert'>>,
): Change {
  return {
    table: TABLE,
    id: msg.alertId,
    kind: msg.type,
    at: msg.at,
    ...(msg.alert ? { data: msg.alert } : {}),
  };
}

/** The view an announcement carried, when it is one of this alert's (what `streamMessageOf` reads of it). */
function carriedView(change: Change): AlertView | undefined {
  const v = change.data as Partial<AlertView> | null | undefined;
  if (typeof v !== 'object' || v === null || v.id !== change.id) return undefined;
  if (typeof v.place !== 'object' || v.place === null || !Array.isArray(v.whistles)) return undefined;
  return v as AlertView;
}

interface Heard {
  type: string;
  at: number;
  /** The alert as this change left it, when the announcement carried it. */
  view: AlertView | undefined;
}

export interface LiveRelay {
  /** Resolves once every announcement made and heard so far has been sent and streamed (tests, shutdown). */
  settled(): Promise<void>;
  close(): void;
}

export function createLiveRelay(deps: LiveRelayDeps): LiveRelay {
  const { changes, stream, log } = deps;
  const heardCount = new Counter({
    name: 'gridhub_live_relay_heard_total',
    help: "Alert changes of other instances heard on the change feed, for this instance's live stream",
    registers: [deps.metrics],
  });
  const streamedCount = new Counter({
    name: 'gridhub_live_relay_streamed_total',
    help: "Alert changes of other instances streamed to this instance's boards",
    registers: [deps.metrics],
  });
  const skippedCount = new Counter({
    name: 'gridhub_live_relay_skipped_total',
    help: 'Alert changes of other instances not streamed: the alert could not be read back',
    registers: [deps.metrics],
  });
  let waiting = 0;
  new Gauge({
    name: 'gridhub_live_relay_waiting',
    help: 'Alert changes of other instances heard and not yet streamed (a relay behind, or stuck on a read)',
    registers: [deps.metrics],
    collect() {
      this.set(waiting);
    },
  });
  // One announcement at a time: NOTIFYs sent on different pooled connections at once would reach the others in
  // whichever order their sessions got there, and a board must hear `opened` before `acknowledged`.
  let announcing: Promise<void> = Promise.resolve();
  let queued = 0;
  const unAnnounce = (deps.announces ?? 'bus') === 'transaction' ? () => {} : announceFromBus();
  function announceFromBus(): () => void {
    return deps.bus.on('alert.streamed', (msg) => {
      if (queued >= MAX_QUEUED) {
        // the store is not keeping up: the other boards miss this change until their next snapshot (reconnect)
        log.warn({ alertId: msg.alertId, queued }, 'live-stream announcements are backing up; one dropped');
        return;
      }
      queued++;
      announcing = announcing
        .then(() => changes.announce(relayAnnouncement(msg)))
        .catch((err: unknown) => log.warn({ err, alertId: msg.alertId }, 'live-stream announcement failed'))
        .finally(() => {
          queued--;
        });
    });
  }

  /** Announced changes waiting to be streamed, per alert in arrival order. */
  let pending = new Map<string, Heard[]>();
  let running: Promise<void> = Promise.resolve();
  let scheduled = false;

  /** The alert as the shared store holds it now, for the changes that did not carry it (undefined: skip). */
  async function readBack(alertId: string): Promise<AlertView | undefined> {
    try {
      const view = await deps.read(alertId);
      // announced after its commit, yet not there: worth knowing (read at most once per alert and batch)
      if (!view)
        log.warn({ alertId }, 'an alert another instance changed was not found; its board update is skipped');
      return view;
    } catch (err) {
      log.warn(
        { err, alertId },
        'reading an alert another instance changed failed; its board update is skipped',
      );
      return undefined;
    }
  }

  async function streamBatch(batch: Map<string, Heard[]>): Promise<void> {
    for (const [alertId, events] of batch) {
      // read at most once per alert and batch, and only if a change came without its view
      let read: Promise<AlertView | undefined> | undefined;
      for (const e of events) {
        let view = e.view;
        if (!view) {
          read ??= readBack(alertId);
          view = await read;
        }
        waiting--;
        if (!view) {
          skippedCount.inc();
          continue;
        }
        stream.publish(streamMessageOf(e.type, e.at, view));
        streamedCount.inc();
      }
    }
  }

  const unHear = changes.subscribe((change) => {
    // what this relay announces always says what happened and when; anything else on the table is not ours
    if (change.table !== TABLE || change.kind === undefined || change.at === undefined) return;
    heardCount.inc();
    waiting++;
    const list = pending.get(change.id);
    const event: Heard = { type: change.kind, at: change.at, view: carriedView(change) };
    if (list) list.push(event);
    else pending.set(change.id, [event]);
    if (scheduled) return;
    scheduled = true;
    running = running.then(() => {
      scheduled = false;
      const batch = pending;
      pending = new Map();
      return streamBatch(batch);
    });
  });

  return {
    settled: () => Promise.all([announcing, running]).then(() => undefined),
    close() {
      unAnnounce();
      unHear();
    },
  };
}
