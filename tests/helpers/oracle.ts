import { execFileSync } from 'node:child_process';
import { parseDatabaseUrl } from '../../lib/core/url.ts';

/**
 * Independent views of a database, produced by the databases' own tools (not by prisma-guard):
 * `pg_dump` for PostgreSQL, `sqlite3 .dump` for SQLite. Lines are sorted so row order does not matter.
 */
export function oracleDump(url: string, options: { dataOnly?: boolean } = {}): string {
  const target = parseDatabaseUrl(url);
  if (target.dialect === 'sqlite') {
    const text = execFileSync('sqlite3', [target.file!, '.dump'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const lines = text.split('\n').filter((l) => (options.dataOnly ? l.startsWith('INSERT INTO') : true));
    return lines.sort().join('\n');
  }
  const u = new URL(url);
  const args = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), '--no-owner', '--no-privileges', '--inserts', '-n', target.schema ?? 'public'];
  if (options.dataOnly) args.push('--data-only');
  args.push(target.database);
  const text = execFileSync('pg_dump', args, { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) } });
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('--') && !l.startsWith('SET ') && !l.startsWith('SELECT pg_catalog.set_config') && !/^\\(un)?restrict /.test(l))
    .sort()
    .join('\n');
}
