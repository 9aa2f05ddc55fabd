// How `stormo up` turns the config's cluster section into a running ClusterNode and the store's cluster options.
// Wiring only: the transport, identity and join service live in src/cluster.

import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { type BlobReplication, type BlobStore, BlobRepairer, ReplicatedBlobStore, fileRepairCursor, isBlobId } from '../blob/index.ts';
import { Gossip, type GossipProbes, type GossipRepairHints } from '../cluster/gossip.ts';
import { ClusterNode, parseHostPort } from '../cluster/node-cluster.ts';
import { identityPaths } from '../cluster/identity.ts';
import type { PeerAddress } from '../cluster/tls-dial.ts';
import type { NodeId } from '../raft/index.ts';
import type { Store, StoreClusterOptions } from '../store/store.ts';
import { type Config, ConfigError } from './config.ts';

/** Start the cluster side of this node (identity checked, transport listening, join service if the CA key is here). */
export async function startClusterNode(cfg: Config, dataDir: string, logger: Logger): Promise<ClusterNode | undefined> {
  const c = cfg.cluster;
  if (c === undefined) return undefined;
  const defaults = identityPaths(dataDir);
  // Relative paths are taken from the working directory, as dataDir is.
  const rel = (f: string | undefined, d: string): string => (f === undefined ? d : resolve(f));
  const peers: Record<string, PeerAddress> = {};
  for (const [id, hp] of Object.entries(c.peers)) peers[id] = parseHostPort(hp)!;
  const advertise = c.advertise === undefined ? undefined : parseHostPort(c.advertise);
  if (c.advertise !== undefined && advertise === undefined) throw new ConfigError(`cluster.advertise: ${c.advertise} is not host:port`);
  return ClusterNode.start({
    dataDir,
    nodeId: cfg.nodeId,
    identity: {
      caFile: rel(c.caFile, defaults.caFile),
      certFile: rel(c.certFile, defaults.certFile),
      keyFile: rel(c.keyFile, defaults.keyFile),
      caKeyFile: rel(c.caKeyFile, defaults.caKeyFile),
    },
    listen: { host: c.listen.host, port: c.listen.port },
    joinPort: c.listen.joinPort,
    advertise,
    peers,
    replicationFactor: c.replicationFactor,
    logger: logger.child({ subsystem: 'cluster' }),
  });
}

/** The store's cluster options for this node: the TLS transport carries both Raft and RPC. */
export function storeClusterOptions(cfg: Config, node: ClusterNode): StoreClusterOptions {
  const c = cfg.cluster!;
  const voters = c.voters ?? [cfg.nodeId, ...Object.keys(c.peers)].sort();
  return { transport: node.transport, peers: node.transport, voters, join: c.join };
}

/** How often the repair loop waits for the store to catch up before its first pass, and for how long at most. */
export const blobRepairStartProbeMs = 250;
export const blobRepairStartWaitMs = 30_000;

/**
 * In a cluster: bodies replicated to N members over the TLS transport (served to peers at once), the
 * repair loop started once this node's store has caught up (its first pass then sees every referenced
 * blob, so a returning node pulls what it missed at once, not a pass interval later), and status fed.
 * Garbage collection stays on `local` (see src/blob/replicated.ts).
 */
export function startClusterBlobs(cfg: Config, cluster: ClusterNode, store: Store, local: BlobStore, dataDir: string, logger: Logger): BlobReplication {
  const log = logger.child({ subsystem: 'blob' });
  const blobs = new ReplicatedBlobStore({
    local,
    rpc: cluster.transport,
    members: () => {
      const c = store.members();
      return [...c.voters, ...c.learners] as NodeId[];
    },
    limits: { replicationFactor: cfg.cluster!.replicationFactor },
    logger: log,
  });
  const repairer = new BlobRepairer({
    blobs,
    referencedIds: (afterId, limit) => store.queries.blobIds(afterId, limit),
    cursor: fileRepairCursor(join(dataDir, 'blobs', 'repair-cursor')),
    logger: log,
  });
  const startedAt = Date.now();
  let stopped = false;
  const probe = setInterval(() => {
    if (stopped || (!store.ready() && Date.now() - startedAt < blobRepairStartWaitMs)) return;
    clearInterval(probe);
    repairer.start();
  }, blobRepairStartProbeMs);
  probe.unref();
  cluster.missingBlobCopies = () => repairer.missingCopies();
  return {
    blobs,
    repairer,
    missingCopies: () => repairer.missingCopies(),
    stop: async () => {
      stopped = true;
      clearInterval(probe);
      cluster.missingBlobCopies = () => null;
      await repairer.stop();
      await blobs.close();
    },
  };
}

/** The blob layer's repair hints as gossip carries them: this node's under-replicated blobs out, peers' hints into its repair loop. */
export function gossipHintsOf(blobs: ReplicatedBlobStore): GossipRepairHints {
  return {
    onUnderReplicated: (listener) => blobs.events.on('blobUnderReplicated', (id) => listener(id)),
    addHint: (id) => {
      if (isBlobId(id)) blobs.addHint(id, []); // who lacks it is found by the repair pass itself
    },
  };
}

/** Gossip of soft state with the other members (libp2p on the cluster host), shown in `stormo status`. */
export async function startClusterGossip(cluster: ClusterNode, store: Store, blobs: ReplicatedBlobStore, probes: GossipProbes, logger: Logger): Promise<Gossip> {
  const gossip = await Gossip.start({
    identity: cluster.identity,
    rpc: cluster.transport,
    listenHost: cluster.transport.address().host,
    advertiseHost: cluster.advertise.host,
    members: () => {
      const c = store.members();
      return [...c.voters, ...c.learners];
    },
    // Bodies stored (SMTP deliveries and IMAP APPENDs on this node) stand for messages accepted.
    probes: { role: () => store.status().role, messagesAccepted: () => blobs.counters.puts - blobs.counters.putsQuorumFailed, ...probes },
    hints: gossipHintsOf(blobs),
    logger: logger.child({ subsystem: 'cluster' }),
  });
  cluster.gossipStatus = () => gossip.status();
  return gossip;
}
