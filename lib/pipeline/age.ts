/**
 * Encryption at rest in the age format (https://age-encryption.org/v1), by the `age-encryption`
 * package: X25519 recipients or a passphrase (scrypt). A backup file is a standard age file around
 * the gzip stream, so `age -d -i key.txt backup-....jsonl.gz.age | zcat` reads it.
 *
 * This file turns settings into keys (with errors that say what is wrong and never echo a secret)
 * and offers the two stream stages, encrypt and decrypt; lib/format's writer and reader put them
 * between compression and the file.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { GuardError, messageOf } from '../core/errors.ts';
import { NONCE, openStream, PayloadError, payloadKey, sealStream, TAG } from './age-stream.ts';

type AgeLib = typeof import('age-encryption');
let loaded: Promise<AgeLib> | null = null;

/**
 * The `age-encryption` package, loaded on first use: an optional peer dependency, so projects that
 * do not encrypt never install it.
 * @throws GuardError ENCRYPTION_NOT_INSTALLED (exit 17) naming the package to install
 */
function ageLib(): Promise<AgeLib> {
  loaded ??= import('age-encryption').catch((e: unknown) => {
    loaded = null;
    const err = e as { code?: string };
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'MODULE_NOT_FOUND') throw e;
    throw new GuardError('ENCRYPTION_NOT_INSTALLED', 'Encrypted backups need the "age-encryption" package, which is not installed in this project.', {
      hint: 'Install it in your project: npm install age-encryption',
      cause: e,
    });
  });
  return loaded;
}

/** Every age file starts with this line. */
export const AGE_MAGIC = 'age-encryption.org/v1\n';

/** What new backups are encrypted to (BACKUP_AGE_RECIPIENTS or BACKUP_AGE_PASSPHRASE). */
export interface EncryptionSettings {
  /** `age1...` public keys (X25519). */
  recipients: string[];
  /** Passphrase mode (scrypt); never together with recipients. */
  passphrase?: string;
  /** scrypt work factor (log2 N) for passphrase mode; the age default is 18. Tests lower it. */
  scryptLogN?: number;
}

/** What reads encrypted backups (BACKUP_AGE_IDENTITY and/or BACKUP_AGE_PASSPHRASE). */
export interface DecryptionKeys {
  /** `AGE-SECRET-KEY-1...` identities. */
  identities: string[];
  passphrase?: string;
}

/** The manifest's record of how a backup is encrypted (no key material, no table names). */
export interface EncryptionRecord {
  format: 'age';
  /** Number of X25519 recipients; 0 in passphrase mode. */
  recipients: number;
  passphrase: boolean;
  /**
   * The backup's table names, row counts and checksums, itself an age file (base64) for the same
   * recipients: a restore with the identity plans from it without decrypting the whole backup first.
   * Absent in passphrase mode (each opening would cost a scrypt).
   */
  summary?: string;
}

/** Longer than any header of a few recipients; a file without a header end by then is not age. */
const MAX_HEADER_BYTES = 1 << 20;

const RECIPIENT_RE = /^age1[02-9ac-hj-np-z]{58}$/;
const IDENTITY_RE = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

function keyError(what: string, why: string, hint: string): GuardError {
  return new GuardError('KEY_INVALID', `${what}: ${why}.`, { hint });
}

/** Parses BACKUP_AGE_RECIPIENTS (comma- or space-separated `age1...` keys). */
export function parseRecipients(value: string): string[] {
  const out: string[] = [];
  for (const item of value.split(/[\s,]+/).filter(Boolean)) {
    // A public key is not a secret, but a pasted secret key must not be echoed.
    const shown = item.startsWith('AGE-SECRET-KEY-') ? 'an AGE-SECRET-KEY-1... (a secret key)' : `"${item.slice(0, 70)}"`;
    if (item.startsWith('AGE-SECRET-KEY-')) {
      throw keyError('BACKUP_AGE_RECIPIENTS', `it holds ${shown}, not a public key`, 'Put the public key (age1..., the "Public key:" line age-keygen prints, or `age-keygen -y key.txt`) in BACKUP_AGE_RECIPIENTS; the secret key belongs only in BACKUP_AGE_IDENTITY where you restore.');
    }
    if (!RECIPIENT_RE.test(item)) {
      throw keyError('BACKUP_AGE_RECIPIENTS', `${shown} is not an age X25519 public key (age1 followed by 58 characters)`, 'Make a key pair with `prisma-guard keygen --age` or `age-keygen`, and list the public keys, comma-separated.');
    }
    out.push(item);
  }
  if (!out.length) throw keyError('BACKUP_AGE_RECIPIENTS', 'it is set but holds no key', 'List one or more age1... public keys, or unset it.');
  return out;
}

