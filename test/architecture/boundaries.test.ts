import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/runtime/project.ts';

/** The rules of ARCHITECTURE.md, as dependency-cruiser checks them (also `npx depcruise src --config …`). */
const config = createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as {
  forbidden: IForbiddenRuleType[];
  options: {
    tsPreCompilationDeps: boolean;
    enhancedResolveOptions: { extensions: string[]; conditionNames: string[] };
  };
};

async function cruiseTree(baseDir: string): Promise<ICruiseResult> {
  const { output } = await cruise(
    ['src'],
    {
      baseDir,
      validate: true,
      ruleSet: { forbidden: config.forbidden },
      doNotFollow: { path: 'node_modules' },
      tsPreCompilationDeps: config.options.tsPreCompilationDeps,
      exclude: { path: 'node_modules' },
    },
    config.options.enhancedResolveOptions,
  );
  return output as ICruiseResult;
}

function violations(result: ICruiseResult): string[] {
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

/** Folders of src (root files excepted) and which folders each imports. */
function folderGraph(result: ICruiseResult): Map<string, Set<string>> {
  const folderOf = (path: string) => /^src\/([^/]+)\//.exec(path)?.[1];
  const graph = new Map<string, Set<string>>();
  for (const module of result.modules) {
    const from = folderOf(module.source);
    if (!from || module.source.endsWith('.test.ts')) continue;
    const out = graph.get(from) ?? new Set<string>();
    graph.set(from, out);
    for (const dep of module.dependencies) {
      const to = folderOf(dep.resolved);
      if (to && to !== from) out.add(to);
    }
  }
  return graph;
}

/** Every cycle between folders, each as a path `a → b → a` (strongly connected components of size > 1). */
function folderCycles(graph: Map<string, Set<string>>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) component.push(w);
      if (component.length > 1) cycles.push(`${component.reverse().join(' → ')} → ${v}`);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

describe('module boundaries', () => {
  it('no stage imports another stage, leaves import no module, nothing imports the composition root', async () => {
    const result = await cruiseTree(PROJECT_ROOT);
    expect(result.summary.totalCruised).toBeGreaterThan(100);
    expect(violations(result)).toEqual([]);
  });

  it('the folders of src form no cycle', async () => {
    expect(folderCycles(folderGraph(await cruiseTree(PROJECT_ROOT)))).toEqual([]);
  });

  describe('catches what is planted in a tree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-boundaries-'));
    const plant = (file: string, source: string) => {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), source);
    };
    plant(
      'src/alerts/dispatcher.ts',
      "import { send } from '../channels/webhook.ts';\nexport const d = send;\n",
    );
    plant('src/channels/webhook.ts', 'export const send = 1;\n');
    // a part of the dispatcher reaching past the alert store for the SQLite connection
    plant(
      'src/alerts/lifecycle.ts',
      "import type { Db } from '../storage/sqlite.ts';\nexport type L = Db;\n",
    );
    plant('src/storage/sqlite.ts', 'export type Db = 1;\n');
    plant('src/ingest/pipeline.ts', "import { d } from '../alerts/dispatcher.ts';\nexport const p = d;\n");
    plant('src/domain/places.ts', "import type { R } from '../registry/types.ts';\nexport type P = R;\n");
    plant('src/registry/types.ts', "import type { P } from '../domain/places.ts';\nexport type R = P | 1;\n");
    plant('src/hub.ts', "import { p } from './ingest/pipeline.ts';\nexport const hub = p;\n");
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('a stage importing another stage, a dispatcher part past its store, and a folder cycle', async () => {
      const result = await cruiseTree(dir);
      expect(violations(result).sort()).toEqual([
        'dispatcher-beside-its-store: src/alerts/lifecycle.ts → src/storage/sqlite.ts',
        'stage-imports-stage: src/ingest/pipeline.ts → src/alerts/dispatcher.ts',
      ]);
      expect(folderCycles(folderGraph(result))).toEqual(['domain → registry → domain']);
    });
  });
});
