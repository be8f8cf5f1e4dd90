import { createHash, createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { sha256File } from '../core/hash-file.ts';
import type { EncryptionSettings } from '../pipeline/age.ts';
import type { BackupManifest } from './manifest.ts';
import { isSectionName, sectionFileName } from './naming.ts';
import { writeFileAtomically, type SectionRef, type SectionSink } from './writer.ts';

/**
 * Incremental backups (issue 15): the rows of a large table are stored once per content, as a
 * section object beside the backups, and every backup whose table holds exactly those rows refers
 * to it by name (format version 5, TableStartLine.section). The name comes from the rows' SHA-256,
 * which the format computes anyway: the same rows, the same name, across backups and databases.
 *
 * - Plain backups name a section after the SHA-256 itself.
 * - Encrypted ones after an HMAC of it, keyed by what they are encrypted to (the recipients, or the
 *   passphrase), so a name says nothing of the rows to whoever lacks those, and new keys start new
 *   sections (which the new identity alone can open). Someone who holds the folder and the public
 *   recipients can still test a guess of a whole table's rows: `--self-contained` avoids that.
 *
 * A manifest lists the sections its backup references (BackupManifest.sections, with the size and
 * SHA-256 of their stored bytes): retention never removes a section a kept backup lists (prune's
 * collectSections), and a key-less `verify` checks each one's bytes.
 */

/** What names encrypted sections: a key derived from the recipients or the passphrase. */
function namingKey(encryption: EncryptionSettings | null | undefined): Buffer | null {
  if (!encryption) return null;
  const what = encryption.passphrase ? `passphrase\n${encryption.passphrase}` : `recipients\n${[...encryption.recipients].sort().join('\n')}`;
  return createHash('sha256').update(`prisma-guard-section-names-1\n${what}`).digest();
}

/** The object name of the section holding rows with this SHA-256. */
export function sectionNameFor(rowsSha256: string, encryption: EncryptionSettings | null | undefined): string {
  const key = namingKey(encryption);
  return key ? sectionFileName(createHmac('sha256', key).update(rowsSha256).digest('hex'), { encrypted: true }) : sectionFileName(rowsSha256);
}

/** Every section the manifests list, by name (a section two manifests list has one entry). */
export function sectionsOf(manifests: Iterable<BackupManifest>): Map<string, SectionRef> {
  const out = new Map<string, SectionRef>();
  for (const m of manifests) for (const s of m.sections ?? []) if (isSectionName(s.object) && !out.has(s.object)) out.set(s.object, s);
  return out;
}

/**
 * The sections of a backup folder as an incremental backup writes them. `known`: the sections the
 * folder's manifests list; only those are reused, and only after their bytes hash to what the
 * manifest recorded (a damaged section is written anew, never referenced again). A section that no
 * manifest lists (left by a backup that failed) is replaced by the new write.
 */
export class FolderSections implements SectionSink {
  constructor(
    private readonly dir: string,
    private readonly known: Map<string, SectionRef>,
    private readonly options: {
      encryption?: EncryptionSettings | null;
      compressionLevel?: number;
      signal?: AbortSignal;
      /**
       * Whether a listed section is intact where backups live, when that is not this folder (an s3
       * BACKUP_DIR: there with the recorded size; downloading it to hash would cost what it saves).
       */
      stored?: (ref: SectionRef) => Promise<boolean>;
    } = {},
  ) {}

  /** Sections this backup wrote, and the ones it referenced as they were. */
  readonly written: SectionRef[] = [];
  readonly reused: SectionRef[] = [];

  get hasSections(): boolean {
    return this.known.size > 0;
  }

  async reuse(rowsSha256: string): Promise<SectionRef | null> {
    const name = sectionNameFor(rowsSha256, this.options.encryption);
    const ref = this.known.get(name);
    if (!ref || !(await this.intact(ref))) return null;
    // Seen in use now: prune's grace period counts from here (collectSections).
    const now = new Date();
    await fs.utimes(path.join(this.dir, name), now, now).catch(() => {});
    if (!this.reused.includes(ref)) this.reused.push(ref);
    return ref;
  }

  async write(lines: AsyncIterable<Buffer>, rowsSha256: () => string): Promise<SectionRef> {
    let kept: SectionRef | null = null;
    const written = await writeFileAtomically(this.dir, async () => {
      const name = sectionNameFor(rowsSha256(), this.options.encryption);
      // Rows this backup already stored once (two tables with the same rows): the first stays,
      // since a reference to it recorded its checksum.
      const ref = this.known.get(name);
      if (ref && (await this.intact(ref))) {
        kept = ref;
        return null;
      }
      return name;
    }, lines, this.options);
    if (kept) return kept;
    const ref = { object: path.basename(written.path), size: written.sizeBytes, sha256: written.sha256 };
    this.known.set(ref.object, ref);
    this.written.push(ref);
    return ref;
  }

  /** The object is a regular file with the recorded size and SHA-256 (or `options.stored` says it is there). */
  private async intact(ref: SectionRef): Promise<boolean> {
    if (this.options.stored) return this.options.stored(ref);
    const file = path.join(this.dir, ref.object);
    const st = await fs.lstat(file).catch(() => null);
    if (!st?.isFile() || st.size !== ref.size) return false;
    return (await sha256File(file)) === ref.sha256;
  }
}

/**
 * The first listed section that is missing, not a regular file, or (`hash`: also compares the
 * SHA-256 of its bytes) not what the manifest recorded; null when all are there.
 */
export async function damagedSection(dir: string, refs: readonly SectionRef[], options: { hash: boolean }): Promise<{ object: string; why: string } | null> {
  for (const ref of refs) {
    const file = path.join(dir, path.basename(ref.object));
    const st = await fs.lstat(file).catch(() => null);
    if (!st) return { object: ref.object, why: 'is missing' };
    if (!st.isFile()) return { object: ref.object, why: 'is not a regular file' };
    if (st.size !== ref.size) return { object: ref.object, why: `has ${st.size} bytes, not the ${ref.size} its manifest recorded` };
    if (options.hash && (await sha256File(file)) !== ref.sha256) return { object: ref.object, why: 'does not match the checksum its manifest recorded' };
  }
  return null;
}
