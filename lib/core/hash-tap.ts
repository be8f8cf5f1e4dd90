import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** A pass-through stream that counts and SHA-256-hashes the bytes flowing through it. */
export function hashTap(): { stream: Transform; size(): number; sha256(): string } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  let digest: string | null = null;
  return { stream, size: () => size, sha256: () => (digest ??= hash.digest('hex')) };
}
