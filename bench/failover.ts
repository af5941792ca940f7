/**
 * Failover of one of three hubs (issue #18, the first two rows of its targets): three hub processes on one
 * PostgreSQL behind one Mosquitto, 200 call-button presses a second (QoS 1, each on its own device, with its
 * `eventId`) and 5 000 telemetry messages a second (QoS 0), one instance killed with SIGKILL at half of the load.
 * The scenario and its measures are test/helpers/failover-run.ts, the same as test/hub/failover.test.ts runs at
 * reduced rates. Figures: presses sent / acknowledged by Mosquitto, alerts, lost (no alert by the end of the
 * settle window), doubled, escalation steps expected / seen once, the failover gap (first alarm after the kill;
 * worst wait from max(sent, kill) to the first alarm), every surviving board's list and live stream, and the
 * telemetry rate the hubs accepted. The generators run in this process; what the cluster could not keep up
 * with shows as the acknowledged rate (Mosquitto's) against the accepted one (the hubs').
 *
 * `npm run bench` runs it among the other cases (`--only failover` for this one after the hub's own set-up);
 * alone: `node --import tsx bench/failover.ts [--quick] [--presses N] [--telemetry N] [--seconds N] [--routing owner|shared]
 * [--settle S] [--statements]`. `--settle` (60 s, quick 30 s) is how long the run waits for what the cluster still
 * owes after the load (every alert, every step, every board): a press reported lost with a longer settle too is
 * lost, not late. `--statements` loads pg_stat_statements and reports the transactions and statements the cluster
 * sent per alert, and the most frequent ones (`statements`): where the shared store's capacity goes. Not in
 * `npm run bench`, whose figures it would change a little.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type FailoverResult, runFailover } from '../test/helpers/failover-run.ts';
import { CLUSTER_MISSING } from '../test/helpers/hub-cluster.ts';

export interface FailoverBenchOptions {
  quick?: boolean;
  pressesPerSec?: number;
  telemetryPerSec?: number;
  seconds?: number;
  routing?: 'owner' | 'shared';
  settleSeconds?: number;
  /** Count the statements the cluster sent PostgreSQL (pg_stat_statements): per alert, the most frequent. */
  statements?: boolean;
}

/** The run's result with the device lists cut to counts and a sample: the results file is read by people. */
export type FailoverBenchResult = Omit<FailoverResult, 'lost' | 'doubled'> & {
  command: string;
  lost: number;
  lostSample: string[];
  doubled: number;
  doubledSample: string[];
};

export async function runFailoverBench(
  options: FailoverBenchOptions = {},
): Promise<FailoverBenchResult | { skipped: string }> {
  if (CLUSTER_MISSING) return { skipped: CLUSTER_MISSING };
  const pressesPerSec = options.pressesPerSec ?? (options.quick ? 50 : 200);
  const telemetryPerSec = options.telemetryPerSec ?? (options.quick ? 1_000 : 5_000);
  const seconds = options.seconds ?? (options.quick ? 10 : 20);
  const result = await runFailover({
    instances: 3,
    pressesPerSec,
    telemetryPerSec,
    seconds,
    clockSpeed: 20,
    routing: options.routing ?? 'owner',
    settleMs: (options.settleSeconds ?? (options.quick ? 30 : 60)) * 1_000,
    log: (line) => process.stdout.write(`[failover] ${line}\n`),
    ...(options.statements ? { statements: true } : {}),
  });
  return {
    command: `node --import tsx bench/failover.ts --presses ${pressesPerSec} --telemetry ${telemetryPerSec} --seconds ${seconds} --routing ${options.routing ?? 'owner'}${options.settleSeconds ? ` --settle ${options.settleSeconds}` : ''}${options.statements ? ' --statements' : ''}`,
    ...result,
    lost: result.lost.length,
    lostSample: result.lost.slice(0, 12),
    doubled: result.doubled.length,
    doubledSample: result.doubled.slice(0, 12),
  };
}

/** The figures the results file's table shows (bench/run.ts, bench/report.ts). */
export function failoverFigures(r: unknown): Record<string, number | null> {
  const x = r as Partial<FailoverBenchResult> | undefined;
  const boards = x?.boards ?? [];
  return {
    failoverPressesAcked: x?.presses?.acked ?? null,
    failoverPressesAckedPerSec: x?.presses?.ackedPerSec ?? null,
    failoverAlerts: x?.alerts ?? null,
    failoverLost: x?.lost ?? null,
    failoverDoubled: x?.doubled ?? null,
    failoverEscalationExpected: x?.escalation?.expected ?? null,
    failoverEscalationSeenOnce: x?.escalation?.seenOnce ?? null,
    failoverEscalationWrong: x?.escalation
      ? x.escalation.missing + x.escalation.repeated + x.escalation.early
      : null,
    failoverEscalationWorstLateMs: x?.escalation?.worstLateMs ?? null,
    failoverFirstAlarmAfterKillMs: x?.failover?.firstAlarmAfterKillMs ?? null,
    failoverMaxStallMs: x?.failover?.maxStallMs ?? null,
    failoverNeverAlarmed: x?.failover?.neverAlarmed ?? null,
    failoverBoardsMissing: boards.length
      ? boards.reduce((n, b) => n + b.missingFromList + b.missingFromStream, 0)
      : null,
    failoverTelemetryAcceptedPerSec: x?.telemetry?.acceptedPerSec ?? null,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      presses: { type: 'string' },
      telemetry: { type: 'string' },
      seconds: { type: 'string' },
      routing: { type: 'string' },
      settle: { type: 'string' },
      statements: { type: 'boolean', default: false },
    },
  });
  const r = await runFailoverBench({
    quick: values.quick ?? false,
    ...(values.presses ? { pressesPerSec: Number(values.presses) } : {}),
    ...(values.telemetry ? { telemetryPerSec: Number(values.telemetry) } : {}),
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    ...(values.routing === 'shared' || values.routing === 'owner' ? { routing: values.routing } : {}),
    ...(values.settle ? { settleSeconds: Number(values.settle) } : {}),
    ...(values.statements ? { statements: true } : {}),
  });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(failoverFigures(r))}\n`);
  process.exit(0);
}
