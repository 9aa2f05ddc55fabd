// The blob services nodes call on each other (names and message shapes) and the checks that turn a
// peer's untrusted body into a typed value. Pure: no disk, network or store access here.
//
// Copy of one blob to a replica (sender: replicated.ts, receiver: peer-service.ts):
//   blob.put-begin {id, size, body?}  -> {status: 'stored' | 'have' | 'upload', uploadId?}
//       body present (size <= one transfer chunk): stored and fsynced in this one request.
//       'have': an intact-sized copy exists and its GC grace period was restarted (touch).
//   blob.put-chunk {uploadId, offset, bytes} -> {received}   offsets must follow each other
//   blob.put-commit {uploadId} -> {size}                      answered after the replica's fsync
//   blob.put-abort {uploadId} -> {}
// Any failure restarts the copy from byte 0 with a new begin (copies are restartable, not resumed).
//   blob.has {ids} -> {have: boolean[]}                       batched presence, for repair
//   blob.read {id, offset, length} -> {size, mtimeMs, bytes}           a range of a local copy

import { type BlobId, parseBlobId } from './blob-id.ts';
import { BlobError } from './errors.ts';

export const blobServices = {
  putBegin: 'blob.put-begin',
  putChunk: 'blob.put-chunk',
  putCommit: 'blob.put-commit',
  putAbort: 'blob.put-abort',
  has: 'blob.has',
  read: 'blob.read',
} as const;

export interface PutBeginRequest {
  readonly id: BlobId;
  readonly size: number;
  readonly body?: Uint8Array;
}
export type PutBeginAnswer = { readonly status: 'stored' | 'have' } | { readonly status: 'upload'; readonly uploadId: string };
export interface PutChunkRequest {
  readonly uploadId: string;
  readonly offset: number;
  readonly bytes: Uint8Array;
}
export interface UploadRef {
  readonly uploadId: string;
}
export interface HasRequest {
  readonly ids: readonly BlobId[];
}
export interface ReadRequest {
  readonly id: BlobId;
  readonly offset: number;
  readonly length: number;
}
export interface ReadAnswer {
  readonly size: number;
  /** The copy's last-write time on the answering node (its own clock), ms since the epoch. */
  readonly mtimeMs: number;
  readonly bytes: Uint8Array;
}

function invalid(what: string): BlobError {
  return new BlobError('BLOB_PEER_INVALID', `malformed ${what}`);
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(what);
  return v as Record<string, unknown>;
}

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(what);
  return v;
}

function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw invalid(what);
  return v;
}

function uploadId(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) throw invalid(what);
  return v;
}

export function parsePutBegin(v: unknown): PutBeginRequest {
  const r = record(v, 'put-begin');
  const id = parseBlobId(r['id']);
  const size = count(r['size'], 'put-begin size');
  if (r['body'] === undefined || r['body'] === null) return { id, size };
  const body = bytes(r['body'], 'put-begin body');
  if (body.length !== size) throw invalid('put-begin: body length differs from size');
  return { id, size, body };
}

export function parsePutBeginAnswer(v: unknown): PutBeginAnswer {
  const r = record(v, 'put-begin answer');
  if (r['status'] === 'stored' || r['status'] === 'have') return { status: r['status'] };
  if (r['status'] === 'upload') return { status: 'upload', uploadId: uploadId(r['uploadId'], 'put-begin answer uploadId') };
  throw invalid('put-begin answer status');
}

export function parsePutChunk(v: unknown): PutChunkRequest {
  const r = record(v, 'put-chunk');
  return { uploadId: uploadId(r['uploadId'], 'put-chunk uploadId'), offset: count(r['offset'], 'put-chunk offset'), bytes: bytes(r['bytes'], 'put-chunk bytes') };
}

export function parseUploadRef(v: unknown): UploadRef {
  return { uploadId: uploadId(record(v, 'upload reference')['uploadId'], 'uploadId') };
}

export function parseHas(v: unknown, idsMax: number): HasRequest {
  const ids = record(v, 'has')['ids'];
  if (!Array.isArray(ids) || ids.length > idsMax) throw invalid(`has: ids must be an array of at most ${idsMax}`);
  return { ids: ids.map(parseBlobId) };
}

export function parseHasAnswer(v: unknown, expected: number): boolean[] {
  const have = record(v, 'has answer')['have'];
  if (!Array.isArray(have) || have.length !== expected || !have.every((h) => typeof h === 'boolean')) throw invalid('has answer');
  return have as boolean[];
}

export function parseRead(v: unknown, lengthMax: number): ReadRequest {
  const r = record(v, 'read');
  const length = count(r['length'], 'read length');
  if (length > lengthMax) throw invalid(`read: length ${length} > ${lengthMax}`);
  return { id: parseBlobId(r['id']), offset: count(r['offset'], 'read offset'), length };
}

export function parseReadAnswer(v: unknown, lengthMax: number): ReadAnswer {
  const r = record(v, 'read answer');
  const mtimeMs = r['mtimeMs'];
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) throw invalid('read answer mtimeMs');
  const answer = { size: count(r['size'], 'read answer size'), mtimeMs, bytes: bytes(r['bytes'], 'read answer bytes') };
  if (answer.bytes.length > lengthMax) throw invalid('read answer: more bytes than asked');
  return answer;
}
