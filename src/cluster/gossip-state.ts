// The soft state members gossip: its wire format (MessagePack, validated field by field), the view of the
// latest state per member with liveness, and the bounded hint queues. Pure: no sockets, timers or clock reads.

import { Packr } from 'msgpackr';
import * as L from './gossip-limits.ts';

/** What one node says of itself every interval. Soft: lost, late or stale values are harmless. */
export interface SoftState {
  readonly nodeId: string;
  /** Publications since the node started (restarts from 1 after a restart). */
  readonly heartbeat: number;
  /** Raft role ('leader', 'follower', ...), '' when unknown. */
  readonly role: string;
  /** Event-loop delay over the last interval (p99, ms). */
  readonly loopLagMs: number;
  /** Open client connections per protocol ('imap', 'pop3', ...). */
  readonly connections: Readonly<Record<string, number>>;
  /** Messages accepted per second over the last interval. */
  readonly messagesPerSecond: number;
  /** Blob ids this node failed to replicate (repair hints), at most gossipHintsPerMessageMax. */
  readonly hints: readonly string[];
}

export type GossipErrorCode = 'INVALID' | 'TOO_LARGE';

export class GossipError extends Error {
  readonly code: GossipErrorCode;
  constructor(code: GossipErrorCode, message: string, o: { cause?: unknown } = {}) {
    super(message, { cause: o.cause });
    this.name = 'GossipError';
    this.code = code;
  }
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const blobIdPattern = /^[0-9a-f]{64}$/;

/** Encode; a message over gossipMessageBytesMax is a programmer error of the caller (its inputs are bounded). */
export function encodeSoftState(s: SoftState): Uint8Array {
  const bytes = packr.pack({ v: 1, n: s.nodeId, h: s.heartbeat, r: s.role, lag: s.loopLagMs, c: s.connections, m: s.messagesPerSecond, x: s.hints });
  if (bytes.length > L.gossipMessageBytesMax) throw new GossipError('TOO_LARGE', `soft state of ${bytes.length} bytes exceeds gossipMessageBytesMax`);
  return bytes;
}

const isName = (v: unknown): v is string => typeof v === 'string' && v.length <= L.gossipNameBytesMax;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

/** Decode and validate a peer's message; anything malformed or over a limit is GossipError('INVALID'). */
export function decodeSoftState(bytes: Uint8Array): SoftState {
  if (bytes.length > L.gossipMessageBytesMax) throw new GossipError('TOO_LARGE', `${bytes.length} bytes`);
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (e) {
    throw new GossipError('INVALID', 'not MessagePack', { cause: e });
  }
  const o = raw as Record<string, unknown> | null;
  const bad = (field: string): never => {
    throw new GossipError('INVALID', `soft state: bad ${field}`);
  };
  if (o === null || typeof o !== 'object' || o.v !== 1) return bad('version');
  if (!isName(o.n) || o.n === '') bad('node id');
  if (!isCount(o.h) || !Number.isInteger(o.h)) bad('heartbeat');
  if (!isName(o.r)) bad('role');
  if (!isCount(o.lag)) bad('loop lag');
  if (!isCount(o.m)) bad('messages per second');
  const c = o.c as Record<string, unknown> | null;
  if (c === null || typeof c !== 'object' || Array.isArray(c) || Object.keys(c).length > L.gossipProtocolsMax) bad('connections');
  for (const [k, v] of Object.entries(c!)) if (!isName(k) || !isCount(v)) bad('connections');
  const x = o.x;
  if (!Array.isArray(x) || x.length > L.gossipHintsPerMessageMax || !x.every((h) => typeof h === 'string' && blobIdPattern.test(h))) bad('hints');
  return { nodeId: o.n as string, heartbeat: o.h as number, role: o.r as string, loopLagMs: o.lag as number, connections: { ...(c as Record<string, number>) }, messagesPerSecond: o.m as number, hints: [...(x as string[])] };
}

/** One member as this node sees it through gossip (GET /v1/cluster/status). */
export interface MemberGossip {
  readonly nodeId: string;
  /** Unheard for gossipDeadAfterIntervals intervals (or never heard that long after start). */
  readonly alive: boolean;
  /** Ms since its last message arrived; null when never heard. */
  readonly lastSeenMs: number | null;
  readonly heartbeat: number | null;
  readonly role: string | null;
  readonly load: { readonly loopLagMs: number; readonly connections: Readonly<Record<string, number>>; readonly messagesPerSecond: number } | null;
}

/** The latest soft state per member, with the local time it arrived. Only members are kept. */
export class GossipView {
  private readonly latest = new Map<string, { state: SoftState; atMs: number }>();
  private readonly startedAtMs: number;
  private readonly deadAfterMs: number;

