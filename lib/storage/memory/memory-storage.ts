import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { checkObjectName, exists, notFound, type ByteRange, type ObjectInfo, type StorageBackend, type WriteOptions, type WriteResult } from '../contract.ts';

/**
 * Objects in memory: a real StorageBackend (same contract, same errors) for tests and for tools
 * that stage objects before copying them elsewhere. A write becomes visible in one assignment after
 * its last byte; an aborted or failing body leaves nothing.
 */
export class MemoryStorage implements StorageBackend {
  readonly features = { atomicReplace: true, rangeReads: true, freeSpace: false };
  private readonly objects = new Map<string, { bytes: Buffer; modifiedAt: Date }>();

  constructor(readonly location = 'memory:') {}

  async list(): Promise<ObjectInfo[]> {
    return [...this.objects.entries()]
      .map(([name, o]) => ({ name, size: o.bytes.length, modifiedAt: o.modifiedAt, kind: 'object' as const }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async stat(name: string): Promise<ObjectInfo | null> {
    checkObjectName(name, this.location);
    const o = this.objects.get(name);
    return o ? { name, size: o.bytes.length, modifiedAt: o.modifiedAt, kind: 'object' } : null;
  }

  async read(name: string, range?: ByteRange): Promise<Readable> {
    checkObjectName(name, this.location);
    const o = this.objects.get(name);
    if (!o) throw notFound(name, this.location);
    const bytes = range ? o.bytes.subarray(range.start, range.end ?? o.bytes.length) : o.bytes;
    return Readable.from([Buffer.from(bytes)]);
  }

  async write(name: string, body: AsyncIterable<Uint8Array> | Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    checkObjectName(name, this.location);
    if (options.noOverwrite && this.objects.has(name)) throw exists(name, this.location);
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    const take = (c: Uint8Array) => {
      options.signal?.throwIfAborted();
      const b = Buffer.from(c);
      chunks.push(b);
      hash.update(b);
    };
    if (body instanceof Uint8Array) take(body);
    else for await (const c of body) take(c);
    options.signal?.throwIfAborted();
    if (options.noOverwrite && this.objects.has(name)) throw exists(name, this.location);
    const bytes = Buffer.concat(chunks);
    this.objects.set(name, { bytes, modifiedAt: new Date() });
    return { size: bytes.length, sha256: hash.digest('hex') };
  }

  async remove(name: string): Promise<void> {
    checkObjectName(name, this.location);
    this.objects.delete(name);
  }
}
