import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import type { TelemetryReader, TelemetrySink } from '../domain/ports.ts';
import type { InfluxConfig, TelemetryConfig } from './config.ts';
import { createEmbeddedStore } from './embedded-store.ts';
import { createInfluxStore } from './influx-store.ts';

export type TelemetryStore = TelemetrySink &
  TelemetryReader & {
    readonly kind: 'influx' | 'embedded';
    /** Undefined when the store is reachable and its database exists, else a message for the start-up log. */
    check(): Promise<string | undefined>;
  };

export interface TelemetryStoreDeps {
  influx: InfluxConfig;
  telemetry: TelemetryConfig;
  dataDir: string;
  catalogue: Catalogue;
  log: Logger;
  metrics: Registry;
  clock: Clock;
}

/** InfluxDB when `influx.url` is set, else the embedded SQLite store (`<dataDir>/telemetry.db`). */
export function createTelemetryStore(deps: TelemetryStoreDeps): TelemetryStore {
  if (deps.influx.url) {
    deps.log.info({ url: deps.influx.url, api: deps.influx.api }, 'telemetry store: InfluxDB');
    return createInfluxStore(deps);
  }
  deps.log.info({ dataDir: deps.dataDir }, 'telemetry store: embedded SQLite (no influx.url configured)');
  return createEmbeddedStore(deps);
}

export { createEmbeddedStore } from './embedded-store.ts';
export { createInfluxStore, type InfluxStore, type InfluxStoreStatus } from './influx-store.ts';
export { telemetryRoutes } from './routes.ts';