  constructor(o: { startedAtMs: number; intervalMs: number; deadAfterIntervals: number }) {
    this.startedAtMs = o.startedAtMs;
    this.deadAfterMs = o.intervalMs * o.deadAfterIntervals;
  }

  record(s: SoftState, nowMs: number): void {
    if (!this.latest.has(s.nodeId) && this.latest.size >= L.gossipPeersMax) return;
    this.latest.set(s.nodeId, { state: s, atMs: nowMs });
  }

  /** Drop what is known of nodes no longer members. */
  retain(members: ReadonlySet<string>): void {
    for (const id of this.latest.keys()) if (!members.has(id)) this.latest.delete(id);
  }

  /** Each of `members` (this node excluded by the caller), heard or not, in the given order. */
  snapshot(members: readonly string[], nowMs: number): MemberGossip[] {
    return members.map((nodeId) => {
      const e = this.latest.get(nodeId);
      if (e === undefined) return { nodeId, alive: nowMs - this.startedAtMs < this.deadAfterMs, lastSeenMs: null, heartbeat: null, role: null, load: null };
      const age = nowMs - e.atMs;
      const s = e.state;
      return { nodeId, alive: age < this.deadAfterMs, lastSeenMs: age, heartbeat: s.heartbeat, role: s.role, load: { loopLagMs: s.loopLagMs, connections: s.connections, messagesPerSecond: s.messagesPerSecond } };
    });
  }
}

/** Hints to publish: each repeated in gossipHintRepeats messages, the oldest first; bounded. */
export class HintOutbox {
  private readonly queue = new Map<string, number>();
  dropped = 0;

  add(id: string): void {
    if (this.queue.has(id)) {
      this.queue.set(id, L.gossipHintRepeats);
      return;
    }
    if (this.queue.size >= L.gossipHintsQueuedMax) {
      this.dropped++;
      return;
    }
    this.queue.set(id, L.gossipHintRepeats);
  }

  /** The hints for the next message; each leaves the queue after its last repeat. */
  next(): string[] {
    const out: string[] = [];
    for (const [id, left] of this.queue) {
      if (out.length >= L.gossipHintsPerMessageMax) break;
      out.push(id);
      if (left <= 1) this.queue.delete(id);
      else this.queue.set(id, left - 1);
    }
    // Rotate: hints still due go behind those not yet sent, so a long queue is not starved.
    for (const id of out) {
      const left = this.queue.get(id);
      if (left === undefined) continue;
      this.queue.delete(id);
      this.queue.set(id, left);
    }
    return out;
  }

  get size(): number {
    return this.queue.size;
  }
}

/** Received hints: true the first time an id is seen within gossipHintSeenMs; bounded. */
export class HintFilter {
  private readonly seen = new Map<string, number>();

  fresh(id: string, nowMs: number): boolean {
    const at = this.seen.get(id);
    if (at !== undefined && nowMs - at < L.gossipHintSeenMs) return false;
    this.seen.delete(id);
    if (this.seen.size >= L.gossipHintsSeenMax) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(id, nowMs);
    return true;
  }
}
