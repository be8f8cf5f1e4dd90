/**
 * Signed backups (Ed25519, node:crypto). A backup is as trusted as a SQL dump: whoever can write a
 * file into the backup folder can make prisma-guard restore it. Checksums only catch accidents (a
 * forger recomputes them). A signature says who wrote the backup: with `BACKUP_SIGNING_KEY` set, every
 * manifest carries an Ed25519 signature over the backup's identity (file name, time, source, kind,
 * scope, the SHA-256 of the compressed file and of its content as the trailer states it, the tables'
 * counts and checksums); with `BACKUP_VERIFY_KEY` set, verify, restore, `latest` and
 * emergency-restore accept only backups signed by one of those keys.
 *
 * The signed fields never change after the backup is written (pins and verification records are
 * not signed, so pinning a signed backup keeps its signature valid).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GuardError, messageOf } from '../core/errors.ts';
import type { BackupManifest } from './manifest.ts';

export interface BackupSignature {
  alg: 'ed25519';
  /** The first 16 hex digits of the SHA-256 of the raw public key: which key signed. */
  keyId: string;
  /** Base64 Ed25519 signature over signaturePayload(manifest). */
  value: string;
}

export interface TrustedKey {
  keyId: string;
  key: KeyObject;
}

/** What a signature check found. */
export type SignatureState = 'valid' | 'unsigned' | 'invalid' | 'unknown-key';

const INLINE_PREFIX = 'ed25519:';

function rawPublicKey(key: KeyObject): Buffer {
  // The SPKI DER of an Ed25519 key is a fixed 12-byte prefix and the 32-byte key.
  return key.export({ format: 'der', type: 'spki' }).subarray(-32);
}

/** The id printed for a public key (and stored with each signature). */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}

/** `ed25519:<base64 of the raw 32-byte public key>`: the form BACKUP_VERIFY_KEY takes inline. */
export function inlinePublicKey(publicKey: KeyObject): string {
  return INLINE_PREFIX + rawPublicKey(publicKey).toString('base64');
}

/** A new key pair: the private key as PKCS#8 PEM (keep it secret), the public key as SPKI PEM and inline. */
export function generateSigningKeys(): { privatePem: string; publicPem: string; publicInline: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicInline: inlinePublicKey(publicKey),
    keyId: keyIdOf(publicKey),
  };
}

function keyError(what: string, why: string): GuardError {
  return new GuardError('KEY_INVALID', `${what}: ${why}.`, { hint: 'Run `prisma-guard keygen` to make a key pair; set BACKUP_SIGNING_KEY to the private key file and BACKUP_VERIFY_KEY to the public key (a .pub file or its ed25519:… form).' });
}

/** The signing key from BACKUP_SIGNING_KEY: the path of a PKCS#8 PEM file, as keygen writes it. */
export function loadSigningKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (e) {
    throw keyError(`BACKUP_SIGNING_KEY (${file}) cannot be read as a private key`, messageOf(e));
  }
  if (key.asymmetricKeyType !== 'ed25519') throw keyError(`BACKUP_SIGNING_KEY (${file})`, `it is a ${key.asymmetricKeyType} key, not ed25519`);
  return key;
}

/** The trusted keys from BACKUP_VERIFY_KEY: comma-separated `ed25519:<base64>` keys or paths of SPKI PEM files (several: key rotation). */
export function loadVerifyKeys(spec: string): TrustedKey[] {
  const out: TrustedKey[] = [];
  for (const item of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    let key: KeyObject;
    try {
      if (item.startsWith(INLINE_PREFIX)) {
        const raw = Buffer.from(item.slice(INLINE_PREFIX.length), 'base64');
        if (raw.length !== 32) throw new Error('an ed25519 public key is 32 bytes');
        key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
      } else {
        key = createPublicKey(readFileSync(item));
      }
    } catch (e) {
      throw keyError(`BACKUP_VERIFY_KEY entry "${item.slice(0, 60)}" is not a public key`, messageOf(e));
    }
    if (key.asymmetricKeyType !== 'ed25519') throw keyError(`BACKUP_VERIFY_KEY entry "${item.slice(0, 60)}"`, `it is a ${key.asymmetricKeyType} key, not ed25519`);
    out.push({ keyId: keyIdOf(key), key });
  }
  if (!out.length) throw keyError('BACKUP_VERIFY_KEY', 'it is set but holds no key');
  return out;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  return value;
}

/** The bytes a signature covers: the manifest's fields that never change after the backup, in a canonical JSON form. */
export function signaturePayload(m: BackupManifest): Buffer {
  const signed = {
    format: 'prisma-guard-signature-1',
    file: m.file,
    createdAt: m.createdAt,
    sha256: m.sha256,
    contentSha256: m.contentSha256 ?? null,
    sizeBytes: m.sizeBytes,
    rowsTotal: m.rowsTotal,
    tables: m.tables,
    kind: m.kind,
    scope: m.scope,
    source: m.source,
    dialect: m.dialect,
    database: m.database,
    migrations: m.migrations,
    schemaPrismaHash: m.schemaPrismaHash,
    toolVersion: m.toolVersion,
  };
  return Buffer.from(JSON.stringify(canonical(signed)));
}

/** Signs a manifest's identity. */
export function signManifest(m: BackupManifest, privateKey: KeyObject): BackupSignature {
  return { alg: 'ed25519', keyId: keyIdOf(createPublicKey(privateKey)), value: sign(null, signaturePayload(m), privateKey).toString('base64') };
}

/** Whether `m` carries a valid signature by one of `keys`. */
export function checkSignature(m: BackupManifest, keys: readonly TrustedKey[]): SignatureState {
  const s = m.signature;
  if (!s) return 'unsigned';
  const key = keys.find((k) => k.keyId === s.keyId);
  if (!key) return 'unknown-key';
  try {
    return verify(null, signaturePayload(m), key.key, Buffer.from(s.value, 'base64')) ? 'valid' : 'invalid';
  } catch {
    return 'invalid';
  }
}

/** A sentence for a state other than valid. */
export function describeSignatureState(state: SignatureState, file: string): string {
  switch (state) {
    case 'unsigned':
      return `${file} is not signed, and BACKUP_VERIFY_KEY requires a signature`;
    case 'unknown-key':
      return `${file} is signed by a key that is not in BACKUP_VERIFY_KEY`;
    case 'invalid':
      return `${file} has a signature that does not match its contents: the backup or its manifest was changed after it was signed`;
    default:
      return `${file} is signed by a trusted key`;
  }
}
