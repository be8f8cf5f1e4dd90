/**
 * The audit log: one JSON line per change (backup, verify, pin, delete, restore plan and run,
 * schedule and user changes, logins), appended to `.prisma-guard-server/audit.jsonl` beside the
 * backups (mode 0600). Who, from where, when, what, the backup or plan, and the result; secrets
 * never (values pass through redactSecrets, and callers never hand in passwords or tokens).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { redactSecrets } from '../core/url.ts';
import { ensureServerDir, serverDir } from './auth.ts';

export const AUDIT_FILE = 'audit.jsonl';

export interface AuditEntry {
  time: string;
  /** User name, `token:<name>`, or `anonymous` (a failed login). */
  actor: string;
  role: string | null;
  /** Client address. */
  from: string;
  /** e.g. `backup.create`, `restore.plan`, `restore.confirm`, `login.failed`. */
  action: string;
  backup?: string;
  plan?: string;
  job?: string;
  result: 'ok' | 'refused' | 'failed' | 'started';
  /** Error code, HTTP status, reason: short facts, no secrets. */
  detail?: Record<string, unknown>;
}

export class AuditLog {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly backupDir: string) {}

  get file(): string {
    return path.join(serverDir(this.backupDir), AUDIT_FILE);
  }

  /** Appends one entry (writes are serialised, so lines never interleave). */
  write(entry: Omit<AuditEntry, 'time'> & { time?: string }): Promise<void> {
    const line = redactSecrets(JSON.stringify({ time: entry.time ?? new Date().toISOString(), ...entry })) + '\n';
    const next = this.chain.catch(() => {}).then(async () => {
      await ensureServerDir(this.backupDir);
      const h = await fs.open(this.file, 'a', 0o600);
      try {
        await h.appendFile(line);
      } finally {
        await h.close();
      }
    });
    this.chain = next;
    return next;
  }

  /** The newest `limit` entries, newest first. */
  async tail(limit = 200): Promise<AuditEntry[]> {
    await this.chain.catch(() => {});
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: AuditEntry[] = [];
    const lines = text.split('\n');
    for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
      if (!lines[i].trim()) continue;
      try {
        out.push(JSON.parse(lines[i]) as AuditEntry);
      } catch {
        // a torn last line (a crash mid-append) is skipped
      }
    }
    return out;
  }
}
