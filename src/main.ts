/**
 * `npm start` and `npm run start:prod` enter here. On Node 22.1 and later the compiled code of every module is
 * cached on disk, so a restart skips most of the parsing that dominates start-up (measured: about 60 % of the
 * time to ready went to compiling modules). The hub itself is imported only after the cache is on, since static
 * imports would be compiled before any line here runs. `NODE_COMPILE_CACHE` chooses the folder;
 * `NODE_DISABLE_COMPILE_CACHE=1` turns it off.
 */
import module from 'node:module';

const withCache = module as typeof module & { enableCompileCache?: (dir?: string) => unknown };
withCache.enableCompileCache?.();

await import('./start.ts');
