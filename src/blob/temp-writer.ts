// Streams one body into a new temp file while hashing it: the size limit is checked before each write, fsync at the end.
// Must not name, move or keep the file: on any failure it is removed; the caller's own source errors pass through untouched.

import { createHash } from 'node:crypto';
import { assert } from '../raft/assert.ts';
import { type BlobId, blobIdFromDigest } from './blob-id.ts';
import { BlobError, toBlobError } from './errors.ts';
import type { BlobFileHandle, BlobFs } from './fs.ts';

export type BlobSource = AsyncIterable<Uint8Array> | Uint8Array;

export interface TempWriteResult {
  readonly id: BlobId;
  readonly size: number;
}

/** Wraps an error thrown by the caller's source so it is rethrown as is, not translated. */
class SourceFailed extends Error {
  constructor(cause: unknown) {
    super('blob source failed', { cause });
  }
}

function tooLarge(sizeBytes: number, sizeMax: number): BlobError {
  return new BlobError('BLOB_TOO_LARGE', `body exceeds ${sizeMax} bytes (at least ${sizeBytes} received)`);
}

/** Write `source` to a new file at `path` (which must not exist), fsync it, and return its SHA-256 id and size. */
export async function writeTempFile(
  fs: BlobFs,
  path: string,
  source: BlobSource,
  sizeMax: number,
  chunkBytes: number,
): Promise<TempWriteResult> {
  if (source instanceof Uint8Array && source.length > sizeMax) throw tooLarge(source.length, sizeMax);
  let fh: BlobFileHandle | undefined;
  try {
    fh = await fs.open(path, 'wx', 0o600);
    const sink = new HashingSink(fh, sizeMax, chunkBytes);
    for await (const chunk of guardedChunks(source, chunkBytes)) await sink.add(chunk);
    await sink.flush();
    await fh.sync();
    const closing = fh;
    fh = undefined;
    await closing.close();
    return sink.result();
  } catch (e) {
    await fh?.close().catch(() => {});
    await fs.unlink(path).catch(() => {}); // if even this fails, BlobStore.open removes it
    if (e instanceof SourceFailed) throw e.cause;
    throw toBlobError(e, 'writing a blob');
  }
}

/** The source in chunks; errors of the caller's iterator come out wrapped; stopping early stops the source. */
async function* guardedChunks(source: BlobSource, chunkBytes: number): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let off = 0; off < source.length; off += chunkBytes) yield source.subarray(off, off + chunkBytes);
    return;
  }
  const it = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        finished = true;
        throw new SourceFailed(e);
      }
      if (r.done === true) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // We stopped early (size limit, disk full): tell the source, e.g. a Readable is destroyed.
    if (!finished) await Promise.resolve(it.return?.()).catch(() => {});
  }
}

/** Hashes every accepted byte before writing it; coalesces small chunks into one write of chunkBytes. */
class HashingSink {
  private readonly fh: BlobFileHandle;
  private readonly sizeMax: number;
  private readonly chunkBytes: number;
  private readonly hash = createHash('sha256');
  private accepted = 0; // bytes hashed
  private written = 0; // bytes in the file, also the next write position
  private pending: Buffer | undefined;
  private pendingBytes = 0;

  constructor(fh: BlobFileHandle, sizeMax: number, chunkBytes: number) {
    this.fh = fh;
    this.sizeMax = sizeMax;
    this.chunkBytes = chunkBytes;
  }

  async add(chunk: Uint8Array): Promise<void> {
    assert(chunk instanceof Uint8Array, 'a put source yielded a non-Uint8Array chunk (a Readable with an encoding set?)');
    if (this.accepted + chunk.length > this.sizeMax) throw tooLarge(this.accepted + chunk.length, this.sizeMax);
    this.accepted += chunk.length;
    this.hash.update(chunk);
    if (chunk.length >= this.chunkBytes) {
      await this.flush();
      await this.writeAll(chunk);
      return;
    }
    if (this.pendingBytes + chunk.length > this.chunkBytes) await this.flush();
    this.pending ??= Buffer.allocUnsafe(this.chunkBytes);
    this.pending.set(chunk, this.pendingBytes);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes === this.chunkBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending === undefined || this.pendingBytes === 0) return;
    await this.writeAll(this.pending.subarray(0, this.pendingBytes));
    this.pendingBytes = 0;
  }

  result(): TempWriteResult {
    assert(this.pendingBytes === 0 && this.written === this.accepted, 'blob result taken before every byte was written');
    return { id: blobIdFromDigest(this.hash.digest('hex')), size: this.accepted };
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length; ) {
      const { bytesWritten } = await this.fh.write(bytes, off, bytes.length - off, this.written);
      if (bytesWritten <= 0) throw new BlobError('BLOB_IO', `write(2) wrote nothing at offset ${this.written}`);
      off += bytesWritten;
      this.written += bytesWritten;
    }
  }
}
