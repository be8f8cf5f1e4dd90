/**
 * Who may use the dashboard: users (scrypt password hashes) and API tokens (SHA-256 of a random
 * secret, printed once), in one file beside the backups (`.prisma-guard-server/users.json`, mode
 * 0600). Sessions, CSRF tokens and the login rate limit live in memory: a restart logs everyone out.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GuardError } from '../core/errors.ts';
import { writeSmallFileAtomically } from '../format/writer.ts';
import { SERVER_STATE_DIR } from '../ops/context.ts';

/** viewer reads; operator also backs up, verifies and pins; admin also restores, deletes and edits schedules and users. */
export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** The folder inside the backup folder that holds the server's own files (never a backup; retention ignores it). */
export const SERVER_DIR = SERVER_STATE_DIR;
export const USERS_FILE = 'users.json';
const USERS_FORMAT = 'prisma-guard-users';

export interface StoredUser {
  name: string;
  role: Role;
  /** `scrypt$N$r$p$saltB64$hashB64` */
  password: string;
  createdAt: string;
}

export interface StoredToken {
  name: string;
  role: Role;
  /** Public part of the token (`pgt_<id>_<secret>`), used to find it. */
  id: string;
  /** SHA-256 (hex) of the secret part. */
  sha256: string;
  createdAt: string;
}

export interface UsersFile {
  format: typeof USERS_FORMAT;
  version: 1;
  users: StoredUser[];
  tokens: StoredToken[];
}

/** Who made a request, as the audit log and role checks see it. */
export interface Principal {
  name: string;
  role: Role;
  via: 'session' | 'token';
}

export function serverDir(backupDir: string): string {
  return path.join(backupDir, SERVER_DIR);
}

