import Database from 'better-sqlite3';
import { runRaiseBench } from './raise.ts';
const probe = new Database(':memory:');
const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, unknown>;
probe.close();
const plen = { n: 0, sum: 0 };
const stats = new Map<string, { n: number; ms: number }>();
for (const name of ['run', 'get', 'all']) {
  const orig = proto[name] as (...a: unknown[]) => unknown;
  proto[name] = function (this: { source: string }, ...a: unknown[]) {
    if (this.source.startsWith('insert into "alert_outbox"')) { const p = a.find((x) => typeof x === 'string' && x.startsWith('{')) as string | undefined; if (p) { plen.n++; plen.sum += Buffer.byteLength(p); } }
    const t = performance.now();
    try { return orig.apply(this, a); } finally {
      const k = this.source.replace(/\s+/g, ' ').slice(0, 140);
      const s = stats.get(k) ?? { n: 0, ms: 0 };
      s.n++; s.ms += performance.now() - t; stats.set(k, s);
    }
  };
}
const r = await runRaiseBench({ alerts: 3000 });
console.log('p50', r.p50Ms, 'payload avg bytes', plen.sum / plen.n);
const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40);
for (const [k, s] of rows) console.log(`${s.n}\t${(s.ms).toFixed(1)}ms\t${((s.ms / s.n) * 1000).toFixed(1)}us\t${k}`);
