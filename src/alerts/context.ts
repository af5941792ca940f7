import type { Logger } from 'pino';
import type { Channel } from '../channels/channel.ts';
import type { Clock } from '../clock/clock.ts';
import type { EventBus } from '../domain/events.ts';
import type { TelemetrySink } from '../domain/ports.ts';
import type { PeopleStore } from '../registry/people.ts';
import type { Db } from '../storage/sqlite.ts';
import type { AuditLog } from './audit-log.ts';
import type { ChannelTargetStore } from './channel-targets.ts';
import type { AlertsConfig } from './config.ts';
import type { AlertsMetrics } from './metrics.ts';
import type { Payloads } from './payloads.ts';
import type { PlaceNames } from './places.ts';
import type { QuietHoursStore } from './quiet-hours.ts';
import type { ResidentStore } from './residents.ts';
import type { Queries } from './sqlite-statements.ts';

/** What every part of the dispatcher shares; built once by `createDispatcher`. */
export interface AlertsContext {
  db: Db;
  clock: Clock;
  log: Logger;
  cfg: AlertsConfig;
  places: PlaceNames;
  sink: TelemetrySink;
  bus: EventBus;
  q: Queries;
  m: AlertsMetrics;
  /** Outbox channels by name; `registerChannel` may add more after start. */
  channels: ReadonlyMap<string, Channel>;
  people: PeopleStore;
  residents: ResidentStore;
  quietHours: QuietHoursStore;
  channelTargets: ChannelTargetStore;
  audit: AuditLog;
  /** Builds the alarm model of every message (recipient's language, links, time zone). */
  payloads: Payloads;
  /** The locale of the user account of a person (messages follow it), if they have one. */
  localeOf(personId: string): string | undefined;
  /** The hub's address as phones reach it, for links in messages. */
  publicUrl(): string;
  /** Set until `start()` and again by `stop()`: timers are not armed and the outbox loop does not run. */
  run: { stopped: boolean };
}
