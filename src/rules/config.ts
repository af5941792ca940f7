import { z } from 'zod';
import { bool, duration, int } from '../settings/fields.ts';

/** `rules` section: env GRIDHUB_RULES_<KEY>. */
export const rulesConfigSchema = z.object({
  /** Folder of rule files (JSON or YAML); relative paths are under the data dir. Watched for changes. */
  dir: z.string().default('rules'),
  /** Load the default rule pack under the folder's rules (the folder's files override it by id). */
  defaultPack: bool(true),
  /** Apply edits of files in the rules folder without a restart. */
  watch: bool(true),
  /** How often changed rule state (last-seen times, windows) is written to SQLite; phase changes go at once. */
  stateFlushMs: duration(1000),
  /** How often last-seen times (for offline detection) are written; a crash loses at most this much. */
  presenceFlushMs: duration(15_000),
  /** Wall-clock budget of one sandbox run (POST /api/rules/test, on a worker thread); over it: 422. */
  sandboxTimeoutMs: duration(10_000),
  /** Heap budget of the sandbox worker thread, in MB; a run that needs more: 422. */
  sandboxMemoryMb: int(256, 32, 4096),
});

export type RulesConfig = z.output<typeof rulesConfigSchema>;
