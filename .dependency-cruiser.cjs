/**
 * The import rules of ARCHITECTURE.md, checked by test/architecture/boundaries.test.ts (and by hand with
 * `npx depcruise src --config .dependency-cruiser.cjs`).
 *
 * Stages carry the flow broker → ingest → rules → telemetry sink and dispatcher (alerts) → channels; they never
 * import each other, except the dispatcher its delivery channels (the one step of the flow that is a library
 * call). Shared leaves hold what stages share and import no stage. Only the composition root (src/hub.ts, with
 * src/start.ts and src/main.ts) knows every part. Folder cycles are checked in the test.
 */
const STAGES = 'ingest|rules|telemetry|alerts|channels';
const LEAVES = 'domain|catalogue|clock|observability|storage|runtime|settings|http|registry';
const notTests = '\\.test\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'stage-imports-stage',
      comment: 'a stage reaches another stage only through the composition root (src/hub.ts)',
      severity: 'error',
      from: { path: `^src/(ingest|rules|telemetry|channels)/`, pathNot: notTests },
      to: { path: `^src/(${STAGES})/`, pathNot: '^src/$1/' },
    },
    {
      name: 'dispatcher-imports-upstream-stage',
      comment: 'the dispatcher may use its delivery channels, never ingest, rules or the telemetry store',
      severity: 'error',
      from: { path: '^src/alerts/', pathNot: notTests },
      to: { path: '^src/(ingest|rules|telemetry)/' },
    },
    {
      name: 'dispatcher-beside-its-store',
      comment:
        "the dispatcher's parts record and read through the alert store (src/alerts/alert-store.ts); only its SQLite implementation and the small stores beside it hold the connection",
      severity: 'error',
      from: {
        path: '^src/alerts/',
        pathNot: `${notTests}|^src/alerts/(sqlite-[a-z-]+|outbox-claims|residents|audit-log|quiet-hours|channel-targets)\\.ts$`,
      },
      to: { path: '^src/storage/sqlite(-kysely)?\\.ts$|better-sqlite3' },
    },
    {
      name: 'leaf-imports-module',
      comment: 'shared leaves are below every stage: they import only other leaves',
      severity: 'error',
      from: { path: `^src/(${LEAVES})/`, pathNot: notTests },
      to: { path: '^src/', pathNot: `^src/(${LEAVES})/` },
    },
    {
      name: 'api-imports-stage',
      comment: 'the HTTP app is built from the routes the composition root hands it',
      severity: 'error',
      from: { path: '^src/(api|demo)/', pathNot: notTests },
      to: { path: `^src/(${STAGES})/` },
    },
    {
      name: 'config-imports-beyond-sections',
      comment: "the config loader reads each module's own section schema (config.ts) and nothing else of it",
      severity: 'error',
      from: { path: '^src/config/', pathNot: notTests },
      to: { path: `^src/(${STAGES})/`, pathNot: `^src/(${STAGES})/config\\.ts$` },
    },
    {
      name: 'only-the-root-imports-the-root',
      comment: 'nothing inside a folder depends on the composition root',
      severity: 'error',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'src-imports-outside',
      comment: 'the hub does not depend on tests, benchmarks, the simulator or the dashboards',
      severity: 'error',
      from: { path: '^src/', pathNot: notTests },
      to: { path: '^(test|bench|devices-sim|dashboards|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'a relative import that resolves to no file (packages are checked by tsc)',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, path: '^\\.\\.?/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|test|bench|devices-sim|dashboards|scripts)/',
    // type-only imports couple folders too
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.js', '.mjs'],
      conditionNames: ['import', 'require', 'node', 'types', 'default'],
    },
  },
};
