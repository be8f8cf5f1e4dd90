/**
 * The age payload sealed and opened with Node's ChaCha20-Poly1305 (lib/pipeline/age-stream.ts),
 * checked against the age-encryption package's own implementation in both directions, at the sizes
 * where STREAM has edge cases: empty, one byte, one short of a chunk, exactly one chunk, one over,
 * several whole chunks, and a ragged end.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as age from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { decryptStream, encryptStage } from '../../lib/pipeline/age.ts';

const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536, 200_000];

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Plaintext handed over in uneven pieces, as gzip does. */
async function* pieces(b: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < b.length; ) {
    const n = 1 + ((at * 7919) % 40000);
    yield b.subarray(at, at + n);
    at += n;
  }
}

describe('age payload (STREAM) with node:crypto', async () => {
  const identity = await age.generateX25519Identity();
  const recipient = await age.identityToRecipient(identity);

  it.each(SIZES)('%i bytes: ours seals what the package opens', async (size) => {
    const plain = randomBytes(size);
    const sealed = await collect(encryptStage({ recipients: [recipient] })(pieces(plain)));
    const d = new age.Decrypter();
    d.addIdentity(identity);
    expect(Buffer.from(await d.decrypt(sealed))).toEqual(plain);
  });

  it.each(SIZES)('%i bytes: ours opens what the package seals, and refuses it changed', async (size) => {
    const plain = randomBytes(size);
    const e = new age.Encrypter();
    e.addRecipient(recipient);
    const sealed = Buffer.from(await e.encrypt(plain));
    const open = (b: Buffer) => collect(decryptStream(Readable.from([b]), 'x.age', { identities: [identity] }));
    expect(await open(sealed)).toEqual(plain);
    const changed = Buffer.from(sealed);
    changed[changed.length - 1 - (size % 17)] ^= 0x80;
    await expect(open(changed)).rejects.toMatchObject({ code: 'BACKUP_CORRUPT' });
    await expect(open(sealed.subarray(0, sealed.length - 1))).rejects.toMatchObject({ code: expect.stringMatching(/BACKUP_CORRUPT|BACKUP_TRUNCATED/) });
  });
});
