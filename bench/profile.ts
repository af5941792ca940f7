/**
 * A V8 CPU profile (`node --cpu-prof`) summarised: self time by module (our stages, aedes, mqtt-packet,
 * better-sqlite3, node internals …) and the functions that cost most, as a Markdown section.
 *
 *   node --import tsx bench/profile.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Share of the profile's samples that were not idle (the process was on a core). */
  busyMs: number;
  modules: { module: string; selfMs: number; share: number }[];
  functions: { fn: string; module: string; where: string; selfMs: number; share: number }[];
}

/** Which part of the process a frame belongs to, from its script URL (src/, dist/src/ and node_modules alike). */
export function moduleOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(program)') return 'V8 (program)';
    // Native functions (better-sqlite3's bindings, JSON, crypto) show without a URL.
    return 'native';
  }
  if (url.startsWith('node:')) return 'node internals';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return pkg ?? 'node_modules';
  }
  const m = /\/(?:dist\/)?(src|devices-sim|bench)\/([^/]+)(?:\/|\.)/.exec(url);
  if (m) return m[1] === 'src' ? `src/${m[2]}` : (m[1] as string);
  return 'other';
}

export function summariseProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const modules = new Map<string, number>();
  const fns = new Map<string, { fn: string; module: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const mod = moduleOf(url, functionName);
    total += us;
    if (mod === '(idle)') {
      idle += us;
      continue;
    }
    modules.set(mod, (modules.get(mod) ?? 0) + us);
    const short = url.replace(/^.*?\/(node_modules|src|dist|bench|devices-sim)\//, '$1/');
    const where = url ? `${short}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const f = fns.get(key) ?? { fn: functionName || '(anonymous)', module: mod, where, us: 0 };
    f.us += us;
    fns.set(key, f);
  }
  const busy = total - idle;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const share = (us: number) => (busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0);
  return {
    file,
    totalMs: ms(total),
    busyMs: ms(busy),
    modules: [...modules]
      .sort((a, b) => b[1] - a[1])
      .map(([module, us]) => ({ module, selfMs: ms(us), share: share(us) })),
    functions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ fn: f.fn, module: f.module, where: f.where, selfMs: ms(f.us), share: share(f.us) })),
  };
}

function tail(rest: ProfileSummary['modules']): string[] {
  if (!rest.length) return [];
  const ms = Math.round(rest.reduce((a, m) => a + m.selfMs, 0) * 10) / 10;
  const share = Math.round(rest.reduce((a, m) => a + m.share, 0) * 10) / 10;
  return [`| ${rest.length} others (under 0.5 % each) | ${ms} | ${share} % |`];
}

export function renderProfile(s: ProfileSummary, title: string): string {
  const lines = [
    `### ${title}`,
    '',
    `Profile \`${s.file}\`: ${s.totalMs} ms sampled, ${s.busyMs} ms on a core (self time; shares are of the busy time).`,
    '',
    '| module | self ms | share |',
    '| --- | --: | --: |',
    // The long tail (start-up's config, HTTP and schema libraries) in one row.
    ...s.modules.filter((m) => m.share >= 0.5).map((m) => `| ${m.module} | ${m.selfMs} | ${m.share} % |`),
    ...tail(s.modules.filter((m) => m.share < 0.5)),
    '',
    '| function | module | where | self ms | share |',
    '| --- | --- | --- | --: | --: |',
    ...s.functions.map((f) => `| ${f.fn} | ${f.module} | ${f.where} | ${f.selfMs} | ${f.share} % |`),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string' } },
    allowPositionals: true,
  });
  for (const file of positionals) {
    process.stdout.write(renderProfile(summariseProfile(file, values.top ? Number(values.top) : 25), file));
  }
}
