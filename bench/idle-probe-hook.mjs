// Loaded by bench/idle-probe.ts --stats into the server: on SIGUSR2, its memory figures (and, with $MEMPROBE_GC under
// --expose-gc, again after a full GC) to $MEMPROBE_OUT.<n>.json; a heap snapshot with $MEMPROBE_SNAP; with
// $MEMPROBE_ALLOC, a sampling allocation profile from the first signal to the second ($MEMPROBE_OUT.alloc.json).
import { readFileSync, writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import v8 from 'node:v8';

let n = 0;
let session;
const stats = () => {
  const mu = process.memoryUsage();
  const spaces = Object.fromEntries(
    v8.getHeapSpaceStatistics().map((s) => [
      s.space_name,
      {
        size: s.space_size,
        used: s.space_used_size,
        avail: s.space_available_size,
        phys: s.physical_space_size,
      },
    ]),
  );
  const smaps = readFileSync('/proc/self/smaps_rollup', 'utf8');
  return { mu, spaces, heap: v8.getHeapStatistics(), smaps };
};
process.on('SIGUSR2', () => {
  const i = n++;
  const out = { i, before: stats() };
  const finish = () => {
    if (globalThis.gc && process.env.MEMPROBE_GC) {
      globalThis.gc();
      out.afterGc = stats();
    }
    if (process.env.MEMPROBE_SNAP)
      out.snap = v8.writeHeapSnapshot(`${process.env.MEMPROBE_OUT}.${i}.heapsnapshot`);
    writeFileSync(`${process.env.MEMPROBE_OUT}.${i}.json`, JSON.stringify(out));
  };
  if (process.env.MEMPROBE_ALLOC && i === 0) {
    session = new inspector.Session();
    session.connect();
    session.post('HeapProfiler.enable', () =>
      session.post(
        'HeapProfiler.startSampling',
        {
          samplingInterval: 512,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: !process.env.MEMPROBE_NOMINOR,
        },
        (err) => {
          out.err = String(err);
          finish();
        },
      ),
    );
    return;
  }
  if (process.env.MEMPROBE_ALLOC && i === 1) {
    session.post('HeapProfiler.stopSampling', (_err, r) => {
      writeFileSync(`${process.env.MEMPROBE_OUT}.alloc.json`, JSON.stringify(r.profile));
      finish();
    });
    return;
  }
  finish();
});
