import { z } from 'zod';
import { bool, duration } from '../settings/fields.ts';

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
});

export type RulesConfig = z.output<typeof rulesConfigSchema>;
