/**
 * Seeds the demo blog + shop with deterministic, deliberately awkward data: the values a backup
 * and restore must carry across unchanged (unicode/emoji, quotes and backslashes, control
 * characters, '' vs NULL, Int/BigInt extremes, 65-digit decimals on PostgreSQL, Float extremes,
 * dates before 1970 and with milliseconds, nested JSON, binary with zero bytes, a self-relation,
 * many-to-many links, and PostgreSQL text arrays).
 *
 * Library: `await seed(databaseUrl, { users: 50 })` (the database must be migrated and empty).
 * CLI:     `tsx prisma/seed.ts [--users N]` (uses DATABASE_URL).
 * Same inputs, same rows: no clock, no Math.random (a seeded PRNG drives every choice).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuardError, isGuardError, messageOf } from '../lib/core/errors.ts';
import { parseDatabaseUrl, redactSecrets, type DialectName } from '../lib/core/url.ts';
import { createAdapter, PROJECT_ROOT } from './adapter.ts';
import type { PrismaClient as SqliteClient } from './generated/sqlite/client.ts';
import { seededRandom } from '../lib/core/random.ts';

export interface SeedOptions {
  /** Number of users (default 50: a few hundred rows in total). Other tables scale with it. */
  users?: number;
}

/** Rows inserted per table (database table names). */
export interface SeedSummary {
  dialect: DialectName;
  counts: {
    users: number;
    posts: number;
    tags: number;
    _PostToTag: number;
    comments: number;
    products: number;
    orders: number;
    order_items: number;
  };
  total: number;
}

export const DEFAULT_SEED_USERS = 50;

/**
 * FLOAT_NOTE: Prisma 6.19's client (engineType "client") sends Float and Json numbers rounded to 16
 * significant digits: 1.7976931348623157e308 (Number.MAX_VALUE) was stored as Infinity and JSON
 * 0.30000000000000004 as 0.3. The seed only uses numbers with at most 16 significant digits, so the
 * rows hold exactly the values written here.
 */
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
const BIGINT_MIN = -9223372036854775808n;
const BIGINT_MAX = 9223372036854775807n;
const BASE_TIME = Date.UTC(2024, 0, 1, 8, 0, 0, 0);
const HOUR = 3_600_000;

const FIRST = ['Ada', 'Grace', 'Linus', 'Zoë', 'José', 'Ngozi', 'Søren', 'Mei', 'Ångström', 'Olúwaseun', 'Priya', 'Ivan', 'Fatima', 'Kenji', 'Chloé', 'Dmitri'];
const LAST = ["O'Brien", 'Müller', 'Nakamura', 'García', 'Ólafsdóttir', 'Smith', 'Nguyễn', 'Kowalski', 'Dubois', 'Okafor', 'Öztürk', 'Łukasz'];
const TAGS = ['prisma', 'sqlite', 'postgres', 'backups', 'c++', 'ünïcödé', 'emoji-🎉', 'how-to', 'release notes', "o'reilly", 'json', '日本語'];
const WORDS = ['data', 'backup', 'restore', 'schema', 'migration', 'index', 'query', 'table', 'row', 'column', 'shadow', 'drift', 'checksum', 'cursor', 'snapshot', 'vacuum'];
const KEYWORDS = ['prisma', 'backup', '', 'with,comma', 'quote"d', 'NULL', 'back\\slash', '{braces}', 'space inside', 'ümlaut'];

/** The awkward users come first; the rest are ordinary, generated from the PRNG. */
interface UserSeed {
  email: string;
  name: string | null;
  role: 'READER' | 'AUTHOR' | 'ADMIN';
  bio: string | null;
  isActive: boolean;
  karma: number;
  balanceCents: bigint;
  rating: number | null;
  credit: string;
  birthDate: Date | null;
  createdAt: Date;
  updatedAt: Date;
  lastLoginAt: Date | null;
  preferences: unknown;
  avatar: Uint8Array<ArrayBuffer> | null;
}

