/**
 * The rule sandbox's worker thread: compiles the rule and runs it over the sample readings on its own
 * virtual clock, off the hub's event loop. One job at a time; the main thread ends the worker when a job
 * runs over its time budget, and V8 ends it when it runs over its heap budget.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { pino } from 'pino';
import { createCatalogue } from '../catalogue/catalogue.ts';
import { GridHubError } from '../domain/errors.ts';
import { compileRule } from './compile.ts';
import type { SandboxJob, SandboxReply } from './sandbox.ts';
import { parseSandboxBody } from './sandbox-input.ts';
import { runSandbox } from './sandbox-run.ts';

// Below the hub's own threads: on Linux, setpriority for "this process" (0) applies to the calling thread only,
// so this renices the sandbox and nothing else; alarms and ingest win the CPU whenever both want it.
try {
  setPriority(0, 5);
} catch {
  // not permitted or not supported: the time budget still bounds the run
}

const catalogue = createCatalogue();
const log = pino({ level: 'silent' });

parentPort?.on('message', (job: SandboxJob) => {
  let reply: SandboxReply;
  try {
    const input = parseSandboxBody(job.body);
    const compiled = compileRule(input.rule, catalogue);
    const results = runSandbox(compiled, input.readings, {
      ...input.options,
      log,
      defaultStart: job.defaultStart,
    });
    reply = { id: job.id, ok: true, json: JSON.stringify({ results }) };
  } catch (err) {
    const e = err instanceof GridHubError ? err : undefined;
    reply = {
      id: job.id,
      ok: false,
      error: {
        code: e?.code ?? 'INTERNAL',
        message: e ? e.message : 'the sandbox failed',
        ...(e?.field ? { field: e.field } : {}),
      },
    };
  }
  parentPort?.postMessage(reply);
});
parentPort?.postMessage({ ready: true });
