// A separate process migrating a SQLite file, as a second hub on the same data dir would
// (test/storage/sql-store.test.ts). Prints the versions it applied as JSON.
import { migrateModule } from '../../src/storage/migrations.ts';
import { openDatabase } from '../../src/storage/sqlite.ts';
import { sqliteStore } from '../../src/storage/sqlite-kysely.ts';
import { THINGS } from './things.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: migrate-child.ts FILE');
const db = openDatabase(file);
const applied = await migrateModule(sqliteStore(db), 'test', THINGS);
db.close();
process.stdout.write(JSON.stringify(applied));