function specialUsers(dialect: DialectName): UserSeed[] {
  const t = (h: number, ms = 0) => new Date(BASE_TIME + h * HOUR + ms);
  // PostgreSQL decimal(65,30): 35 integer digits and 30 fractional digits. SQLite's DECIMAL column
  // has NUMERIC affinity (values become 8-byte REALs), so it gets a value a double holds exactly.
  const bigCredit = dialect === 'postgres' ? '12345678901234567890123456789012345.123456789012345678901234567891' : '1234567.875';
  const negCredit = dialect === 'postgres' ? '-99999999999999999999999999999999999.999999999999999999999999999999' : '-0.125';
  return [
    {
      email: 'zoe.obrien@example.com',
      name: "Zoë O'Brien-Ünal 🚀",
      role: 'ADMIN',
      bio: 'Says "hi" \\ then leaves.\nSecond line\twith a tab; C:\\Users\\zoe; Robert\'); DROP TABLE users;--',
      isActive: true,
      karma: INT_MAX,
      balanceCents: 9007199254740993n, // 2^53 + 1: not representable as a JS number
      rating: 1.5e308, // near Number.MAX_VALUE (see FLOAT_NOTE)
      credit: bigCredit,
      birthDate: new Date('1969-07-20T20:17:40.123Z'), // before the epoch, with milliseconds
      createdAt: t(0, 1),
      updatedAt: t(1, 999),
      lastLoginAt: t(2, 7),
      preferences: {
        theme: 'dark',
        notifications: { email: true, push: false, digest: { every: 'week', at: '08:00', tz: 'Europe/Zürich' } },
        pi: 3.141592653589793,
        tiny: 5e-324,
        huge: 1.5e308,
        negative: -1234567890.123456,
        maxSafe: 9007199254740991,
        minSafe: -9007199254740991,
        emptyString: '',
        nothing: null,
        list: [1, 'two', [3, [4, { five: 5 }]], true, null],
        'key with "quotes" and \\': 'value\nwith newline',
      },
      avatar: new Uint8Array([0, 0, 1, 2, 255, 0, 10, 13, 0, 128, 0]),
    },
    {
      email: 'jürgen.müller@example.de',
      name: 'Jürgen Müller',
      role: 'AUTHOR',
      bio: '👩‍💻 Entwickler — 日本語 — مرحبا — 🇩🇪 — e\u0301 (combining accent)',
      isActive: false,
      karma: INT_MIN,
      balanceCents: BIGINT_MIN,
      rating: -5e-324, // smallest negative subnormal
      credit: negCredit,
      birthDate: new Date('1900-01-01T00:00:00.000Z'),
      createdAt: t(3, 500),
      updatedAt: t(3, 500),
      lastLoginAt: null,
      preferences: [],
      avatar: new Uint8Array(0), // empty, not NULL
    },
    {
      email: 'empty.strings@example.com',
      name: '', // empty string, not NULL
      role: 'READER',
      bio: '',
      isActive: true,
      karma: 0,
      balanceCents: BIGINT_MAX,
      rating: 0,
      credit: '0',
      birthDate: new Date('1969-12-31T23:59:59.999Z'), // one millisecond before the epoch
      createdAt: t(4),
      updatedAt: t(4),
      lastLoginAt: new Date('1970-01-01T00:00:00.000Z'),
      preferences: {},
      avatar: new Uint8Array([0]),
    },
    {
      email: 'null.everything@example.com',
      name: null,
      role: 'READER',
      bio: null,
      isActive: true,
      karma: -1,
      balanceCents: -9007199254740993n,
      rating: null,
      credit: dialect === 'postgres' ? '0.000000000000000000000000000001' : '0.5', // PG: the smallest decimal(65,30) step
      birthDate: null,
      createdAt: t(5, 123),
      updatedAt: t(5, 456),
      lastLoginAt: null,
      preferences: null, // Prisma.DbNull is used for this below (SQL NULL, not JSON null)
      avatar: null,
    },
  ];
}

