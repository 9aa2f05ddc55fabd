// Deterministic placement of a blob on N of the cluster's members: rendezvous (highest random
// weight) hashing. Pure: no clock, randomness, disk or network; every node computes the same list.
//
// Rendezvous hashing (Thaler & Ravishankar, 1998): each member scores SHA-256(blobId, member) and
// the N highest scores hold the blob. Adding or removing one member moves only the blobs whose
// top-N changes (about N/members of them), and load spreads evenly without virtual nodes.

import { createHash } from 'node:crypto';
import { assert } from '../raft/assert.ts';
import type { NodeId } from '../raft/index.ts';
import type { BlobId } from './blob-id.ts';

/** The member's score for a blob: the first 8 bytes of SHA-256(blobId NUL member), as a bigint. */
export function placementScore(blobId: BlobId, member: NodeId): bigint {
  return createHash('sha256').update(`${blobId}\u0000${member}`).digest().readBigUInt64BE(0);
}

/** Copies kept: the configured factor, at most the member count. */
export function effectiveReplicas(replicationFactor: number, memberCount: number): number {
  assert(replicationFactor >= 1, () => `replication factor ${replicationFactor} < 1`);
  return Math.min(replicationFactor, memberCount);
}

/** A majority of the N copies: the copies a put must have fsynced before it resolves. */
export function writeQuorum(replicas: number): number {
  return Math.floor(replicas / 2) + 1;
}

/**
 * All members ordered by preference for the blob (highest score first; ties, which need a 64-bit
 * collision, broken by member id). The first N are the placement targets; the rest are where a
 * reader looks next (a copy may remain there from before a membership change).
 */
export function preferenceList(blobId: BlobId, members: readonly NodeId[]): NodeId[] {
  const unique = [...new Set(members)];
  const scored = unique.map((m) => ({ m, s: placementScore(blobId, m) }));
  scored.sort((a, b) => (a.s === b.s ? (a.m < b.m ? -1 : 1) : a.s > b.s ? -1 : 1));
  return scored.map((x) => x.m);
}

/** The N members that hold the blob. */
export function placementTargets(blobId: BlobId, members: readonly NodeId[], replicationFactor: number): NodeId[] {
  const prefs = preferenceList(blobId, members);
  return prefs.slice(0, effectiveReplicas(replicationFactor, prefs.length));
}