/**
 * Parses BACKUP_AGE_IDENTITY: the `AGE-SECRET-KEY-1...` string itself, or the path of an identity
 * file as age-keygen writes it (comments, several keys: old ones for old backups). Several values
 * may be given comma-separated.
 */
export function parseIdentities(value: string, resolvePath: (p: string) => string = (p) => p): string[] {
  const out: string[] = [];
  for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (item.startsWith('AGE-SECRET-KEY-')) {
      if (!IDENTITY_RE.test(item)) throw keyError('BACKUP_AGE_IDENTITY', 'an AGE-SECRET-KEY-1... value in it is damaged (wrong length or characters)', 'Copy the whole AGE-SECRET-KEY-1... line from the identity file, or give the file\'s path instead.');
      out.push(item);
      continue;
    }
    const file = resolvePath(item);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw keyError(`BACKUP_AGE_IDENTITY file ${file}`, `it cannot be read (${(e as NodeJS.ErrnoException).code ?? messageOf(e)})`, 'Give the path of an identity file as `prisma-guard keygen --age` or age-keygen writes it, or the AGE-SECRET-KEY-1... string itself.');
    }
    const keys = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    if (!keys.length) throw keyError(`BACKUP_AGE_IDENTITY file ${file}`, 'it holds no key', 'An identity file holds AGE-SECRET-KEY-1... lines.');
    for (const [i, k] of keys.entries()) {
      if (!IDENTITY_RE.test(k)) throw keyError(`BACKUP_AGE_IDENTITY file ${file}`, `its key line ${i + 1} is not an AGE-SECRET-KEY-1... identity`, 'Use the file age-keygen or `prisma-guard keygen --age` wrote (a public age1... key cannot decrypt).');
      out.push(k);
    }
  }
  if (!out.length) throw keyError('BACKUP_AGE_IDENTITY', 'it is set but holds no key', 'Give the identity file\'s path or the AGE-SECRET-KEY-1... string.');
  return out;
}

/** The public key of an identity (what new backups are encrypted to). */
export async function recipientOf(identity: string): Promise<string> {
  return (await ageLib()).identityToRecipient(identity);
}

/** A new X25519 key pair. */
export async function generateAgeKeys(): Promise<{ identity: string; recipient: string }> {
  const age = await ageLib();
  const identity = await age.generateX25519Identity();
  return { identity, recipient: await age.identityToRecipient(identity) };
}

/**
 * What a new backup is encrypted to: the configured recipients or passphrase; else, when only
 * identities are set (a machine that restores), their own public keys, so that the backups such a
 * machine writes (a restore's safety backup, a migration's snapshots) are never plaintext beside the
 * encrypted ones. Null: plain backups.
 */
export async function encryptionFor(settings: EncryptionSettings | null, keys: DecryptionKeys | null): Promise<EncryptionSettings | null> {
  if (settings) return settings;
  if (keys?.identities.length) return { recipients: [...new Set(await Promise.all(keys.identities.map((i) => recipientOf(i))))] };
  return null;
}

export function encryptionRecord(settings: EncryptionSettings): EncryptionRecord {
  return { format: 'age', recipients: settings.passphrase ? 0 : settings.recipients.length, passphrase: Boolean(settings.passphrase) };
}

/**
 * The encrypt stage: bytes in, age file bytes out. Memory stays flat: age works in 64 KiB chunks.
 * For node:stream pipeline(): an async generator function over the previous stage's chunks.
 */
