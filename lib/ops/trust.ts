import { GuardError } from '../core/errors.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { checkSignature, describeSignatureState, type SignatureState } from '../format/signature.ts';
import type { OpsContext } from './context.ts';
import { readManifestBeside } from './primary.ts';

/** The signature state of a backup under the configured BACKUP_VERIFY_KEY; null when no key is configured (everything is accepted). */
export function trustOf(ctx: OpsContext, manifest: BackupManifest | null): SignatureState | null {
  const trusted = ctx.keys?.trusted;
  if (!trusted) return null;
  return manifest ? checkSignature(manifest, trusted) : 'unsigned';
}

/** The error for a backup BACKUP_VERIFY_KEY does not accept (exit code 13). */
export function untrusted(state: SignatureState, file: string): GuardError {
  return new GuardError('BACKUP_UNTRUSTED', `Refusing ${file}: ${describeSignatureState(state, file)}.`, {
    hint:
      state === 'unknown-key'
        ? 'Add the public key that signed it to BACKUP_VERIFY_KEY (comma-separated, for key rotation) if you trust it; otherwise use another backup.'
        : 'Do not restore it: it was not written by a prisma-guard holding your signing key. Use a signed backup (`prisma-guard list`).',
  });
}

/**
 * With BACKUP_VERIFY_KEY set: the backup's manifest must carry a valid signature by a trusted key,
 * and `sha256` (the file's bytes as the caller read them) must be the one it signs. Throws
 * BACKUP_UNTRUSTED otherwise; does nothing without keys.
 */
export async function requireTrusted(ctx: OpsContext, filePath: string, file: string, sha256?: string): Promise<void> {
  if (!ctx.keys?.trusted) return;
  let manifest: BackupManifest | null = null;
  try {
    manifest = await readManifestBeside(ctx, filePath, file);
  } catch {
    manifest = null;
  }
  const state = trustOf(ctx, manifest)!;
  if (state !== 'valid') throw untrusted(state, file);
  if (sha256 !== undefined && manifest!.sha256 !== sha256) throw untrusted('invalid', file);
}
