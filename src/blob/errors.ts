// Typed errors of the blob subsystem: stable codes, optional cause, and the translation of foreign I/O errors.
// Operating conditions only; programmer errors are assertions (../raft/assert.ts).

import type { BlobId } from './blob-id.ts';

export type BlobErrorCode =
  | 'BLOB_INVALID_ID' // not 64 lowercase hex characters (e.g. a path such as `../../etc/passwd`)
  | 'BLOB_NOT_FOUND' // no blob with this id is stored here (another replica may have it)
  | 'BLOB_CHECKSUM' // content does not hash to its id: on read the file was quarantined; on put nothing was stored
  | 'BLOB_TOO_LARGE' // the body exceeded the size limit while streaming; nothing was stored
  | 'BLOB_RANGE_INVALID' // a byte range that is negative, not an integer, or has end < start
  | 'BLOB_PINNED' // delete refused: a transaction still needs the blob (see BlobStore.pin)
  | 'BLOB_BUSY' // too many puts running and queued: retry later (SMTP: 451 4.3.2 / 421 4.3.2)
  | 'STORAGE_FULL' // ENOSPC or EDQUOT: nothing was stored, the store keeps working (SMTP: 452 4.3.1)
  | 'BLOB_IO' // any other I/O failure; `cause` holds the system error
  | 'BLOB_QUORUM' // a put could not fsync a write quorum (majority of N) of copies: retry later (SMTP: 451 4.3.0)
  | 'BLOB_UNAVAILABLE' // no reachable node holds an intact copy right now (another may later: retry)
  | 'BLOB_UPLOAD' // a peer's copy session is unknown, expired or out of order: the sender restarts the copy
  | 'BLOB_PEER_INVALID' // a peer sent a request or answer that does not have the expected shape
  | 'BLOB_LIMITS_INVALID'; // a limit is out of range (BlobStore.open)

export class BlobError extends Error {
  readonly code: BlobErrorCode;
  /** The blob concerned, when there is one and its id was valid. */
  readonly blobId: BlobId | undefined;
  /** BLOB_CHECKSUM on read: where the corrupt file was moved (undefined if it was already gone). */
  readonly quarantinePath: string | undefined;

  constructor(
    code: BlobErrorCode,
    message: string,
    opts: { cause?: unknown; blobId?: BlobId; quarantinePath?: string } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BlobError';
    this.code = code;
    this.blobId = opts.blobId;
    this.quarantinePath = opts.quarantinePath;
  }
}

export function isBlobError(e: unknown, code?: BlobErrorCode): e is BlobError {
  return e instanceof BlobError && (code === undefined || e.code === code);
}

/** The errno code of a Node system error (`ENOENT`, `ENOSPC`, ...), or undefined for anything else. */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  const code = (e as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export function isFullDiskError(e: unknown): boolean {
  const code = errnoCode(e);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Translate a foreign error at the module boundary: BlobErrors pass through, a full disk becomes
 * STORAGE_FULL, everything else BLOB_IO with the original as `cause`.
 */
export function toBlobError(e: unknown, what: string, blobId?: BlobId): BlobError {
  if (e instanceof BlobError) return e;
  const opts = blobId === undefined ? { cause: e } : { cause: e, blobId };
  if (isFullDiskError(e)) return new BlobError('STORAGE_FULL', `${what}: no space left (${errnoCode(e)})`, opts);
  const detail = errnoCode(e) ?? (e instanceof Error ? e.message : String(e));
  return new BlobError('BLOB_IO', `${what}: ${detail}`, opts);
}
