/**
 * The demo seed on real databases: awkward values stored exactly, relations present,
 * deterministic, same shape on both dialects, refuses a non-empty database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGuardError } from '../../lib/core/errors.ts';
import type { Queryable } from '../../lib/core/types.ts';
import type { SeedSummary } from '../../prisma/seed.ts';
import { DIALECTS, demoDatabase, rawQueryable, seedDemo, type FreshDatabase } from '../helpers/db.ts';

const T = 300_000;
const TABLES = ['users', 'posts', 'tags', '_PostToTag', 'comments', 'products', 'orders', 'order_items'] as const;
const summaries: Partial<Record<(typeof DIALECTS)[number], SeedSummary>> = {};

/** Every row of every demo table, as the driver returns them, in primary key order. */
async function dump(q: Queryable): Promise<Record<string, unknown[]>> {
  const order: Record<string, string> = { _PostToTag: '"A", "B"', order_items: 'order_id, product_id' };
  const out: Record<string, unknown[]> = {};
  for (const t of TABLES) out[t] = await q.query(`SELECT * FROM "${t}" ORDER BY ${order[t] ?? 'id'}`);
  return out;
}

for (const dialect of DIALECTS) {
  describe(`seed on ${dialect}`, () => {
    let db: FreshDatabase & { summary?: SeedSummary };
    let q: Queryable & { close(): Promise<void> };

    beforeAll(async () => {
      db = await demoDatabase(dialect);
      q = await rawQueryable(db.url);
      summaries[dialect] = db.summary;
    }, T);
    afterAll(async () => {
      await q?.close();
      await db?.drop();
    }, T);

    it('reports what it inserted: a few hundred rows by default', async () => {
      const s = db.summary!;
      expect(s.dialect).toBe(dialect);
      expect(s.counts.users).toBe(50);
      expect(s.total).toBeGreaterThan(250);
      expect(s.total).toBeLessThan(1000);
      for (const t of TABLES) {
        const [{ n }] = await q.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM "${t}"`);
        expect(Number(n), t).toBe(s.counts[t]);
        expect(s.counts[t], t).toBeGreaterThan(0);
      }
    }, T);

    it('stores the awkward values exactly', async () => {
      const txt = (col: string) => (dialect === 'sqlite' ? `CAST(${col} AS TEXT)` : `${col}::text`);
      const users = await q.query<Record<string, unknown>>(
        `SELECT id, email, name, bio, karma, ${txt('balance_cents')} AS balance, ${txt('credit')} AS credit, rating, ${txt('birth_date')} AS birth_date, avatar, invited_by_id
         FROM users WHERE id <= 4 ORDER BY id`,
      );
      const [zoe, jurgen, empty, nul] = users;
      expect(zoe.name).toBe("Zoë O'Brien-Ünal 🚀");
      expect(zoe.bio).toBe('Says "hi" \\ then leaves.\nSecond line\twith a tab; C:\\Users\\zoe; Robert\'); DROP TABLE users;--');
      expect(jurgen.email).toBe('jürgen.müller@example.de');
      expect(jurgen.bio).toContain('👩‍💻');
      expect([zoe.karma, jurgen.karma]).toEqual([2147483647, -2147483648]);
      expect(users.map((u) => u.balance)).toEqual(['9007199254740993', '-9223372036854775808', '9223372036854775807', '-9007199254740993']);
      expect(empty.name).toBe('');
      expect(empty.bio).toBe('');
      expect(nul.name).toBeNull();
      expect(nul.bio).toBeNull();
      expect(Number(zoe.rating)).toBe(1.5e308);
      expect(Number(jurgen.rating)).toBe(-5e-324);
      if (dialect === 'postgres') {
        expect(zoe.credit).toBe('12345678901234567890123456789012345.123456789012345678901234567891');
        expect(jurgen.credit).toBe('-99999999999999999999999999999999999.999999999999999999999999999999');
        expect(nul.credit).toBe('0.000000000000000000000000000001');
        expect(zoe.birth_date).toBe('1969-07-20 20:17:40.123'); // timestamp(3), UTC by Prisma's convention
        expect(empty.birth_date).toBe('1969-12-31 23:59:59.999');
      } else {
        expect(zoe.credit).toBe('1234567.875');
        expect(zoe.birth_date).toBe('1969-07-20T20:17:40.123+00:00');
        expect(empty.birth_date).toBe('1969-12-31T23:59:59.999+00:00');
      }
      expect(Buffer.from(zoe.avatar as Uint8Array).toString('hex')).toBe('00000102ff000a0d008000');
      expect(Buffer.from(jurgen.avatar as Uint8Array).length).toBe(0); // empty, not NULL
      expect(nul.avatar).toBeNull();
      expect(zoe.invited_by_id).toBeNull();
      expect(empty.invited_by_id).not.toBeNull();

      const [prefs] = await q.query<{ p: string }>(`SELECT ${txt('preferences')} AS p FROM users WHERE id = 1`);
      const parsed = JSON.parse(prefs.p);
      expect(parsed.notifications.digest.tz).toBe('Europe/Zürich');
      expect(parsed.maxSafe).toBe(9007199254740991);
      expect(parsed.tiny).toBe(5e-324);
      expect(parsed['key with "quotes" and \\']).toBe('value\nwith newline');
    }, T);

    it('links rows: self-relation, many-to-many, cascading comments, anonymous comments, composite keys', async () => {
      const one = async (sql: string) => Number((await q.query<{ n: number | string }>(sql))[0].n);
      expect(await one(`SELECT COUNT(*) AS n FROM users WHERE invited_by_id IS NOT NULL`)).toBe(48);
      expect(await one(`SELECT COUNT(*) AS n FROM users u JOIN users i ON i.id = u.invited_by_id WHERE i.id >= u.id`)).toBe(0);
      expect(await one(`SELECT COUNT(DISTINCT "B") AS n FROM "_PostToTag"`)).toBeGreaterThan(5);
      expect(await one(`SELECT COUNT(*) AS n FROM comments WHERE author_id IS NULL`)).toBeGreaterThan(0);
      expect(await one(`SELECT COUNT(*) AS n FROM posts WHERE metadata IS NULL`)).toBeGreaterThan(0);
      if (dialect === 'postgres') {
        expect(await one(`SELECT COUNT(*) AS n FROM posts WHERE metadata = 'null'::jsonb`)).toBeGreaterThan(0); // JSON null, not SQL NULL
        expect(await one(`SELECT COUNT(*) AS n FROM posts WHERE keywords = '{}'`)).toBeGreaterThan(0);
        expect(await one(`SELECT COUNT(*) AS n FROM posts WHERE 'NULL' = ANY(keywords) OR '' = ANY(keywords)`)).toBeGreaterThan(0);
      } else {
        expect(await one(`SELECT COUNT(*) AS n FROM posts WHERE metadata = 'null'`)).toBeGreaterThan(0);
      }
      // Orders' totals agree with their items.
      const bad = await q.query(
        `SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id, o.total_cents
         HAVING o.total_cents <> CAST(ROUND(SUM(i.quantity * i.unit_price) * 100) AS BIGINT)`,
      );
      expect(bad).toEqual([]);
    }, T);

    it('refuses to seed a database that already has users', async () => {
      let err: unknown;
      try {
        await seedDemo(db.url);
      } catch (e) {
        err = e;
      }
      expect(isGuardError(err) && err.code).toBe('SEED_NOT_EMPTY');
    }, T);

    if (dialect === 'sqlite') {
      it('is deterministic: a second database gets identical rows', async () => {
        const again = await demoDatabase(dialect);
        const q2 = await rawQueryable(again.url);
        try {
          expect(await dump(q2)).toEqual(await dump(q));
        } finally {
          await q2.close();
          await again.drop();
        }
      }, T);
    }
  });
}

describe('seed across dialects', () => {
  it('inserts the same number of rows per table on SQLite and PostgreSQL', () => {
    expect(summaries.sqlite?.counts).toBeDefined();
    expect(summaries.postgres?.counts).toEqual(summaries.sqlite?.counts);
  });
});
