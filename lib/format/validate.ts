import Ajv from 'ajv';
import { createRequire } from 'node:module';
import { GuardError } from '../core/errors.ts';
import type { BackupHeader } from './header.ts';
import type { BackupManifest } from './manifest.ts';

const require = createRequire(import.meta.url);
const manifestSchema = require('./schemas/manifest.schema.json');
const headerSchema = require('./schemas/header.schema.json');

// ajv-formats is not needed: the two date-time fields are checked by a tiny custom format.
const ajv = new (Ajv as unknown as typeof Ajv.default)({ allErrors: true, strict: false });
ajv.addFormat('date-time', (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)));
const checkManifest = ajv.compile<BackupManifest>(manifestSchema);
const checkHeader = ajv.compile<BackupHeader>(headerSchema);

function describe(errors: typeof checkManifest.errors): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '(root)'} ${e.message}`)
    .join('; ');
}

/** Throws BACKUP_CORRUPT unless `value` is a valid manifest. */
export function validateManifest(value: unknown, source: string): BackupManifest {
  if (!checkManifest(value)) {
    throw new GuardError('BACKUP_CORRUPT', `The manifest ${source} does not match its JSON Schema: ${describe(checkManifest.errors)}.`, {
      hint: 'Run `prisma-guard verify <backup>`: the backup file itself carries everything needed and the manifest can be rewritten.',
    });
  }
  return value;
}

/** Throws BACKUP_CORRUPT unless `value` is a valid backup header. */
export function validateHeader(value: unknown, source: string): BackupHeader {
  if (!checkHeader(value)) {
    throw new GuardError('BACKUP_CORRUPT', `The header of ${source} does not match the backup JSON Schema: ${describe(checkHeader.errors)}.`, {
      hint: 'The file is damaged or was not written by prisma-guard; use another backup (`prisma-guard list`).',
    });
  }
  return value;
}