export function encryptStage(settings: EncryptionSettings): (source: AsyncIterable<Buffer>) => AsyncGenerator<Uint8Array> {
  return async function* encrypt(source) {
    const e = new (await ageLib()).Encrypter();
    if (settings.passphrase) {
      // Passphrase mode: the package seals the payload itself (it keeps the file key to itself here).
      e.setPassphrase(settings.passphrase);
      if (settings.scryptLogN) e.setScryptWorkFactor(settings.scryptLogN);
      yield* (await e.encrypt(webStream(source))) as unknown as AsyncIterable<Uint8Array>;
      return;
    }
    for (const r of settings.recipients) e.addRecipient(r);
    // The package writes the header (one stanza per recipient, the MAC); a recipient of our own that
    // adds no stanza receives the file key, and Node's ChaCha20-Poly1305 seals the payload (age-stream.ts).
    let fileKey: Uint8Array | null = null;
    e.addRecipient({
      wrapFileKey(key: Uint8Array) {
        fileKey = key;
        return [];
      },
    });
    const empty = await e.encrypt(new Uint8Array(0)); // header || nonce || the empty final chunk's tag
    if (!fileKey) throw new GuardError('INTERNAL', 'age-encryption did not hand out the file key.', { hint: 'This is a bug in prisma-guard (or an age-encryption version it does not know); please report it.' });
    const head = Buffer.from(empty.subarray(0, empty.length - TAG));
    yield head;
    yield* sealStream(payloadKey(fileKey, head.subarray(head.length - NONCE)), source);
  };
}

/** Seals a small JSON value (a manifest's summary) to the recipients; null in passphrase mode. */
export async function sealSummary(settings: EncryptionSettings, value: unknown): Promise<string | null> {
  if (settings.passphrase || !settings.recipients.length) return null;
  const e = new (await ageLib()).Encrypter();
  for (const r of settings.recipients) e.addRecipient(r);
  return Buffer.from(await e.encrypt(JSON.stringify(value))).toString('base64');
}

/** Opens a sealed summary; null when no key opens it or it does not decrypt (the caller then reads the backup). */
export async function openSummary(keys: DecryptionKeys | null | undefined, sealed: string | undefined): Promise<unknown | null> {
  if (!sealed || !keys?.identities.length) return null;
  try {
    const d = new (await ageLib()).Decrypter();
    for (const id of keys.identities) d.addIdentity(id);
    return JSON.parse(await d.decrypt(Buffer.from(sealed, 'base64'), 'text'));
  } catch {
    return null;
  }
}

/** An encrypted backup this machine has no key for (or the wrong one): not a fault of the backup. */
export function isKeyProblem(code: string | undefined): boolean {
  return code === 'BACKUP_KEY_MISSING' || code === 'BACKUP_KEY_WRONG';
}

/** Why a file could not be decrypted, as the error a user gets. */
function decryptError(e: unknown, displayName: string, keys: DecryptionKeys): GuardError {
  const msg = messageOf(e);
  const haveWhat = [keys.identities.length ? `${keys.identities.length} identit${keys.identities.length === 1 ? 'y' : 'ies'} (BACKUP_AGE_IDENTITY)` : '', keys.passphrase ? 'a passphrase (BACKUP_AGE_PASSPHRASE)' : ''].filter(Boolean).join(' and ');
  // With a passphrase, a wrong one can also surface as a header MAC that does not check out.
  if (/no identity matched/i.test(msg) || (/invalid header HMAC/i.test(msg) && keys.passphrase)) {
    return new GuardError('BACKUP_KEY_WRONG', `${displayName} is encrypted to a key this machine does not have: none of ${haveWhat} opens it.`, {
      hint: 'Set BACKUP_AGE_IDENTITY to the identity file whose public key the backup was made for (after a key rotation, keep the old identity lines in the file for old backups), or the passphrase it was made with.',
      cause: e,
    });
  }
  if (/invalid header HMAC|invalid stanza|invalid version|invalid header|invalid .* stanza|scrypt/i.test(msg)) {
    return new GuardError('BACKUP_CORRUPT', `${displayName} is corrupt: its age header does not check out (${msg}). It was damaged or altered after it was written.`, { hint: 'Use another backup (`prisma-guard list`); `prisma-guard verify` checks them all.', cause: e });
  }
  if (e instanceof PayloadError || /ciphertext|invalid tag|tag|final chunk/i.test(msg)) {
    return new GuardError('BACKUP_CORRUPT', `${displayName} is corrupt: the encrypted data fails its authentication (${msg}). Bytes were changed, or the file is truncated.`, { hint: 'Use another backup (`prisma-guard list`); nothing was restored from this one.', cause: e });
  }
  return new GuardError('BACKUP_CORRUPT', `${displayName} could not be decrypted: ${msg}.`, { hint: 'Use another backup (`prisma-guard list`).', cause: e });
}

