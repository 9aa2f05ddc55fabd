// Streams a blob (or a range of it) from peers that hold copies, switching peer at the same offset
// when one fails. Must not write anything locally; a whole-blob stream is verified at its end.

import { createHash } from 'node:crypto';
import type { NodeId } from '../raft/index.ts';
import type { BlobId } from './blob-id.ts';
import type { ByteRange } from './blob-store.ts';
import { BlobError } from './errors.ts';
import type { BlobPeerClient } from './peer-client.ts';
import type { ReadAnswer } from './wire.ts';

/**
 * Chunks of the blob from `peers` in order. Every copy has the same bytes at the same offset (the
 * id is their SHA-256), so after a failure the next peer continues where the last one stopped.
 * Errors: BLOB_UNAVAILABLE when no peer is left; BLOB_CHECKSUM after the last chunk of a whole-blob
 * stream that does not hash to its id (the consumer must retract what it forwarded).
 */
export async function* streamFromPeers(client: BlobPeerClient, peers: readonly NodeId[], id: BlobId, range: ByteRange | undefined): AsyncGenerator<Uint8Array> {
  let peerIndex = 0;
  let size: number | undefined;
  let last: unknown;
  const readAt = async (pos: number, length: number): Promise<ReadAnswer> => {
    for (; peerIndex < peers.length; peerIndex++) {
      try {
        const a = await client.read(peers[peerIndex]!, id, pos, length);
        if (size === undefined || a.size === size) return a;
        last = new BlobError('BLOB_CHECKSUM', `${peers[peerIndex]}'s copy of ${id} has another size`, { blobId: id });
      } catch (e) {
        last = e;
      }
    }
    throw new BlobError('BLOB_UNAVAILABLE', `no reachable node could serve blob ${id} at offset ${pos}`, { blobId: id, cause: last });
  };
  const first = await readAt(range?.start ?? 0, Number.MAX_SAFE_INTEGER);
  size = first.size;
  const start = Math.min(range?.start ?? 0, size);
  const end = Math.min(range?.end ?? size, size);
  const hash = start === 0 && end === size ? createHash('sha256') : undefined;
  let chunk = first.bytes.subarray(0, Math.max(0, end - start));
  for (let pos = start; pos < end; ) {
    if (chunk.length === 0) throw new BlobError('BLOB_CHECKSUM', `a copy of ${id} is shorter than its size`, { blobId: id });
    hash?.update(chunk); // before yielding: the consumer may modify its chunk
    pos += chunk.length;
    yield chunk;
    if (pos < end) chunk = (await readAt(pos, end - pos)).bytes.subarray(0, end - pos);
  }
  if (hash !== undefined && hash.digest('hex') !== id) {
    throw new BlobError('BLOB_CHECKSUM', `blob ${id} read from peers does not match its checksum`, { blobId: id });
  }
}
