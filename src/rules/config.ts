import { z } from 'zod';

/** `rules` section: env GRIDHUB_RULES_<KEY>. */
export const rulesConfigSchema = z.object({
  /** Folder of rule files (JSON or YAML); relative paths are under the data dir. Watched for changes. */
  dir: z.string().default('rules'),
});

export type RulesConfig = z.output<typeof rulesConfigSchema>;