function ordinaryUser(i: number, rnd: () => number): UserSeed {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const first = pick(FIRST);
  const last = pick(LAST);
  const r = rnd();
  const role = r < 0.1 ? 'ADMIN' : r < 0.45 ? 'AUTHOR' : 'READER';
  const createdMs = BASE_TIME + (10 + i * 7) * HOUR + Math.floor(rnd() * 1000);
  return {
    email: `${first}.${last}.${i}@example.org`
      .toLowerCase()
      .normalize('NFD')
      .replace(/[^a-z0-9.@]/g, ''),
    name: `${first} ${last}`,
    role,
    bio: rnd() < 0.3 ? null : `Writes about ${pick(WORDS)} and ${pick(WORDS)}.`,
    isActive: rnd() < 0.9,
    karma: Math.floor(rnd() * 10_000) - 500,
    balanceCents: BigInt(Math.floor(rnd() * 1_000_000)) * 1_000_003n - 50_000_000n,
    rating: rnd() < 0.2 ? null : Math.round(rnd() * 5 * 1e6) / 1e6,
    credit: (Math.floor(rnd() * 10_000_000) / 1000).toFixed(3),
    birthDate: rnd() < 0.25 ? null : new Date(Date.UTC(1940 + Math.floor(rnd() * 65), Math.floor(rnd() * 12), 1 + Math.floor(rnd() * 28), 0, 0, 0, Math.floor(rnd() * 1000))),
    createdAt: new Date(createdMs),
    updatedAt: new Date(createdMs + Math.floor(rnd() * 100 * HOUR)),
    lastLoginAt: rnd() < 0.4 ? null : new Date(createdMs + Math.floor(rnd() * 1000 * HOUR)),
    preferences: rnd() < 0.5 ? null : { theme: pick(['light', 'dark', 'system']), pageSize: 10 + Math.floor(rnd() * 90), beta: rnd() < 0.1 },
    avatar: rnd() < 0.7 ? null : Uint8Array.from({ length: 8 + Math.floor(rnd() * 24) }, () => Math.floor(rnd() * 256)),
  };
}

const PRODUCTS: { sku: string; name: string; price: string; weightKg: number; attributes: unknown }[] = [
  { sku: 'MUG-001', name: 'Mug "Backup or it didn\'t happen"', price: '12.50', weightKg: 0.35, attributes: { colour: 'white', dishwasher: true } },
  { sku: 'TEE-BLK-M', name: 'T-shirt — black, M', price: '24.99', weightKg: 0.2, attributes: { size: 'M', sizes: ['S', 'M', 'L', 'XL'] } },
  { sku: 'STICKER-🦕', name: 'Sticker 🦕 (dinosaur)', price: '0.01', weightKg: 0.001, attributes: {} },
  { sku: 'BOOK-ÜBER', name: 'Über-Buch der Datenbanken', price: '49.00', weightKg: 1.25, attributes: { isbn: '978-3-16-148410-0', pages: 1024 } },
  { sku: 'RACK-42U', name: 'Server rack 42U', price: '9999999999.99', weightKg: 118.75, attributes: { shipping: { freight: true, pallets: 1 } } },
  { sku: 'CABLE\\PATH', name: 'Cable with a \\ backslash in its SKU', price: '3.30', weightKg: 0.05, attributes: { lengthM: 1.5 } },
  { sku: 'GIFT-0', name: 'Free gift', price: '0.00', weightKg: 0, attributes: { note: null } },
];

const STATUSES = ['PENDING', 'PAID', 'SHIPPED', 'CANCELLED'] as const;

/**
 * Seeds the (migrated, empty) demo database at `databaseUrl`. Deterministic for a given
 * `users`. Throws GuardError SEED_NOT_EMPTY when users already exist.
 */
