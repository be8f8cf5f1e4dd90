import { GuardError } from '../core/errors.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { resolveGiven } from './select.ts';
import type { OpsContext } from './context.ts';
import { readManifestBeside, writeManifestBeside } from './primary.ts';

export interface PinOptions {
  /** true: keep whatever the retention policy says; false: let retention decide again. */
  pinned: boolean;
  /** Pin only until this instant (ignored when unpinning). */
  until?: Date | null;
}

/**
 * Pins or unpins a backup: rewrites its manifest atomically with `pinned` / `pinnedUntil`.
 * Retention (`prune`) never removes a pinned backup. Pre-migration snapshots stay protected by
 * their reason even when unpinned (see lib/policy/retention.ts).
 * @returns the manifest as written
 */
export async function setPinned(ctx: OpsContext, given: string, options: PinOptions): Promise<BackupManifest> {
  const { path: filePath, file } = await resolveGiven(ctx, given);
  const manifest = await readManifestBeside(ctx, filePath, file);
  if (!manifest) {
    throw new GuardError('BACKUP_NOT_FOUND', `${file} has no manifest, so it cannot be pinned.`, {
      hint: `Run \`prisma-guard verify ${file}\` to check the backup and rebuild its manifest, then pin it.`,
    });
  }
  const until = options.pinned && options.until ? options.until.toISOString() : null;
  const next: BackupManifest = { ...manifest, pinned: options.pinned, pinnedUntil: until };
  await writeManifestBeside(ctx, filePath, next);
  ctx.reporter.event(options.pinned ? 'backup.pinned' : 'backup.unpinned', { file, pinnedUntil: until });
  return next;
}
