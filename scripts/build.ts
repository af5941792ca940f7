/**
 * `npm run build`: the compiled production build. tsc emits `dist/` (imports rewritten from `.ts` to `.js`); the
 * files tsc does not emit — the default rule pack's YAML — are copied beside the compiled code, and the dashboards
 * are built. `npm run start:prod` then runs `dist/src/main.js` with plain Node, no TypeScript loader.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildWeb } from '../dashboards/web/build.ts';
import { PROJECT_ROOT } from '../src/runtime/project.ts';

/** Non-TypeScript files the compiled hub reads at run time, relative to the project root. */
const ASSETS = ['src/rules/pack'];

const dist = join(PROJECT_ROOT, 'dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
  },
);
for (const asset of ASSETS) cpSync(join(PROJECT_ROOT, asset), join(dist, asset), { recursive: true });
await buildWeb({ force: true });
process.stdout.write(`built ${dist} (start it with: npm run start:prod)\n`);
