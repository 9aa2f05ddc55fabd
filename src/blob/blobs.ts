// The blob surface front ends (SMTP, POP3, IMAP) type against: the local BlobStore and the
// ReplicatedBlobStore both implement it. Must not grow anything a front end does not call.

import type { BlobSource } from './temp-writer.ts';
import type { BlobStat, ByteRange, PutOptions, PutResult } from './blob-store.ts';

export interface Blobs {
  /** The local data directory (front ends check the free space of its disk before a put). */
  readonly dir: string;
  /**
   * Store a body durably: locally fsynced, and for a replicated store also on a write quorum of its
   * replicas. `pin: true` protects it from GC until unpin(); a front end unpins once the message's
   * metadata is committed (or abandoned).
   */
  put(source: BlobSource, opts?: PutOptions): Promise<PutResult>;
  /** The whole body, verified against its id. */
  get(id: string): Promise<Uint8Array>;
  /** The body in chunks; see BlobStore.stream for when a checksum failure is reported. */
  stream(id: string, range?: ByteRange): AsyncIterable<Uint8Array>;
  has(id: string): Promise<boolean>;
  stat(id: string): Promise<BlobStat>;
  size(id: string): Promise<number>;
  pin(id: string): void;
  unpin(id: string): void;
}
