import { promises as fs } from 'node:fs';

/** A backup folder that other accounts on the machine can look into or write to. */
export interface FolderExposure {
  /** The folder's permission bits, e.g. 0o755. */
  mode: number;
  /** What is wrong, for a human: who can do what. */
  message: string;
  /** The shell command that makes the folder private. */
  fix: string;
}

/** Single-quotes a path for a POSIX shell when it needs quoting. */
function shellQuote(p: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(p) ? p : `'${p.replaceAll("'", `'\\''`)}'`;
}

/**
 * Whether `dir` is open to group or others (any of the 0o077 bits). Backups hold every row of the
 * database, so a folder anyone can list or write is a leak (or a place to plant a forged backup)
 * even though each file is written 0600: a folder writable by others lets them rename or replace
 * files. null when the folder is private, or does not exist yet (it is then created 0700).
 */
export async function backupDirExposure(dir: string): Promise<FolderExposure | null> {
  let mode: number;
  try {
    mode = (await fs.stat(dir)).mode & 0o777;
  } catch {
    return null;
  }
  if ((mode & 0o077) === 0) return null;
  const rwx = (bits: number) => `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  const octal = `0${mode.toString(8).padStart(3, '0')}`;
  return {
    mode,
    message: `The backup folder ${dir} is open to other accounts on this machine (mode ${octal}: group ${rwx((mode >> 3) & 7)}, others ${rwx(mode & 7)}), and its backups hold every row of the database.`,
    fix: `chmod 700 ${shellQuote(dir)}`,
  };
}

/** The warning `status` and `backup` print for an exposed folder, with the command that fixes it. */
export function describeExposure(e: FolderExposure): string {
  return `${e.message} Make it private: ${e.fix}`;
}