/**
 * The decrypt stage over an age file's bytes. A missing key, a wrong key, a damaged header or a
 * changed byte anywhere each become a GuardError; nothing is handed out from a chunk that failed its
 * authentication (age authenticates each 64 KiB chunk before it is released).
 */
export function decryptStream(raw: Readable, displayName: string, keys: DecryptionKeys | null | undefined): Readable {
  if (!keys || (!keys.identities.length && !keys.passphrase)) {
    raw.destroy();
    throw new GuardError('BACKUP_KEY_MISSING', `${displayName} is encrypted (age) and no key to open it is set.`, {
      hint: 'Set BACKUP_AGE_IDENTITY to the path of the identity file (or the AGE-SECRET-KEY-1... string) whose public key is in BACKUP_AGE_RECIPIENTS, or BACKUP_AGE_PASSPHRASE for passphrase-encrypted backups.',
    });
  }
  // Taken over now, in the same tick the caller attached its own 'data' listener (the file hash):
  // a chunk emitted before this listener existed would reach the hash and never the decryption.
  const ciphertext = (Readable.toWeb(raw) as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const source = (async function* () {
    const d = new (await ageLib()).Decrypter();
    for (const id of keys.identities) d.addIdentity(id);
    if (keys.passphrase) d.addPassphrase(keys.passphrase);
    let buf = Buffer.alloc(0);
    const more = async (): Promise<boolean> => {
      const r = await ciphertext.next();
      if (r.done) return false;
      buf = Buffer.concat([buf, r.value]);
      return true;
    };
    const cut = (what: string) => new GuardError('BACKUP_TRUNCATED', `${displayName} is truncated: it ends inside its age ${what}.`, { hint: 'Use another backup (`prisma-guard list`).' });
    // The header ends with its MAC line, "--- <base64>\n" (no stanza line starts so).
    let headerEnd = -1;
    for (;;) {
      const mac = buf.indexOf('\n--- ');
      const eol = mac < 0 ? -1 : buf.indexOf(0x0a, mac + 5);
      if (eol >= 0) {
        headerEnd = eol + 1;
        break;
      }
      if (buf.length > MAX_HEADER_BYTES) throw new GuardError('BACKUP_CORRUPT', `${displayName} is corrupt: its age header has no end within ${MAX_HEADER_BYTES} bytes.`, { hint: 'Use another backup (`prisma-guard list`).' });
      if (!(await more())) throw cut('header');
    }
    let fileKey: Uint8Array;
    try {
      fileKey = await d.decryptHeader(buf.subarray(0, headerEnd));
    } catch (e) {
      throw decryptError(e, displayName, keys);
    }
    while (buf.length < headerEnd + NONCE) if (!(await more())) throw cut('payload nonce');
    const key = payloadKey(fileKey, buf.subarray(headerEnd, headerEnd + NONCE));
    const first = buf.subarray(headerEnd + NONCE);
    const rest = (async function* () {
      if (first.length) yield first;
      for (;;) {
        const r = await ciphertext.next();
        if (r.done) return;
        yield r.value;
      }
    })();
    try {
      yield* openStream(key, rest);
    } catch (e) {
      if (e instanceof GuardError) throw e;
      throw decryptError(e, displayName, keys);
    }
  })();
  const out = Readable.from(source, { objectMode: false, highWaterMark: 1 << 16 });
  out.once('close', () => raw.destroy());
  return out;
}

/**
 * What an age header says of the file's keys (for a manifest rebuilt from an encrypted backup):
 * how many X25519 recipients, or a passphrase. `head`: the file's first bytes (the header is small).
 */
export function describeAgeHeader(head: Buffer): EncryptionRecord {
  const end = head.indexOf('\n--- ');
  const lines = head.subarray(0, end < 0 ? head.length : end).toString('latin1').split('\n');
  const x25519 = lines.filter((l) => l.startsWith('-> X25519 ')).length;
  return { format: 'age', recipients: x25519, passphrase: lines.some((l) => l.startsWith('-> scrypt ')) };
}

/** Whether the first bytes of a file are an age header. */
export function isAgeFile(firstBytes: Buffer): boolean {
  return firstBytes.subarray(0, AGE_MAGIC.length).toString('latin1') === AGE_MAGIC;
}

/** An async iterable of bytes as the web ReadableStream age-encryption takes. */
function webStream(source: AsyncIterable<Buffer>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await it.next();
      if (r.done) controller.close();
      else controller.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}
