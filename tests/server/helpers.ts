/**
 * A real dashboard for a test: a fresh database (SQLite file or PostgreSQL database) with two
 * related tables, a backup folder, the server listening on a free port of 127.0.0.1, and users of
 * every role. `as(role)` gives a client that logs in over HTTP and sends the session cookie and
 * CSRF token as the page does.
 */
import path from 'node:path';
import { addToken, addUser, type Role } from '../../lib/server/auth.ts';
import { startServer, type RunningServer } from '../../lib/server/serve.ts';
import { freshDatabase, rawQueryable, tempDir, type FreshDatabase, type TestDialect } from '../helpers/db.ts';

export const PASSWORD = 'correct horse battery';

export interface Dashboard {
  db: FreshDatabase;
  backupDir: string;
  server: RunningServer;
  url: string;
  tokens: Record<Role, string>;
  exec(sql: string): Promise<void>;
  query<T>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

export const SCHEMA = `
CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER NOT NULL REFERENCES author(id));
INSERT INTO author (id, name) VALUES (1, 'Ada'), (2, 'Grace');
INSERT INTO book (id, title, author_id) VALUES (1, 'Notes', 1), (2, 'Compilers', 2), (3, 'Engines', 1);
`;

export async function startDashboard(dialect: TestDialect, options: { lockWaitMs?: number; env?: Record<string, string> } = {}): Promise<Dashboard> {
  const db = await freshDatabase(dialect);
  const raw = await rawQueryable(db.url);
  await raw.exec(SCHEMA);
  const tmp = tempDir('prisma-guard-server-');
  const backupDir = path.join(tmp.dir, 'backups');
  const now = new Date();
  for (const role of ['viewer', 'operator', 'admin'] as const) await addUser(backupDir, role, role, PASSWORD, now);
  const tokens = {} as Record<Role, string>;
  for (const role of ['viewer', 'operator', 'admin'] as const) tokens[role] = (await addToken(backupDir, `${role}-script`, role, now)).token;
  const server = await startServer({ url: db.url, backupDir, port: 0, lockWaitMs: options.lockWaitMs ?? 300, env: { BACKUP_MIN_FREE_MB: '0', ...options.env }, loginAttempts: 3, loginWindowMs: 60_000 });
  return {
    db,
    backupDir,
    server,
    url: server.url,
    tokens,
    exec: (sql) => raw.exec(sql),
    query: <T>(sql: string) => raw.query<T>(sql),
    async close() {
      await server.close();
      await raw.close();
      await db.drop();
      tmp.remove();
    },
  };
}

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

export class Client {
  cookie: string | null = null;
  csrf: string | null = null;
  constructor(readonly base: string, readonly bearer: string | null = null) {}

  async call<T = any>(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (this.bearer) h.authorization = `Bearer ${this.bearer}`;
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf && method !== 'GET') h['x-csrf-token'] = this.csrf;
    const r = await fetch(this.base + route, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await r.text();
    const set = r.headers.get('set-cookie');
    if (set && set.startsWith('pg_session=')) this.cookie = set.split(';')[0];
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // text (metrics, SSE)
    }
    return { status: r.status, body: parsed as T, headers: r.headers, text };
  }

  get<T = any>(route: string) {
    return this.call<T>('GET', route);
  }
  post<T = any>(route: string, body: unknown = {}) {
    return this.call<T>('POST', route, body);
  }

  async login(user: string, password = PASSWORD): Promise<Reply> {
    const r = await this.post('/api/login', { user, password });
    if (r.status === 200) this.csrf = r.body.csrf;
    return r;
  }
}

export async function as(d: Dashboard, role: Role): Promise<Client> {
  const c = new Client(d.url);
  const r = await c.login(role);
  if (r.status !== 200) throw new Error(`login as ${role}: ${r.status} ${r.text}`);
  return c;
}

/** Takes a backup through the API (waiting for the job) and returns its file name. */
export async function backupNow(c: Client, body: Record<string, unknown> = {}): Promise<string> {
  const r = await c.post('/api/backups?wait=true', body);
  if (r.status !== 200 || r.body.job.state !== 'succeeded') throw new Error(`backup: ${r.status} ${r.text}`);
  return r.body.job.result.manifest.file;
}
