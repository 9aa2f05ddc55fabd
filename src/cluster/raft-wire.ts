// Raft messages on the wire: MessagePack tuples in length-prefixed frames, and their validation.
// Everything a peer sends is untrusted: decoding checks every field and throws WireError, never trusts a shape.

import { Packr } from 'msgpackr';
import {
  type ConfState,
  type Entry,
  type Message,
  type MessageType,
  type NodeId,
  type Snapshot,
  index,
  message,
  nodeId,
  term,
} from '../raft/types.ts';

/** Bumped on any incompatible change of the tuples below; peers with another version are refused. */
export const raftWireVersion = 1;
const helloTag = 'stormo-raft';
/** Bytes of the big-endian length that prefixes every frame. */
export const frameHeaderBytes = 4;
/** Longest node id accepted from a peer. */
export const nodeIdBytesMax = 256;

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

const packr = new Packr({ useRecords: false });

const messageTypes: readonly MessageType[] = [
  'hup', 'beat', 'checkQuorum', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap',
  'heartbeat', 'heartbeatResp', 'unreachable', 'snapStatus', 'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp',
];
const messageTypeSet: ReadonlySet<string> = new Set(messageTypes);

/** One frame: 4-byte big-endian body length, then the body. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderBytes + body.byteLength);
  out.writeUInt32BE(body.byteLength, 0);
  out.set(body, frameHeaderBytes);
  return out;
}

export function encodeHello(from: NodeId): Uint8Array {
  return packr.pack([helloTag, raftWireVersion, from]);
}

export function decodeHello(body: Uint8Array): NodeId {
  const v = unpack(body);
  if (!Array.isArray(v) || v[0] !== helloTag) throw new WireError('not a stormo raft peer');
  if (v[1] !== raftWireVersion) throw new WireError(`wire version ${String(v[1])}, expected ${raftWireVersion}`);
  return nodeIdField(v[2], 'hello.from');
}

// Message: [type, from, to, term, logTerm, index, entries, commit, reject, rejectHint, snapshot, context]
// entries: flat [term, index, kind (0 normal, 1 conf), data, ...]; snapshot: [index, term, voters, learners, data] or null.

export function encodeMessage(m: Message): Uint8Array {
  const ents: unknown[] = new Array(m.entries.length * 4);
  let i = 0;
  for (const e of m.entries) {
    ents[i++] = e.term;
    ents[i++] = e.index;
    ents[i++] = e.kind === 'conf' ? 1 : 0;
    ents[i++] = e.data;
  }
  const s = m.snapshot;
  const snap = s === undefined ? null : [s.meta.index, s.meta.term, s.meta.conf.voters, s.meta.conf.learners, s.data];
  return packr.pack([
    m.type, m.from, m.to, m.term, m.logTerm, m.index, ents, m.commit, m.reject, m.rejectHint, snap, m.context ?? null,
  ]);
}

export function decodeMessage(body: Uint8Array): Message {
  const v = unpack(body);
  if (!Array.isArray(v) || v.length !== 12) throw new WireError('message is not a 12-tuple');
  const type = v[0];
  if (typeof type !== 'string' || !messageTypeSet.has(type)) throw new WireError(`unknown message type ${String(type)}`);
  const snapshot = v[10] === null ? undefined : decodeSnapshot(v[10]);
  const context = v[11] === null ? undefined : bytes(v[11], 'context');
  return message({
    type: type as MessageType,
    from: nodeIdField(v[1], 'from'),
    to: nodeIdField(v[2], 'to'),
    term: term(uint(v[3], 'term')),
    logTerm: term(uint(v[4], 'logTerm')),
    index: index(uint(v[5], 'index')),
    entries: decodeEntries(v[6]),
    commit: index(uint(v[7], 'commit')),
    reject: bool(v[8], 'reject'),
    rejectHint: index(uint(v[9], 'rejectHint')),
    ...(snapshot === undefined ? {} : { snapshot }),
    ...(context === undefined ? {} : { context }),
  });
}

function decodeEntries(v: unknown): Entry[] {
  if (!Array.isArray(v) || v.length % 4 !== 0) throw new WireError('entries are not a flat list of 4-tuples');
  const out: Entry[] = new Array(v.length / 4);
  for (let i = 0, j = 0; i < v.length; i += 4, j++) {
    const kind = v[i + 2];
    if (kind !== 0 && kind !== 1) throw new WireError(`entry kind ${String(kind)}`);
    out[j] = {
      term: term(uint(v[i], 'entry.term')),
      index: index(uint(v[i + 1], 'entry.index')),
      kind: kind === 1 ? 'conf' : 'normal',
      data: bytes(v[i + 3], 'entry.data'),
    };
  }
  return out;
}

function decodeSnapshot(v: unknown): Snapshot {
  if (!Array.isArray(v) || v.length !== 5) throw new WireError('snapshot is not a 5-tuple');
  const conf: ConfState = { voters: nodeIds(v[2], 'voters'), learners: nodeIds(v[3], 'learners') };
  return {
    meta: { index: index(uint(v[0], 'snapshot.index')), term: term(uint(v[1], 'snapshot.term')), conf },
    data: bytes(v[4], 'snapshot.data'),
  };
}

function unpack(body: Uint8Array): unknown {
  try {
    return packr.unpack(body);
  } catch (e) {
    throw new WireError(`undecodable frame: ${(e as Error).message}`);
  }
}

function uint(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new WireError(`${field} is not a non-negative integer`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new WireError(`${field} is not a boolean`);
  return v;
}

/** msgpackr hands out Buffers viewing the frame; callers get plain Uint8Arrays (same bytes, no copy). */
function bytes(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new WireError(`${field} is not binary`);
  return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function nodeIdField(v: unknown, field: string): NodeId {
  if (typeof v !== 'string' || Buffer.byteLength(v) > nodeIdBytesMax) throw new WireError(`${field} is not a node id`);
  return nodeId(v);
}

function nodeIds(v: unknown, field: string): NodeId[] {
  if (!Array.isArray(v)) throw new WireError(`${field} is not a list`);
  return v.map((x) => nodeIdField(x, field));
}

/**
 * Splits a byte stream into frame bodies. A header announcing more than
 * `frameBytesMax` throws WireError at once, before the body is buffered.
 * A body lying in one received chunk is a view into it (no copy); one spread
 * over several chunks is copied once, when complete.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private readonly frameBytesMax: number;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    const bodies: Buffer[] = [];
    while (this.bytes >= frameHeaderBytes) {
      const len = this.peekLength();
      if (len > this.frameBytesMax) throw new WireError(`frame of ${len} bytes > limit ${this.frameBytesMax}`);
      if (this.bytes < frameHeaderBytes + len) break;
      bodies.push(this.take(frameHeaderBytes + len).subarray(frameHeaderBytes));
    }
    return bodies;
  }

  /** Bytes of an incomplete frame held. */
  buffered(): number {
    return this.bytes;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= frameHeaderBytes) return first.readUInt32BE(0);
    return Buffer.concat(this.chunks, frameHeaderBytes).readUInt32BE(0);
  }

  private take(n: number): Buffer {
    this.bytes -= n;
    const first = this.chunks[0]!;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
