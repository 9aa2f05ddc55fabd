// The peer connection's own frames: the hello that opens every connection and the RPC request/answer
// tuples (MessagePack in raft-wire.ts's length-prefixed frames). Pure: decoding checks every field, throws WireError.

import { Packr } from 'msgpackr';
import type { PeerErrorCode } from './peer.ts';
import { WireError, nodeIdBytesMax } from './raft-wire.ts';
import { rpcServiceBytesMax } from './limits.ts';

/** Bumped on any incompatible change below; a peer with another version is refused. */
export const peerWireVersion = 1;
const helloTag = 'stormo-peer';

/** What a connection carries. Raft has its own connections so it never waits behind a large RPC. */
export type Channel = 'raft' | 'rpc';
const channels: ReadonlySet<string> = new Set<Channel>(['raft', 'rpc']);

const packr = new Packr({ useRecords: false });

export interface Hello {
  readonly from: string;
  readonly channel: Channel;
}

export function encodeHello(h: Hello): Uint8Array {
  return packr.pack([helloTag, peerWireVersion, h.from, h.channel]);
}

export function decodeHello(body: Uint8Array): Hello {
  const v = unpack(body);
  if (!Array.isArray(v) || v.length !== 4 || v[0] !== helloTag) throw new WireError('not a stormo peer hello');
  if (v[1] !== peerWireVersion) throw new WireError(`peer wire version ${String(v[1])}, expected ${peerWireVersion}`);
  const from = v[2];
  if (typeof from !== 'string' || from === '' || Buffer.byteLength(from) > nodeIdBytesMax) throw new WireError('hello.from is not a node id');
  if (typeof v[3] !== 'string' || !channels.has(v[3])) throw new WireError(`unknown channel ${String(v[3])}`);
  return { from, channel: v[3] as Channel };
}

// RPC frames, each a tuple whose first element is its kind:
//   request [0, id, service, body]   answer [1, id, true, value]   failure [1, id, false, code, message, remoteCode|null]
//   cancel  [2, id]   (the caller gave up: the server aborts the handler's signal)

export type RpcFrame =
  | { readonly kind: 'request'; readonly id: number; readonly service: string; readonly body: unknown }
  | { readonly kind: 'answer'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'failure'; readonly id: number; readonly code: PeerErrorCode; readonly message: string; readonly remoteCode: string | undefined }
  | { readonly kind: 'cancel'; readonly id: number };

/** Codes a server may send back; anything else from a peer is a protocol error. */
const remoteCodes: ReadonlySet<string> = new Set<PeerErrorCode>(['NO_SERVICE', 'REMOTE', 'TOO_LARGE']);
/** Longest error message accepted from (or sent to) a peer. */
export const rpcErrorMessageBytesMax = 1024;

/** Encode a frame; a body msgpackr cannot encode throws WireError. */
export function encodeRpc(f: RpcFrame): Uint8Array {
  try {
    switch (f.kind) {
      case 'request':
        return packr.pack([0, f.id, f.service, f.body]);
      case 'answer':
        return packr.pack([1, f.id, true, f.value]);
      case 'failure':
        return packr.pack([1, f.id, false, f.code, f.message.slice(0, rpcErrorMessageBytesMax), f.remoteCode ?? null]);
      case 'cancel':
        return packr.pack([2, f.id]);
    }
  } catch (e) {
    throw new WireError(`cannot encode ${f.kind}: ${(e as Error).message}`);
  }
}

export function decodeRpc(body: Uint8Array): RpcFrame {
  const v = unpack(body);
  if (!Array.isArray(v) || v.length < 2) throw new WireError('rpc frame is not a tuple');
  const id = v[1];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new WireError('rpc id is not a non-negative integer');
  if (v[0] === 0 && v.length === 4) {
    if (typeof v[2] !== 'string' || v[2] === '' || Buffer.byteLength(v[2]) > rpcServiceBytesMax) throw new WireError('rpc service is not a name');
    return { kind: 'request', id, service: v[2], body: plain(v[3]) };
  }
  if (v[0] === 1 && v.length === 4 && v[2] === true) return { kind: 'answer', id, value: plain(v[3]) };
  if (v[0] === 1 && v.length === 6 && v[2] === false) {
    if (typeof v[3] !== 'string' || !remoteCodes.has(v[3])) throw new WireError(`rpc failure code ${String(v[3])}`);
    if (typeof v[4] !== 'string' || v[4].length > rpcErrorMessageBytesMax) throw new WireError('rpc failure message');
    if (v[5] !== null && (typeof v[5] !== 'string' || v[5].length > rpcServiceBytesMax)) throw new WireError('rpc failure remoteCode');
    return { kind: 'failure', id, code: v[3] as PeerErrorCode, message: v[4], remoteCode: v[5] ?? undefined };
  }
  if (v[0] === 2 && v.length === 2) return { kind: 'cancel', id };
  throw new WireError(`unknown rpc frame kind ${String(v[0])}`);
}

/**
 * msgpackr hands out Buffers that view the received frame; handlers get plain Uint8Arrays (the
 * contract's type), recursively through arrays and plain objects. No copy: same bytes.
 */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = plain(v[i]);
    return v;
  }
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = plain(o[k]);
  }
  return v;
}

function unpack(body: Uint8Array): unknown {
  try {
    return packr.unpack(body);
  } catch (e) {
    throw new WireError(`undecodable frame: ${(e as Error).message}`);
  }
}
