// One node's replicated blob layer assembled: the ReplicatedBlobStore (serving its peers) and its
// running repair loop. Wiring only, for the composition root; must not hold policy of its own.

import type { NodeId } from '../raft/index.ts';
import type { PeerRpc } from '../cluster/peer.ts';
import type { BlobStore } from './blob-store.ts';
import type { RepairLimits, ReplicationLimits } from './limits.ts';
import { BlobRepairer, fileRepairCursor } from './repair.ts';
import { type BlobLogger, ReplicatedBlobStore } from './replicated.ts';

export interface BlobReplicationOptions {
  local: BlobStore;
  rpc: PeerRpc;
  /** Current members, this node included (e.g. voters and learners of store.members()). */
  members: () => readonly NodeId[];
  /** Referenced blob ids after a cursor (store.queries.blobIds). */
  referencedIds: (afterId: string, limit: number) => Promise<readonly string[]>;
  /** File keeping the repair sweep's cursor across restarts; absent: start from the first id. */
  repairCursorFile?: string;
  replication?: Partial<ReplicationLimits>;
  repair?: Partial<RepairLimits>;
  logger?: BlobLogger;
}

export interface BlobReplication {
  /** What the front ends use (it implements Blobs). */
  readonly blobs: ReplicatedBlobStore;
  readonly repairer: BlobRepairer;
  /** Copies known missing, for `stormo status`. */
  missingCopies(): number;
  /** Stop the repair loop, refuse incoming copies, and wait for this node's background copies. */
  stop(): Promise<void>;
}

/**
 * Build and start: the blob services are served on `rpc` at once and the repair loop starts.
 * GC stays per node: run collectGarbage on `local` as before (see replicated.ts for why that is safe).
 */
export function startBlobReplication(o: BlobReplicationOptions): BlobReplication {
  const blobs = new ReplicatedBlobStore({
    local: o.local,
    rpc: o.rpc,
    members: o.members,
    ...(o.replication ? { limits: o.replication } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const repairer = new BlobRepairer({
    blobs,
    referencedIds: o.referencedIds,
    ...(o.repair ? { limits: o.repair } : {}),
    ...(o.repairCursorFile ? { cursor: fileRepairCursor(o.repairCursorFile) } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  repairer.start();
  return {
    blobs,
    repairer,
    missingCopies: () => repairer.missingCopies(),
    stop: async () => {
      await repairer.stop();
      await blobs.close();
    },
  };
}
