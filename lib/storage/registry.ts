import path from 'node:path';
import { GuardError } from '../core/errors.ts';
import type { StorageBackend } from './contract.ts';
import { LocalStorage } from './local/local-storage.ts';
import { MemoryStorage } from './memory/memory-storage.ts';
import { parseS3Location, S3Storage } from './s3/s3-storage.ts';

/** What reaching a location may need besides its text (read once from the environment by the caller). */
export interface StorageSettings {
  /** BACKUP_S3_ENDPOINT */
  s3Endpoint?: string;
  /** AWS_REGION / AWS_DEFAULT_REGION */
  s3Region?: string;
  /** BACKUP_S3_FORCE_PATH_STYLE (`true`/`false`) */
  s3ForcePathStyle?: boolean;
  /** Relative folders resolve against this (the project folder). */
  baseDir?: string;
}

const memories = new Map<string, MemoryStorage>();

/**
 * The backend for a location (after restic's location registry): `s3://bucket/prefix` is S3
 * (or any S3-compatible server with BACKUP_S3_ENDPOINT), `memory:NAME` an in-memory store (one per
 * name per process: tests), anything else a folder on this machine.
 */
export function openStorage(location: string, settings: StorageSettings = {}): StorageBackend {
  const text = location.trim();
  if (text.startsWith('s3://')) {
    const where = parseS3Location(text);
    if (!where) {
      throw new GuardError('USAGE', `"${text}" is not an S3 location.`, { hint: 'Write it as s3://bucket or s3://bucket/prefix (bucket names: 3-63 lower-case letters, digits, dots, dashes).' });
    }
    return new S3Storage({ ...where, endpoint: settings.s3Endpoint, region: settings.s3Region, forcePathStyle: settings.s3ForcePathStyle });
  }
  if (text.startsWith('memory:')) {
    let m = memories.get(text);
    if (!m) memories.set(text, (m = new MemoryStorage(text)));
    return m;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new GuardError('USAGE', `The backup location "${text.replace(/\/\/[^@/]*@/, '//***@')}" has a scheme prisma-guard does not know.`, { hint: 'Use a folder path or s3://bucket/prefix.' });
  }
  return new LocalStorage(path.resolve(settings.baseDir ?? process.cwd(), text));
}
