// BlobId: the branded SHA-256 hex name of a blob, and the one validator every entry point uses.
// Must not touch the disk; a string becomes a BlobId only through parseBlobId or a computed digest.

import { createHash } from 'node:crypto';
import { assert } from '../raft/assert.ts';
import { BlobError } from './errors.ts';

/** 64 lowercase hex characters: the SHA-256 of the blob's bytes (FIPS 180-4). */
export type BlobId = string & { readonly __brand: 'BlobId' };

const blobIdPattern = /^[0-9a-f]{64}$/;

export function isBlobId(s: unknown): s is BlobId {
  return typeof s === 'string' && blobIdPattern.test(s);
}

/**
 * Validate untrusted input (an IMAP/metadata field, a peer's message). Anything else than 64
 * lowercase hex characters is refused, so an id can never name a path outside the store.
 */
export function parseBlobId(s: unknown): BlobId {
  if (isBlobId(s)) return s;
  const shown = typeof s === 'string' ? JSON.stringify(s.slice(0, 80)) : typeof s;
  throw new BlobError('BLOB_INVALID_ID', `invalid blob id ${shown}: expected 64 lowercase hex characters`);
}

/** The id of a finished SHA-256 digest; a malformed digest is a programmer error. */
export function blobIdFromDigest(hex: string): BlobId {
  assert(isBlobId(hex), () => `sha-256 digest ${hex} is not 64 lowercase hex characters`);
  return hex;
}

/** The id a body will be stored under: SHA-256 of its bytes. */
export function blobIdOf(bytes: Uint8Array): BlobId {
  return blobIdFromDigest(createHash('sha256').update(bytes).digest('hex'));
}
