/**
 * `check` on any schema: every table with its row count and checksum; a users summary only when the
 * schema has a users table (recognised, or named with --users-table / CHECK_USERS_TABLE).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { demoDatabase, DIALECTS, freshDatabase, rawQueryable, type FreshDatabase } from '../helpers/db.ts';

for (const dialect of DIALECTS) {
  describe(`check on ${dialect}, a schema without a User table`, () => {
    let db: FreshDatabase;
    const check = (args: string[] = [], env: Record<string, string> = {}) => runCli(['check', ...args], { DATABASE_URL: db.url, CHECK_USERS_TABLE: '', CHECK_USERS_COLUMNS: '', ...env });

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      const q = await rawQueryable(db.url);
      const serial = dialect === 'postgres' ? 'serial' : 'integer';
      await q.exec(`CREATE TABLE website (id ${serial} PRIMARY KEY, domain text NOT NULL, created_at text)`);
      await q.exec(`CREATE TABLE pageview (id ${serial} PRIMARY KEY, website_id integer NOT NULL, path text)`);
      // Named like a users table, but without an e-mail column: not a users table.
      await q.exec(`CREATE TABLE users (id ${serial} PRIMARY KEY, handle text)`);
      await q.exec(`INSERT INTO website (domain, created_at) VALUES ('a.example', '2024-01-02T00:00:00Z'), ('b.example', '2023-05-06T00:00:00Z'), ('c.example', NULL)`);
      await q.exec(`INSERT INTO pageview (website_id, path) VALUES (1, '/'), (1, '/about'), (2, '/')`);
      await q.exec(`INSERT INTO users (handle) VALUES ('x')`);
      await q.close();
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('prints every table with count and checksum and nothing about users', async () => {
      const r = await check();
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines.filter((l) => /^(pageview|users|website)\s+\d+\s+[0-9a-f]{64}$/.test(l)).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['pageview 3', 'users 1', 'website 3']);
      // The report ends with the total: no users section, no trailing blank lines.
      expect(r.stdout).toMatch(/\ntotal\s+7\n$/);
      expect(r.stdout).not.toMatch(/User/);
      const json = JSON.parse((await check(['--json'])).stdout);
      expect(json.users).toBeNull();
      expect(Object.keys(json.tables).sort()).toEqual(['pageview', 'users', 'website']);
      expect(json.rowsTotal).toBe(7);
    });

    it('summarises the table named with --users-table and the columns of --users-columns (or the env vars)', async () => {
      const r = await check(['--users-table', 'website', '--users-columns', 'domain,id']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\n\nUsers \(table website\): 3\n  oldest created_at: 2023-05-06T00:00:00Z\n  newest created_at: 2024-01-02T00:00:00Z\n  a\.example  1\n  b\.example  2\n  c\.example  3\n$/);
      const viaEnv = await check([], { CHECK_USERS_TABLE: 'website', CHECK_USERS_COLUMNS: 'domain,id' });
      expect(viaEnv.stdout).toBe(r.stdout);
      const json = JSON.parse((await check(['--json', '--users-table', 'users'])).stdout);
      // Default columns of a named table without an e-mail column: its primary key.
      expect(json.users).toEqual({ table: 'users', count: 1, columns: ['id'], createdAtColumn: null, oldestCreatedAt: null, newestCreatedAt: null, first: [{ id: 1 }] });
    });

    it('refuses an unknown users table or column with exit 2, naming what exists', async () => {
      const t = await check(['--users-table', 'account']);
      expect(t.code).toBe(2);
      expect(t.stderr).toMatch(/The users table "account" does not exist/);
      expect(t.stderr).toMatch(/hint: .*tables: pageview, users, website/);
      const c = await check(['--users-table', 'website', '--users-columns', 'id,email']);
      expect(c.code).toBe(2);
      expect(c.stderr).toMatch(/has no column "email"/);
      expect(c.stderr).toMatch(/id, domain, created_at/);
      const j = JSON.parse((await check(['--json'], { CHECK_USERS_TABLE: 'account' })).stdout);
      expect(j).toMatchObject({ ok: false, error: { code: 'USAGE', exitCode: 2 } });
    });
  });
}

describe('check on the demo schema (SQLite)', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await demoDatabase('sqlite', { users: 7 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('recognises the users table and shows id and email of the first five', async () => {
    const r = await runCli(['check', '--json'], { DATABASE_URL: db.url, CHECK_USERS_TABLE: '', CHECK_USERS_COLUMNS: '' });
    const json = JSON.parse(r.stdout);
    expect(json.users.table).toBe('users');
    expect(json.users.count).toBe(7);
    expect(json.users.columns).toEqual(['id', 'email']);
    expect(json.users.first).toHaveLength(5);
    expect(json.users.first[0]).toEqual({ id: 1, email: expect.stringContaining('@') });
    const text = await runCli(['check'], { DATABASE_URL: db.url, CHECK_USERS_TABLE: '', CHECK_USERS_COLUMNS: '' });
    expect(text.stdout).toMatch(/\n\nUsers \(table users\): 7\n/);
    expect(text.stdout).toMatch(/\n {2}1 {2}\S+@\S+\n/);
  });
});
