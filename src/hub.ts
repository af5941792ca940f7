import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './api/app.ts';
import { type Catalogue, createCatalogue } from './catalogue/catalogue.ts';
import { type Clock, createSystemClock } from './clock/clock.ts';
import type { Config } from './config/config.ts';
import { seedDemo } from './demo/seed.ts';
import { createEventBus, type EventBus } from './domain/events.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetricsRegistry, type MetricsRegistry } from './observability/metrics.ts';
import { createRegistry, type Registry } from './registry/registry.ts';
import { type Db, openDatabase } from './storage/sqlite.ts';

export interface HubOptions {
  config: Config;
  /** Injected in tests (ManualClock); otherwise the system clock at config.clockSpeed. */
  clock?: Clock;
  log?: Logger;
}

export interface Hub {
  readonly config: Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly db: Db;
  readonly registry: Registry;
  readonly catalogue: Catalogue;
  readonly bus: EventBus;
  readonly metrics: MetricsRegistry;
  readonly app: FastifyInstance;
  /** Set once started: where clients connect. */
  readonly urls: { http: string; mqtt: string };
  /** Path of the demo credentials file when the demo was seeded (now or on an earlier start). */
  readonly demoCredentialsFile: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Thrown for start-up problems an operator must fix; main prints the message and exits 1. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * The composition root: config → logger → stores → stages → wiring. Only this file knows how the parts fit.
 */
export async function createHub(options: HubOptions): Promise<Hub> {
  const { config } = options;
  const log = options.log ?? createLogger(config.logLevel);
  const clock = options.clock ?? createSystemClock({ speed: config.clockSpeed });
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const firstStart = !existsSync(join(dataDir, 'gridhub.db'));

  const metrics = createMetricsRegistry();
  const bus = createEventBus(log.child({ module: 'events' }));
  const catalogue = createCatalogue();
  const db = openDatabase(join(dataDir, 'gridhub.db'));
  const registry = createRegistry(db, catalogue, clock);
  registry.devices.markAllOffline(clock.now());

  let seeded = !config.demo || !firstStart;
  const demoFile = join(dataDir, 'demo-credentials.json');
  const urls = { http: '', mqtt: '' };

  const app = await buildApp({
    log,
    clock,
    registry,
    catalogue,
    metrics,
    tokenTtlMs: config.http.tokenTtlHours * 3_600_000,
    version: VERSION,
    readiness: [{ name: 'registry', check: () => seeded || 'seeding the demo community' }],
    routes: [],
  });

  const presenceTimer = setInterval(() => registry.devices.flushPresence(), 5_000);
  presenceTimer.unref();

  return {
    config,
    clock,
    log,
    db,
    registry,
    catalogue,
    bus,
    metrics,
    app,
    urls,
    get demoCredentialsFile() {
      return existsSync(demoFile) ? demoFile : undefined;
    },
    async start() {
      try {
        await app.listen({ port: config.http.port, host: config.host });
      } catch (err) {
        throw portError(err, 'GRIDHUB_HTTP_PORT', config.http.port, config.host);
      }
      const httpPort = (app.server.address() as { port: number }).port;
      const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
      urls.http = `http://${host}:${httpPort}`;
      urls.mqtt = `mqtt://${host}:${config.mqtt.port}`;
      if (!seeded) {
        const { file } = await seedDemo(registry, {
          dataDir,
          now: clock.now(),
          mqttUrl: urls.mqtt,
          httpUrl: urls.http,
        });
        seeded = true;
        log.info({ file }, `demo community seeded; credentials are in ${file}`);
      }
    },
    async stop() {
      clearInterval(presenceTimer);
      await app.close();
      registry.devices.flushPresence();
      db.close();
    },
  };
}

export function portError(err: unknown, setting: string, port: number, host: string): Error {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new StartupError(`${host}:${port} is already in use; set ${setting} to a free port`);
  }
  if ((err as NodeJS.ErrnoException).code === 'EACCES') {
    return new StartupError(
      `no permission to listen on ${host}:${port}; set ${setting} to a port above 1023`,
    );
  }
  return err as Error;
}