export function usersPath(backupDir: string): string {
  return path.join(serverDir(backupDir), USERS_FILE);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether `role` may do what `needed` may. */
export function allows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function checkName(name: string, what: 'user' | 'token'): void {
  if (!NAME.test(name)) {
    throw new GuardError('USAGE', `"${name}" is not a valid ${what} name.`, { hint: 'Use 1-64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit.' });
  }
}

/** Creates the server folder (0700). */
export async function ensureServerDir(backupDir: string): Promise<string> {
  const dir = serverDir(backupDir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export async function readUsers(backupDir: string): Promise<UsersFile> {
  let text: string;
  try {
    text = await fs.readFile(usersPath(backupDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { format: USERS_FORMAT, version: 1, users: [], tokens: [] };
    throw e;
  }
  let v: UsersFile;
  try {
    v = JSON.parse(text) as UsersFile;
  } catch {
    throw new GuardError('USAGE', `${usersPath(backupDir)} is not valid JSON.`, { hint: 'Restore it from your own copy, or move it away and add the users again with `prisma-guard user add`.' });
  }
  if (v.format !== USERS_FORMAT || !Array.isArray(v.users) || !Array.isArray(v.tokens)) {
    throw new GuardError('USAGE', `${usersPath(backupDir)} is not a prisma-guard users file.`, { hint: 'Move it away and add the users again with `prisma-guard user add`.' });
  }
  return v;
}

/** Writes the users file atomically with mode 0600 (it holds password hashes). */
export async function writeUsers(backupDir: string, file: UsersFile): Promise<void> {
  await ensureServerDir(backupDir);
  const p = usersPath(backupDir);
  await writeSmallFileAtomically(p, JSON.stringify(file, null, 2) + '\n');
  await fs.chmod(p, 0o600);
}

// scrypt N=2^15, r=8, p=1: 32 MiB and about 0.1 s per hash (node:crypto; no native add-on to install).
const SCRYPT = { N: 1 << 15, r: 8, p: 1 };
const KEY_LEN = 32;

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, { ...options, maxmem: 128 * options.N! * options.r! * 2 }, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LEN, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to check against when the user does not exist, so a wrong name costs as long as a wrong password. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  return (dummyHash ??= hashPassword(randomBytes(16).toString('hex')));
}

export const MIN_PASSWORD = 10;

export function checkPasswordStrength(password: string): void {
  if (password.length < MIN_PASSWORD) {
    throw new GuardError('USAGE', `The password is too short (${password.length} characters); it needs at least ${MIN_PASSWORD}.`, { hint: 'Choose a longer password (a passphrase of a few words works well).' });
  }
}

export async function addUser(backupDir: string, name: string, role: Role, password: string, now: Date): Promise<StoredUser> {
  checkName(name, 'user');
  checkPasswordStrength(password);
  const file = await readUsers(backupDir);
  if (file.users.some((u) => u.name === name)) {
    throw new GuardError('USAGE', `The user ${name} already exists.`, { hint: `Change the password with \`prisma-guard user passwd ${name}\`, or remove the user first.` });
  }
  const user: StoredUser = { name, role, password: await hashPassword(password), createdAt: now.toISOString() };
  file.users.push(user);
  await writeUsers(backupDir, file);
  return user;
}

export async function removeUser(backupDir: string, name: string): Promise<void> {
  const file = await readUsers(backupDir);
  if (!file.users.some((u) => u.name === name)) throw new GuardError('USAGE', `There is no user ${name}.`, { hint: 'prisma-guard user list shows the users.' });
  file.users = file.users.filter((u) => u.name !== name);
  await writeUsers(backupDir, file);
}

export async function setPassword(backupDir: string, name: string, password: string): Promise<void> {
  checkPasswordStrength(password);
  const file = await readUsers(backupDir);
  const user = file.users.find((u) => u.name === name);
  if (!user) throw new GuardError('USAGE', `There is no user ${name}.`, { hint: `Add it with \`prisma-guard user add ${name} --role viewer\`.` });
  user.password = await hashPassword(password);
  await writeUsers(backupDir, file);
}

/** Adds an API token; returns the token text, which is stored only as a hash and cannot be shown again. */
export async function addToken(backupDir: string, name: string, role: Role, now: Date): Promise<{ token: string; stored: StoredToken }> {
  checkName(name, 'token');
  const file = await readUsers(backupDir);
  if (file.tokens.some((t) => t.name === name)) throw new GuardError('USAGE', `The token ${name} already exists.`, { hint: `Remove it first with \`prisma-guard token remove ${name}\`.` });
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const stored: StoredToken = { name, role, id, sha256: sha256(secret), createdAt: now.toISOString() };
  file.tokens.push(stored);
  await writeUsers(backupDir, file);
  return { token: `pgt_${id}_${secret}`, stored };
}

export async function removeToken(backupDir: string, name: string): Promise<void> {
  const file = await readUsers(backupDir);
  if (!file.tokens.some((t) => t.name === name)) throw new GuardError('USAGE', `There is no token ${name}.`, { hint: 'prisma-guard token list shows the tokens.' });
  file.tokens = file.tokens.filter((t) => t.name !== name);
  await writeUsers(backupDir, file);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The principal a Bearer token stands for, or null. */
export function principalForToken(file: UsersFile, token: string): Principal | null {
  const m = /^pgt_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$/.exec(token);
  if (!m) return null;
  const t = file.tokens.find((x) => x.id === m[1]);
  if (!t) return null;
  const a = Buffer.from(sha256(m[2]), 'hex');
  const b = Buffer.from(t.sha256, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
  return { name: `token:${t.name}`, role: t.role, via: 'token' };
}

export interface Session {
  id: string;
  user: string;
  role: Role;
  csrf: string;
  expiresAt: number;
}

/** In-memory sessions with an idle timeout. */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  constructor(private readonly idleMs: number = 8 * 3600_000) {}

  create(user: string, role: Role, now: number): Session {
    if (this.sessions.size > 1000) for (const [id, old] of this.sessions) if (old.expiresAt <= now) this.sessions.delete(id);
    const s: Session = { id: randomBytes(32).toString('base64url'), user, role, csrf: randomBytes(24).toString('base64url'), expiresAt: now + this.idleMs };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string | undefined, now: number): Session | null {
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    if (s.expiresAt <= now) {
      this.sessions.delete(id);
      return null;
    }
    s.expiresAt = now + this.idleMs;
    return s;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session of a user (removed, or the password changed). */
  dropUser(user: string): void {
    for (const [id, s] of this.sessions) if (s.user === user) this.sessions.delete(id);
  }
}

/**
 * Failed logins per key in a sliding window: `max` per user name (`user:…`), four times that per
 * client address (`ip:…`, several people may share one address behind a proxy).
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(private readonly perUser = 5, private readonly windowMs = 15 * 60_000) {}

  private limit(key: string): number {
    return key.startsWith('ip:') ? this.perUser * 4 : this.perUser;
  }

  /** Milliseconds until a new attempt is allowed for any of `keys`, or 0. */
  retryAfter(keys: string[], now: number): number {
    let wait = 0;
    for (const k of keys) {
      const times = (this.failures.get(k) ?? []).filter((t) => t > now - this.windowMs);
      this.failures.set(k, times);
      if (times.length >= this.limit(k)) wait = Math.max(wait, times[0] + this.windowMs - now);
    }
    return wait;
  }

  fail(keys: string[], now: number): void {
    // Names that are tried once and never again must not grow the map without bound.
    if (this.failures.size > 10_000) for (const [k, times] of this.failures) if (times[times.length - 1] <= now - this.windowMs) this.failures.delete(k);
    for (const k of keys) this.failures.set(k, [...(this.failures.get(k) ?? []), now].slice(-this.limit(k)));
  }

  succeed(keys: string[]): void {
    for (const k of keys) this.failures.delete(k);
  }
}
