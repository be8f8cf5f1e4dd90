/**
 * The backup most projects write by hand, as a benchmark anchor: read every table with
 * SELECT * into memory, JSON.stringify the lot, write one file. No snapshot, no streaming, no
 * checksums; memory grows with the database until it no longer fits.
 *
 *   tsx bench/naive.ts --url URL --out FILE
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseDatabaseUrl } from '../lib/core/url.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' }, out: { type: 'string' } } });
  if (!values.url || !values.out) throw new Error('usage: tsx bench/naive.ts --url URL --out FILE');
  const target = parseDatabaseUrl(values.url);
  const dump: Record<string, unknown[]> = {};
  if (target.dialect === 'sqlite') {
    const db = new Database(target.file!, { readonly: true });
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[];
    for (const { name } of tables) dump[name] = db.prepare(`SELECT * FROM "${name}"`).all();
    db.close();
  } else {
    const u = new URL(values.url);
    u.searchParams.delete('schema');
    const client = new pg.Client({ connectionString: u.toString() });
    await client.connect();
    const tables = await client.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [target.schema ?? 'public']);
    for (const { tablename } of tables.rows) dump[tablename] = (await client.query(`SELECT * FROM "${tablename}"`)).rows;
    await client.end();
  }
  writeFileSync(values.out, JSON.stringify(dump, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exitCode = 1;
});
