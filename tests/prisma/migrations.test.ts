import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PrismaMigrationRow } from '../../lib/core/types.ts';
import { checksumMatches, migrationChecksum, migrationState, readMigrationsFolder, type LocalMigration } from '../../lib/prisma/migrations.ts';
import { tempDir } from '../helpers/db.ts';

describe('migrationChecksum / checksumMatches (golden vectors from prisma-engines checksum.rs)', () => {
  it('renders zero-padded lowercase sha256 hex', () => {
    expect(migrationChecksum('hello')).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(migrationChecksum('abcd')).toHaveLength(64);
    expect(migrationChecksum(Buffer.from('hello'))).toBe(migrationChecksum('hello'));
  });

  it('matches across LF/CRLF line endings, as Prisma does', () => {
    const groups = [
      ['ab\ncd\nef\ngh\rab', 'ab\r\ncd\r\nef\r\ngh\rab'],
      ['ab\ncd\nef\ngh\rab\n', 'ab\r\ncd\r\nef\r\ngh\rab\r\n'],
    ];
    for (const group of groups) for (const a of group) for (const b of group) expect(checksumMatches(a, migrationChecksum(b))).toBe(true);
  });

  it('rejects real changes', () => {
    expect(checksumMatches('abc', migrationChecksum('abcd'))).toBe(false);
    expect(checksumMatches('abc\n', migrationChecksum('abc'))).toBe(false);
    expect(checksumMatches('abc', '')).toBe(false);
  });

  it('accepts the legacy unpadded rendering (prisma-engines#1887)', () => {
    // sha256('hello') has bytes 0x0e and 0x03: unpadded they render as "e" and "3".
    const unpadded = Array.from(Buffer.from(migrationChecksum('hello'), 'hex'), (b) => b.toString(16)).join('');
    expect(unpadded.length).toBeLessThan(64);
    expect(checksumMatches('hello', unpadded)).toBe(true);
    expect(checksumMatches('hello!', unpadded)).toBe(false);
  });
});

describe('readMigrationsFolder', () => {
  const t = tempDir();
  afterAll(() => t.remove());

  it('lists folders with a migration.sql in byte order, skipping files and empty folders', async () => {
    const mk = (name: string, sql?: string | Buffer) => {
      fs.mkdirSync(path.join(t.dir, name), { recursive: true });
      if (sql !== undefined) fs.writeFileSync(path.join(t.dir, name, 'migration.sql'), sql);
    };
    mk('20250102000000_b', 'CREATE TABLE b (id int);\n');
    mk('20250101000000_a', Buffer.from('\uFEFF-- BOM and ünïcode\r\nSELECT 1;\r\n', 'utf8'));
    mk('20250101000000_Z', 'SELECT 2;'); // upper case sorts before lower case, byte-wise
    mk('20250103000000_empty');
    fs.writeFileSync(path.join(t.dir, 'migration_lock.toml'), 'provider = "sqlite"\n');
    const list = await readMigrationsFolder(t.dir);
    expect(list.map((m) => m.name)).toEqual(['20250101000000_Z', '20250101000000_a', '20250102000000_b']);
    const a = list[1];
    expect(a.sql).toBe('\uFEFF-- BOM and ünïcode\r\nSELECT 1;\r\n');
    expect(a.checksum).toBe(migrationChecksum(fs.readFileSync(path.join(t.dir, '20250101000000_a', 'migration.sql'))));
  });

  it('returns [] for a missing folder', async () => {
    expect(await readMigrationsFolder(path.join(t.dir, 'nope'))).toEqual([]);
  });
});

const local = (name: string, sql = `-- ${name}\n`): LocalMigration => ({ name, sql, checksum: migrationChecksum(sql) });
const row = (name: string, over: Partial<PrismaMigrationRow> = {}): PrismaMigrationRow => ({
  id: `id-${name}-${over.started_at ?? ''}`,
  checksum: migrationChecksum(`-- ${name}\n`),
  migration_name: name,
  started_at: '2025-01-01T00:00:00.000Z',
  finished_at: '2025-01-01T00:00:01.000Z',
  rolled_back_at: null,
  applied_steps_count: 1,
  logs: null,
  ...over,
});

describe('migrationState (pure, golden data)', () => {
  const folder = [local('001_init'), local('002_add'), local('003_index')];

  it('fresh database: everything pending', () => {
    const s = migrationState(folder, []);
    expect(s.pending.map((m) => m.name)).toEqual(['001_init', '002_add', '003_index']);
    expect(s).toMatchObject({ applied: [], failed: [], modified: [], missingLocally: [], upToDate: false });
  });

  it('all applied: up to date', () => {
    const s = migrationState(folder, folder.map((m) => row(m.name)));
    expect(s).toMatchObject({ applied: ['001_init', '002_add', '003_index'], pending: [], failed: [], modified: [], missingLocally: [], upToDate: true });
  });

  it('some applied: the rest pending in folder order', () => {
    const s = migrationState(folder, [row('001_init')]);
    expect(s.applied).toEqual(['001_init']);
    expect(s.pending.map((m) => m.name)).toEqual(['002_add', '003_index']);
  });

  it('failed (P3009): finished_at and rolled_back_at NULL; neither applied nor pending', () => {
    const broken = row('002_add', { finished_at: null, applied_steps_count: 0, logs: 'error: boom' });
    const s = migrationState(folder, [row('001_init'), broken]);
    expect(s.failed).toEqual([broken]);
    expect(s.applied).toEqual(['001_init']);
    expect(s.pending.map((m) => m.name)).toEqual(['003_index']);
    expect(s.upToDate).toBe(false);
  });

  it('rolled back then reapplied: only the live record counts', () => {
    const rolledBack = row('002_add', { finished_at: null, rolled_back_at: '2025-01-02T00:00:00.000Z', checksum: 'x'.repeat(64) });
    const s = migrationState(folder, [row('001_init'), rolledBack, row('002_add', { started_at: '2025-01-03T00:00:00.000Z' }), row('003_index')]);
    expect(s).toMatchObject({ failed: [], modified: [], pending: [], upToDate: true });
  });

  it('rolled back and not reapplied: pending again', () => {
    const rolledBack = row('003_index', { finished_at: null, rolled_back_at: '2025-01-02T00:00:00.000Z' });
    const s = migrationState(folder, [row('001_init'), row('002_add'), rolledBack]);
    expect(s.pending.map((m) => m.name)).toEqual(['003_index']);
    expect(s.failed).toEqual([]);
  });

  it('applied but modified locally (checksum mismatch); CRLF-only changes are not modifications', () => {
    const changed = [local('001_init'), local('002_add', '-- 002_add\nDROP TABLE x;\n'), local('003_index', '-- 003_index\r\n')];
    const s = migrationState(changed, folder.map((m) => row(m.name)));
    expect(s.modified).toEqual([{ name: '002_add', localChecksum: changed[1].checksum, appliedChecksum: row('002_add').checksum }]);
    expect(s.applied).toEqual(['001_init', '002_add', '003_index']);
    expect(s.upToDate).toBe(false);
  });

  it('applied but missing locally', () => {
    const s = migrationState(folder.slice(0, 2), folder.map((m) => row(m.name)));
    expect(s.missingLocally.map((r) => r.migration_name)).toEqual(['003_index']);
    expect(s.pending).toEqual([]);
    expect(s.upToDate).toBe(false);
  });
});
