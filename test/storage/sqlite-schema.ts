import type { Db } from '../../src/storage/sqlite.ts';

/**
 * What a SQLite schema is, as far as the code reading and writing it can tell: per table its columns (name,
 * type affinity, NOT NULL, default, primary-key position, generated or not) and its indexes (columns in order
 * with their direction, unique or not, partial or not), and the CHECK constraints of the table. Declared type
 * names are reduced to their affinity (`bigint` and `INTEGER` store the same), so a schema written with Kysely
 * compares equal to the SQL it replaces. `schema_migrations` is left out: it records how a schema came to be,
 * not what it is.
 */
export type SchemaSnapshot = Record<string, string[]>;

/** One line per column, index, foreign key and CHECK of each table: a diff names what differs. */
export function snapshotSqliteSchema(db: Db): SchemaSnapshot {
  const tables = db
    .prepare<[], { name: string; sql: string }>(
      "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name",
    )
    .all();
  const out: SchemaSnapshot = {};
  for (const { name, sql } of tables) {
    const lines: string[] = [];
    const columns = db
      .prepare<
        [],
        { name: string; type: string; notnull: number; dflt_value: string | null; pk: number; hidden: number }
      >(`SELECT * FROM pragma_table_xinfo('${name}')`)
      .all();
    for (const c of columns) {
      let line = `column ${c.name} ${affinity(c.type)}`;
      if (c.notnull === 1) line += ' not null';
      if (c.dflt_value !== null) line += ` default ${normaliseDefault(c.dflt_value)}`;
      if (c.pk > 0) line += ` primary key ${c.pk}`;
      if (c.hidden === 2 || c.hidden === 3) line += ' generated';
      lines.push(line);
    }
    const indexes = db
      .prepare<[], { name: string; unique: number; origin: string; partial: number }>(
        `SELECT * FROM pragma_index_list('${name}')`,
      )
      .all();
    for (const i of indexes) {
      // the automatic indexes of a PRIMARY KEY or UNIQUE are named by SQLite: what they cover is what counts
      const label = i.origin === 'c' ? i.name : i.origin === 'pk' ? '(primary key)' : '(unique)';
      lines.push(
        `index ${label} (${indexColumns(db, i.name).join(', ')})${i.unique === 1 ? ' unique' : ''}${i.partial === 1 ? ' partial' : ''}`,
      );
    }
    const keys = db
      .prepare<[], { from: string; table: string; to: string | null; on_delete: string }>(
        `SELECT * FROM pragma_foreign_key_list('${name}')`,
      )
      .all();
    for (const k of keys)
      lines.push(`foreign key ${k.from} -> ${k.table}(${k.to ?? ''}) on delete ${k.on_delete.toLowerCase()}`);
    for (const c of parenthesised(sql, /\bcheck\s*\(/gi)) lines.push(`check ${c}`);
    for (const g of parenthesised(sql, /\bgenerated\s+always\s+as\s*\(/gi)) lines.push(`generated as ${g}`);
    out[name] = lines.sort();
  }
  return out;
}

function indexColumns(db: Db, index: string): string[] {
  return db
    .prepare<[], { name: string | null; desc: number; key: number }>(
      `SELECT * FROM pragma_index_xinfo('${index}')`,
    )
    .all()
    .filter((c) => c.key === 1)
    .map((c) => `${c.name ?? '<expr>'}${c.desc === 1 ? ' desc' : ''}`);
}

/** SQLite's affinity rules (datatype3.html, 3.1), in their order. */
function affinity(declared: string): string {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

function normaliseDefault(value: string): string {
  return value.replace(/^\((.*)\)$/, '$1').replace(/"/g, "'");
}

/** The parenthesised expressions after each match of `opener` (which ends at the "("), whitespace, quoting and case folded. */
function parenthesised(sql: string, opener: RegExp): string[] {
  const found: string[] = [];
  for (let m = opener.exec(sql); m !== null; m = opener.exec(sql)) {
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    while (i < sql.length && depth > 0) {
      if (sql[i] === '(') depth++;
      else if (sql[i] === ')') depth--;
      i++;
    }
    found.push(
      sql
        .slice(start, i - 1)
        .replace(/[`"]/g, '')
        .replace(/\s+/g, ' ')
        .replace(/\s*([(),=<>!])\s*/g, '$1')
        .trim()
        .toLowerCase(),
    );
  }
  return found.sort();
}