export async function seed(databaseUrl: string, opts: SeedOptions = {}): Promise<SeedSummary> {
  const target = parseDatabaseUrl(databaseUrl, PROJECT_ROOT);
  const dialect = target.dialect;
  const userCount = opts.users ?? DEFAULT_SEED_USERS;
  if (!Number.isInteger(userCount) || userCount < 4) {
    throw new GuardError('USAGE', `Cannot seed ${userCount} users: the seed needs an integer of at least 4.`, { hint: 'Use --users 50 (the default) or more.' });
  }
  // The two generated clients have the same API except Post.keywords (PostgreSQL only), so the
  // code below is typed against the SQLite client and adds keywords only on PostgreSQL.
  if (!fs.existsSync(path.join(PROJECT_ROOT, 'prisma', 'generated', dialect, 'client.ts'))) {
    throw new GuardError('PRISMA_CLIENT_NOT_GENERATED', `The demo Prisma client for ${dialect} has not been generated (prisma/generated/${dialect} is missing).`, {
      hint: 'Generate both demo clients: npx tsx prisma/generate.ts (npm install runs it as postinstall).',
    });
  }
  const mod = dialect === 'sqlite' ? await import('./generated/sqlite/client.ts') : await import('./generated/postgres/client.ts');
  const { PrismaClient, Prisma } = mod as typeof import('./generated/sqlite/client.ts');
  const prisma: SqliteClient = new PrismaClient({ adapter: createAdapter(target.url) });
  try {
    const existing = await prisma.user.count();
    if (existing > 0) {
      throw new GuardError('SEED_NOT_EMPTY', `The database ${target.display} already has ${existing} users; the seed only fills an empty demo database.`, {
        hint: 'Use a fresh database (or reset it: migrate deploy on a new file/database) and seed again.',
      });
    }
    const rnd = seededRandom(0x5eed + userCount);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    // PostgreSQL-only values draw from their own stream, so both dialects get the same rows otherwise.
    const pgRnd = seededRandom(0xc0ffee + userCount);
    const counts: SeedSummary['counts'] = { users: 0, posts: 0, tags: 0, _PostToTag: 0, comments: 0, products: 0, orders: 0, order_items: 0 };

    const userSeeds = specialUsers(dialect);
    for (let i = userSeeds.length; i < userCount; i++) userSeeds.push(ordinaryUser(i, rnd));

    await prisma.$transaction(
      async (tx) => {
        // Users in order; each (but the first two) invited by an earlier one: the self-relation.
        // (Set at create time: a later update would stamp @updatedAt with the wall clock.)
        const users: { id: number; role: string }[] = [];
        for (const [i, u] of userSeeds.entries()) {
          const inviter = i < 2 ? null : users[Math.floor(rnd() * Math.min(i, 1 + i / 2))].id;
          users.push(
            await tx.user.create({
              data: {
                ...u,
                credit: new Prisma.Decimal(u.credit),
                preferences: u.preferences === null ? Prisma.DbNull : (u.preferences as object),
                invitedById: inviter,
              },
              select: { id: true, role: true },
            }),
          );
        }
        counts.users = users.length;

        for (const name of TAGS) await tx.tag.create({ data: { name } });
        const tags = await tx.tag.findMany({ orderBy: { id: 'asc' } });
        counts.tags = tags.length;

        // Posts by authors and admins, with 0-4 tags each.
        const authors = users.filter((u) => u.role !== 'READER');
        let postNo = 0;
        for (const author of authors) {
          const n = author.id === users[0].id ? 4 : Math.floor(rnd() * 5);
          for (let k = 0; k < n; k++, postNo++) {
            const published = postNo === 0 || rnd() < 0.7;
            const tagIds = [...new Set(Array.from({ length: Math.floor(rnd() * 5) }, () => pick(tags).id))];
            const title =
              postNo === 0
                ? 'Ünïcödé, "quotes", \'apostrophes\', back\\slashes & emoji 🎉👨‍👩‍👧'
                : `${pick(WORDS)[0].toUpperCase()}${pick(WORDS).slice(1)} ${pick(WORDS)} #${postNo}`;
            const body =
              postNo === 0
                ? 'Line one\nLine two\r\nTab:\there\nNUL-free but \u0007bell and \u001bescape; SQL: \'; DELETE FROM posts; --\n' + 'long '.repeat(200)
                : Array.from({ length: 3 + Math.floor(rnd() * 20) }, () => pick(WORDS)).join(' ');
            counts._PostToTag += tagIds.length;
            await tx.post.create({
              data: {
                slug: `post-${postNo}-${author.id}`,
                title,
                body,
                published,
                viewCount: postNo === 1 ? INT_MAX : Math.floor(rnd() * 5000),
                publishedAt: published ? new Date(BASE_TIME + (50 + postNo * 5) * HOUR + Math.floor(rnd() * 1000)) : null,
                metadata:
                  postNo % 3 === 0
                    ? { readingMinutes: 1 + (postNo % 11), ratio: 2 / 3, seo: { canonical: `https://example.com/p/${postNo}`, noindex: postNo % 2 === 0 } }
                    : postNo % 3 === 1
                      ? Prisma.DbNull
                      : Prisma.JsonNull, // JSON null, distinct from SQL NULL
                authorId: author.id,
                tags: { connect: tagIds.map((id) => ({ id })) },
                ...(dialect === 'postgres' ? { keywords: postNo % 4 === 3 ? [] : Array.from({ length: 1 + (postNo % 4) }, () => KEYWORDS[Math.floor(pgRnd() * KEYWORDS.length)]) } : {}),
              },
            });
          }
        }
        const posts = await tx.post.findMany({ select: { id: true }, orderBy: { id: 'asc' } });
        counts.posts = posts.length;

        // Comments: anonymous ones (author NULL) included.
        const comments: { body: string; createdAt: Date; postId: number; authorId: number | null }[] = [];
        for (const post of posts) {
          const n = Math.floor(rnd() * 5);
          for (let k = 0; k < n; k++) {
            comments.push({
              body: k === 0 && post.id === posts[0].id ? 'First! 🥇 «guillemets» „quotes“ ‘single’' : `${pick(['Great', 'Thanks', 'Hmm', 'Nice', 'Typo?'])}: ${pick(WORDS)}`,
              createdAt: new Date(BASE_TIME + (100 + comments.length) * HOUR + Math.floor(rnd() * 1000)),
              postId: post.id,
              authorId: rnd() < 0.15 ? null : pick(users).id,
            });
          }
        }
        if (comments.length) counts.comments = (await tx.comment.createMany({ data: comments })).count;

        for (const [i, p] of PRODUCTS.entries()) {
          await tx.product.create({
            data: {
              ...p,
              price: new Prisma.Decimal(p.price),
              attributes: p.attributes as object,
              stock: i === 0 ? INT_MAX : i === 1 ? -3 : Math.floor(rnd() * 500),
              image: i % 3 === 0 ? Uint8Array.from({ length: 16 }, (_, b) => (b * 37 + i) % 256) : null,
            },
          });
        }
        const products = await tx.product.findMany({ orderBy: { id: 'asc' } });
        counts.products = products.length;

        // Orders with 1-3 distinct products each (composite primary key on order_items).
        const orderUsers = users.filter(() => rnd() < 0.6);
        for (const u of orderUsers) {
          const n = 1 + Math.floor(rnd() * 2);
          for (let k = 0; k < n; k++) {
            const chosen = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(products)))];
            const items = chosen.map((p) => ({ productId: p.id, quantity: 1 + Math.floor(rnd() * 4), unitPrice: p.price }));
            const totalCents = items.reduce((s, it) => s + BigInt(it.unitPrice.mul(100).toFixed(0)) * BigInt(it.quantity), 0n);
            await tx.order.create({
              data: {
                status: pick(STATUSES),
                totalCents,
                note: rnd() < 0.2 ? pick(['Leave at the door 🚪', 'Gift wrap, please', "Ring twice; don't knock", '']) : null,
                placedAt: new Date(BASE_TIME + (200 + counts.orders) * HOUR + Math.floor(rnd() * 1000)),
                userId: u.id,
                items: { create: items },
              },
            });
            counts.orders++;
            counts.order_items += items.length;
          }
        }
      },
      { timeout: 30 * 60_000, maxWait: 60_000 },
    );
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return { dialect, counts, total };
  } finally {
    await prisma.$disconnect();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--users');
  const users = at >= 0 ? Number(args[at + 1]) : undefined;
  try {
    const summary = await seed(process.env.DATABASE_URL ?? '', { users });
    const parts = Object.entries(summary.counts).map(([t, n]) => `${t} ${n}`);
    process.stdout.write(`Seeded ${summary.total} rows (${summary.dialect}): ${parts.join(', ')}\n`);
  } catch (e) {
    if (!isGuardError(e)) {
      process.stderr.write(`Seeding failed: ${redactSecrets(messageOf(e))}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
      process.exitCode = e.exitCode;
    }
  }
}
