/**
 * Diagnosis, not part of the bench: the idle-memory case (bench/run.ts idleMemory) by hand, against the built hub
 * (`npm run build`) or the bare aedes, with the server's own memory figures at each sample.
 *
 *   node --import tsx bench/idle-probe.ts --target hub|aedes [--warm 5000] [--add 10000] [--data DIR]
 *     [--warm-later 5,10,20] [--later 10,40,60] [--stats PREFIX [--snap] [--alloc]] [--flags=--trace-gc --stdout FILE]
 *     [--env K=V,K=V]
 *
 * - `--data`: a data dir to reuse (seeded and provisioned with warm + add bench devices on first use).
 * - `--later`: more samples, that many seconds after the 3 s one (V8's memory reducer runs after some).
 * - `--warm-later`: the same for the warm-up; the last of them is the before-sample.
 * - `--stats PREFIX`: the server loads bench/idle-probe-hook.mjs and writes PREFIX.<n>.json at each sample
 *   (process.memoryUsage, V8 heap spaces, smaps_rollup); `--snap` adds a heap snapshot (it forces a GC, so the
 *   later samples' RSS is not comparable), `--alloc` a sampling allocation profile from the cold sample to the warm
 *   one (PREFIX.alloc.json, objects since collected included).
 * - `--flags=--trace-gc --stdout FILE`: the server's GC trace, with the samples marked in it.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DemoCredentials } from '../src/domain/wire.ts';
import { provisionBenchDevices } from './bench-devices.ts';
import {
  benchHubEnv,
  type Child,
  freePort,
  ROOT,
  rssKb,
  sleep,
  spawnNode,
  spawnTs,
  waitReady,
} from './lib.ts';

const { values: a } = parseArgs({
  options: {
    target: { type: 'string', default: 'hub' },
    warm: { type: 'string', default: '5000' },
    add: { type: 'string', default: '10000' },
    data: { type: 'string' },
    flags: { type: 'string', default: '' },
    env: { type: 'string', default: '' },
    settle: { type: 'string', default: '3000' },
    stdout: { type: 'string' },
    later: { type: 'string', default: '' },
    'warm-later': { type: 'string', default: '' },
    stats: { type: 'string' },
    snap: { type: 'boolean', default: false },
    alloc: { type: 'boolean', default: false },
  },
});
const warm = Number(a.warm);
const add = Number(a.add);
const flags = (a.flags ?? '').split(',').filter(Boolean);
const extraEnv: Record<string, string> = Object.fromEntries(
  (a.env ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);
if (a.stats) {
  flags.push('--import', join(ROOT, 'bench/idle-probe-hook.mjs'));
  extraEnv.MEMPROBE_OUT = a.stats;
  if (a.snap) extraEnv.MEMPROBE_SNAP = '1';
  if (a.alloc) extraEnv.MEMPROBE_ALLOC = '1';
  if (flags.includes('--expose-gc')) extraEnv.MEMPROBE_GC = '1';
}
const log = (l: string) => process.stderr.write(`probe: ${l}\n`);

async function startHub(dataDir: string): Promise<{ child: Child; mqtt: string }> {
  const ports = { http: await freePort(), mqtt: await freePort() };
  const child = spawnNode([...flags, join(ROOT, 'dist/src/main.js')], {
    ...benchHubEnv(dataDir, ports),
    ...extraEnv,
  });
  await waitReady(child, `http://127.0.0.1:${ports.http}`, 60_000);
  return { child, mqtt: `mqtt://127.0.0.1:${ports.mqtt}` };
}

async function prepare(dataDir: string, n: number): Promise<string> {
  const creds = join(dataDir, 'bench-credentials.json');
  if (existsSync(creds)) return creds;
  const first = await startHub(dataDir);
  await first.child.stop();
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
  const out = await provisionBenchDevices(dataDir, n);
  writeFileSync(creds, JSON.stringify({ ...demo, devices: [...out, ...demo.devices] }));
  return creds;
}

let sampleNo = 0;
async function sample(server: Child, label: string): Promise<number> {
  const pid = server.proc.pid as number;
  const rss = rssKb(pid) as number;
  if (a.stats) {
    process.kill(pid, 'SIGUSR2');
    const file = `${a.stats}.${sampleNo++}.json`;
    for (let i = 0; i < 600 && !existsSync(file); i++) await sleep(100);
    await sleep(200);
    const s = JSON.parse(readFileSync(file, 'utf8')) as {
      before: { mu: NodeJS.MemoryUsage };
      afterGc?: { mu: NodeJS.MemoryUsage };
    };
    const f = (m: NodeJS.MemoryUsage) =>
      `rss ${(m.rss / 1024).toFixed(0)} heapTotal ${(m.heapTotal / 1024).toFixed(0)} heapUsed ${(m.heapUsed / 1024).toFixed(0)} external ${(m.external / 1024).toFixed(0)} ab ${(m.arrayBuffers / 1024).toFixed(0)} KB`;
    log(`${label}: ${f(s.before.mu)}${s.afterGc ? ` | after gc: ${f(s.afterGc.mu)}` : ''}`);
  }
  log(`${label}: VmRSS ${rss} KB`);
  server.stdout.push(`=== sample ${label} VmRSS ${rss}`);
  return rss;
}

const dataDir = a.data ?? mkdtempSync(join(os.tmpdir(), 'gridhub-probe-'));
let server: Child;
let loadArgs: string[];
if (a.target === 'aedes') {
  server = spawnNode(
    [...flags, '--import', 'tsx', join(ROOT, 'bench/aedes-baseline.ts'), '0', 'consume'],
    extraEnv,
  );
  const port = Number((await server.waitFor(/^PORT (\d+)/, 15_000))[1]);
  loadArgs = ['--synthetic', '--mqtt-url', `mqtt://127.0.0.1:${port}`];
} else {
  const creds = await prepare(dataDir, warm + add);
  const h = await startHub(dataDir);
  server = h.child;
  loadArgs = ['--credentials', creds, '--mqtt-url', h.mqtt];
}
const hold = (devices: number, skip: number) =>
  spawnTs('devices-sim/cli.ts', [
    ...loadArgs,
    ...['--devices', String(devices), '--skip', String(skip), '--idle', '--duration', '900', '--json'],
  ]);
const settle = Number(a.settle);
try {
  await sleep(1000);
  const cold = await sample(server, 'cold');
  const w = hold(warm, 0);
  await w.waitFor(/^READY connections=(\d+)/, 120_000);
  await sleep(settle);
  let before = await sample(server, `warm ${warm}`);
  let tw = 0;
  for (const at of (a['warm-later'] ?? '').split(',').filter(Boolean).map(Number)) {
    await sleep(at * 1000 - tw);
    tw = at * 1000;
    before = await sample(server, `warm ${warm} after ${at} s more`);
  }
  const h2 = hold(add, warm);
  const m = await h2.waitFor(/^READY connections=(\d+)/, 300_000);
  await sleep(settle);
  const after = await sample(server, `+${m[1]}`);
  log(
    `${a.target}: ${(((after - before) / Number(m[1])) * 100) / 100} KB per connection (cold ${(after - cold) / (warm + Number(m[1]))})`,
  );
  let t = 0;
  for (const at of (a.later ?? '').split(',').filter(Boolean).map(Number)) {
    await sleep(at * 1000 - t);
    t = at * 1000;
    const r = await sample(server, `+${m[1]} after ${at} s more`);
    log(`  → ${((r - before) / Number(m[1])).toFixed(2)} KB per connection`);
  }
  await h2.stop('SIGKILL');
  await w.stop('SIGKILL');
} finally {
  await server.stop();
  if (a.stdout) writeFileSync(a.stdout, server.stdout.join('\n'));
  log(`data dir ${dataDir}`);
}
