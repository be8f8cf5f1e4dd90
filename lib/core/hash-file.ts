import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** SHA-256 (hex) of every byte a stream yields, read to its end. */
export async function sha256OfStream(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}

/** SHA-256 (hex) of a file's bytes. */
export function sha256File(file: string): Promise<string> {
  return sha256OfStream(createReadStream(file, { highWaterMark: 1 << 20 }));
}
