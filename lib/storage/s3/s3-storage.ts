import { Readable } from 'node:stream';
import { GuardError, messageOf } from '../../core/errors.ts';
import { hashTap } from '../../core/hash-tap.ts';
import { redactSecrets } from '../../core/url.ts';
import { checkObjectName, exists, notFound, type ByteRange, type ObjectInfo, type ReadOptions, type StorageBackend, type WriteOptions, type WriteResult } from '../contract.ts';

/** Where an `s3://bucket/prefix` location points, and how to reach it. */
export interface S3Location {
  bucket: string;
  /** Key prefix, without leading or trailing `/` ('' for the bucket's root). */
  prefix: string;
  /** BACKUP_S3_ENDPOINT: a self-hosted or other S3-compatible server (MinIO, R2, Spaces, ...). */
  endpoint?: string;
  /** AWS_REGION / AWS_DEFAULT_REGION; `us-east-1` when unset. */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which self-hosted servers need; default: on with an endpoint. */
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the SDK's usual chain (AWS_ACCESS_KEY_ID, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** `s3://bucket/some/prefix` -> bucket and prefix; null when it is not an s3 location. */
export function parseS3Location(location: string): { bucket: string; prefix: string } | null {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(location.trim());
  if (!m) return null;
  return { bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

type S3Sdk = typeof import('@aws-sdk/client-s3');
type UploadSdk = typeof import('@aws-sdk/lib-storage');

async function loadSdk(): Promise<{ s3: S3Sdk; upload: UploadSdk }> {
  try {
    return { s3: await import('@aws-sdk/client-s3'), upload: await import('@aws-sdk/lib-storage') };
  } catch (e) {
    throw new GuardError('DRIVER_NOT_INSTALLED', 'The backup location is S3, and prisma-guard reaches it with the "@aws-sdk/client-s3" and "@aws-sdk/lib-storage" packages, which are not installed in this project.', {
      hint: 'Install them in your project: npm install @aws-sdk/client-s3 @aws-sdk/lib-storage',
      cause: e,
      details: { package: '@aws-sdk/client-s3' },
    });
  }
}

/**
 * S3-compatible object storage. Objects are `prefix/name`. A write is a multipart upload
 * (@aws-sdk/lib-storage): S3 shows the object only when the upload completes, and a failed or
 * aborted upload is aborted server-side, so no partial object is ever visible. Reads stream the
 * body (with a Range header for ranges). Errors name the bucket and key, never a credential.
 */
export class S3Storage implements StorageBackend {
  readonly features = { atomicReplace: true, rangeReads: true, freeSpace: false };
  readonly location: string;
  private client: import('@aws-sdk/client-s3').S3Client | null = null;
  private sdk: { s3: S3Sdk; upload: UploadSdk } | null = null;

  constructor(private readonly where: S3Location) {
    this.location = `s3://${where.bucket}${where.prefix ? '/' + where.prefix : ''}`;
  }

  private key(name: string): string {
    return this.where.prefix ? `${this.where.prefix}/${name}` : name;
  }

  private async connect(): Promise<{ client: import('@aws-sdk/client-s3').S3Client; sdk: { s3: S3Sdk; upload: UploadSdk } }> {
    if (!this.client || !this.sdk) {
      this.sdk = await loadSdk();
      this.client = new this.sdk.s3.S3Client({
        region: this.where.region ?? 'us-east-1',
        endpoint: this.where.endpoint,
        forcePathStyle: this.where.forcePathStyle ?? Boolean(this.where.endpoint),
        credentials: this.where.credentials,
        // Retries with backoff are the SDK's (3 attempts); a dead endpoint fails within the timeout.
        requestHandler: { requestTimeout: 60_000, connectionTimeout: 10_000 } as never,
      });
    }
    return { client: this.client, sdk: this.sdk };
  }

  private fail(what: string, e: unknown): GuardError {
    if (e instanceof GuardError) return e;
    const name = (e as { name?: string })?.name ?? '';
    const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
    const hint =
      name === 'NoSuchBucket'
        ? `Create the bucket ${this.where.bucket}, or fix BACKUP_DIR / BACKUP_COPY_TO.`
        : status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch'
          ? 'Check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the bucket policy.'
          : 'Check BACKUP_S3_ENDPOINT, the network, and that the server is running.';
    return new GuardError('STORAGE_FAILED', `${what} in ${this.location} failed: ${redactSecrets(messageOf(e))}${name ? ` (${name})` : ''}.`, { hint, cause: e });
  }

  async list(): Promise<ObjectInfo[]> {
    const { client, sdk } = await this.connect();
    const out: ObjectInfo[] = [];
    const prefix = this.where.prefix ? this.where.prefix + '/' : '';
    let token: string | undefined;
    try {
      do {
        const page = await client.send(new sdk.s3.ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) {
          const name = (o.Key ?? '').slice(prefix.length);
          if (!name || name.includes('/')) continue; // deeper keys are not ours
          out.push({ name, size: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0), kind: 'object' });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.fail('Listing', e);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async stat(name: string): Promise<ObjectInfo | null> {
    checkObjectName(name, this.location);
    const { client, sdk } = await this.connect();
    try {
      const h = await client.send(new sdk.s3.HeadObjectCommand({ Bucket: this.where.bucket, Key: this.key(name) }));
      return { name, size: h.ContentLength ?? 0, modifiedAt: h.LastModified ?? new Date(0), kind: 'object', ...(h.ETag ? { version: h.ETag } : {}) };
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (status === 404 || (e as { name?: string })?.name === 'NotFound' || (e as { name?: string })?.name === 'NoSuchKey') return null;
      throw this.fail(`Reading the size of ${name}`, e);
    }
  }

  async read(name: string, range?: ByteRange, options: ReadOptions = {}): Promise<Readable> {
    checkObjectName(name, this.location);
    const { client, sdk } = await this.connect();
    try {
      const r = await client.send(
        new sdk.s3.GetObjectCommand({
          Bucket: this.where.bucket,
          Key: this.key(name),
          Range: range ? `bytes=${range.start}-${range.end !== undefined ? range.end - 1 : ''}` : undefined,
          IfMatch: options.ifMatch,
        }),
      );
      // Servers that ignore If-Match (some self-hosted ones) still say which version they sent.
      if (options.ifMatch && r.ETag && r.ETag !== options.ifMatch) {
        (r.Body as Readable | undefined)?.destroy();
        throw replaced(name, this.location);
      }
      return r.Body as Readable;
    } catch (e) {
      if (e instanceof GuardError) throw e;
      const n = (e as { name?: string })?.name;
      if (n === 'NoSuchKey' || n === 'NotFound') throw notFound(name, this.location);
      const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (options.ifMatch && (status === 412 || n === 'PreconditionFailed')) throw replaced(name, this.location, e);
      throw this.fail(`Reading ${name}`, e);
    }
  }

  async write(name: string, body: AsyncIterable<Uint8Array> | Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    checkObjectName(name, this.location);
    if (options.noOverwrite && (await this.stat(name))) throw exists(name, this.location);
    const { client, sdk } = await this.connect();
    const tap = hashTap();
    const source = body instanceof Uint8Array ? Readable.from([Buffer.from(body)]) : Readable.from(body, { objectMode: false });
    source.on('error', (e) => tap.stream.destroy(e));
    source.pipe(tap.stream);
    const upload = new sdk.upload.Upload({
      client,
      params: { Bucket: this.where.bucket, Key: this.key(name), Body: tap.stream, ContentType: 'application/octet-stream' },
      queueSize: 2,
      partSize: 5 * 1024 * 1024, // the smallest S3 allows: two parts in flight keep the upload near 10 MB of memory
      leavePartsOnError: false, // a failed upload is aborted: no partial object, no orphaned parts
    });
    const onAbort = () => void upload.abort().catch(() => {});
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (e) {
      await upload.abort().catch(() => {});
      if (options.signal?.aborted) throw new GuardError('WRITE_FAILED', `Writing ${name} to ${this.location} was aborted; nothing was stored under its name.`, { cause: e });
      throw this.fail(`Writing ${name}`, e);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    return { size: tap.size(), sha256: tap.sha256() };
  }

  async remove(name: string): Promise<void> {
    checkObjectName(name, this.location);
    const { client, sdk } = await this.connect();
    try {
      await client.send(new sdk.s3.DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.key(name) }));
    } catch (e) {
      throw this.fail(`Removing ${name}`, e);
    }
  }
}

function replaced(name: string, location: string, cause?: unknown): GuardError {
  return new GuardError('BACKUP_CORRUPT', `${name} in ${location} was replaced while it was being read (its ETag changed); no byte of the new object was used.`, {
    hint: 'Make sure nothing else writes under that backup name, then run the command again.',
    cause,
  });
}
