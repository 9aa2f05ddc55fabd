// The cluster side of one running node: its identity, the mutual-TLS transport, the join service, the
// address book of members (persisted, exchanged between members) and the admin operations on membership.
// Knows the store only through the small Membership interface below; never opens the store itself.

import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeId } from '../raft/types.ts';
import type { GossipStatus } from './gossip.ts';
import { type IdentityPaths, type NodeIdentity, loadIdentity } from './identity.ts';
import { JoinService } from './join.ts';
import * as L from './limits.ts';
import { PeerError } from './peer.ts';
import type { PeerAddress } from './tls-dial.ts';
import { TlsTransport } from './tls-transport.ts';

/** What the cluster needs of the replicated store (src/store's Store has these). */
export interface Membership {
  addMember(id: string): Promise<unknown>;
  removeMember(id: string): Promise<unknown>;
  members(): { readonly voters: readonly string[]; readonly learners: readonly string[] };
  clusterStatus(): Promise<readonly unknown[]>;
}

export interface ClusterLogger {
  info(f: Record<string, unknown>, msg: string): void;
  warn(f: Record<string, unknown>, msg: string): void;
}

export interface ClusterNodeOptions {
  dataDir: string;
  nodeId: string;
  identity: IdentityPaths;
  /** Inter-node listener (Raft and RPC). */
  listen: PeerAddress;
  /** Join service port on listen.host (0: ephemeral); only where the CA key is. Undefined: no join service. */
  joinPort?: number | undefined;
  /** How other members reach this node (default: the bound listen address). */
  advertise?: PeerAddress | undefined;
  /** Members known from the configuration: id -> address. */
  peers: Readonly<Record<string, PeerAddress>>;
  replicationFactor: number;
  logger: ClusterLogger;
}

export type ClusterErrorCode = 'NO_JOIN_SERVICE' | 'NOT_MEMBER' | 'INVALID';

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  constructor(code: ClusterErrorCode, message: string) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
  }
}

/** What `stormo status` shows (GET /v1/cluster/status). */
export interface ClusterStatus {
  nodeId: string;
  replicationFactor: number;
  members: { voters: readonly string[]; learners: readonly string[] } | null;
  /** Each member's own report (store.clusterStatus), or null while the store is single-node. */
  nodes: readonly unknown[] | null;
  addresses: Record<string, string>;
  transport: TlsTransport['stats'];
  /** Filled by the blob layer (copies below the replication factor); null until it reports. */
  missingBlobCopies: number | null;
  /** Soft state heard from each member through gossip (last seen, load, liveness); null without gossip. */
  gossip: GossipStatus | null;
}

const addressesService = 'cluster.addresses';
const announceService = 'cluster.announce';

export class ClusterNode {
  readonly identity: NodeIdentity;
  readonly transport: TlsTransport;
  readonly join: JoinService | undefined;
  readonly advertise: PeerAddress;
  private readonly o: ClusterNodeOptions;
  private membership: Membership | undefined;
  private readonly admittedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private syncing = false;
  /** Set by the blob layer: copies missing below the replication factor. */
  missingBlobCopies: () => number | null = () => null;
  /** Set by the gossip service once it runs. */
  gossipStatus: () => GossipStatus | null = () => null;

  private constructor(o: ClusterNodeOptions, identity: NodeIdentity, transport: TlsTransport, join: JoinService | undefined) {
    this.o = o;
    this.identity = identity;
    this.transport = transport;
    this.join = join;
    this.advertise = o.advertise ?? transport.address();
    transport.serve(addressesService, async () => this.book());
    transport.serve(announceService, async (_from, body) => {
      const b = body as { id?: unknown; host?: unknown; port?: unknown } | null;
      if (typeof b?.id !== 'string' || typeof b.host !== 'string' || typeof b.port !== 'number') throw new ClusterError('INVALID', 'cluster.announce: {id, host, port}');
      this.learn(b.id, { host: b.host, port: b.port });
      return true;
    });
  }

  static async start(o: ClusterNodeOptions): Promise<ClusterNode> {
    const identity = await loadIdentity(o.identity, o.nodeId, new Date());
    const saved = await readBook(o.dataDir);
    const peers = new Map<string, PeerAddress>([...Object.entries(saved), ...Object.entries(o.peers)]);
    peers.delete(o.nodeId);
    const transport = await TlsTransport.listen({ identity, listen: o.listen, peers, logger: o.logger });
    let join: JoinService | undefined;
    try {
      if (o.joinPort !== undefined && identity.ca !== undefined) {
        const self = (): [string, PeerAddress] => [o.nodeId, o.advertise ?? transport.address()];
        join = await JoinService.listen({
          identity,
          listen: { host: o.listen.host, port: o.joinPort },
          advertiseHost: o.advertise?.host,
          members: () => [self(), ...transport.members()],
          admit: (id, addr) => node.admit(id, addr),
          logger: o.logger,
        });
      }
    } catch (e) {
      await transport.close();
      throw e;
    }
    const node: ClusterNode = new ClusterNode(o, identity, transport, join);
    return node;
  }

  /** Where joiners reach the join service, when this node runs one. */
  joinAddress(): PeerAddress | undefined {
    return this.join?.address();
  }

  /** The store is open on this transport: reconcile members from now on. */
  attach(m: Membership): void {
    this.membership = m;
    this.timer = setInterval(() => void this.sync(), L.membershipSyncIntervalMs);
    this.timer.unref();
  }

  issueJoinToken(ttlMs?: number): { token: string; expiresAtMs: number } {
    if (this.join === undefined) throw new ClusterError('NO_JOIN_SERVICE', `${this.o.nodeId} holds no CA key: ask the node made by stormo init for a token`);
    return this.join.issue(ttlMs);
  }

  async removeMember(id: string): Promise<void> {
    if (this.membership === undefined) throw new ClusterError('NOT_MEMBER', 'the store is not replicated on this node');
    await this.membership.removeMember(id);
    this.admittedAt.delete(id);
  }

  async status(): Promise<ClusterStatus> {
    const m = this.membership;
    return {
      nodeId: this.o.nodeId,
      replicationFactor: this.o.replicationFactor,
      members: m === undefined ? null : m.members(),
      nodes: m === undefined ? null : await m.clusterStatus(),
      addresses: this.book(),
      transport: { ...this.transport.stats },
      missingBlobCopies: this.missingBlobCopies(),
      gossip: this.gossipStatus(),
    };
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.join?.close();
    await this.transport.close(); // idempotent: the store may have closed it already
  }

  /** The join service admitted `id`: accept it here, add it to Raft as a learner, tell the other members its address. */
  private async admit(id: string, addr: PeerAddress): Promise<void> {
    if (this.membership === undefined) throw new ClusterError('NOT_MEMBER', 'the store is not replicated on this node');
    this.admittedAt.set(id, Date.now());
    this.learn(id, addr);
    await this.membership.addMember(id);
    await Promise.all(
      [...this.transport.members().keys()].filter((p) => p !== id).map((p) =>
        this.transport.request(p, announceService, { id, host: addr.host, port: addr.port }, { timeoutMs: L.clusterRpcTimeoutMs }).catch(() => undefined)),
    );
  }

  /** A member's address, accepted and saved. */
  private learn(id: string, addr: PeerAddress): void {
    if (id === this.o.nodeId) return;
    const known = this.transport.members().get(id as NodeId);
    if (known?.host === addr.host && known.port === addr.port) return;
    if (known === undefined && this.transport.members().size >= L.addressBookEntriesMax) return;
    this.transport.setPeer(id, addr);
    this.o.logger.info({ subsystem: 'cluster', event: 'peerAddress', peer: id, host: addr.host, port: addr.port }, 'member address learned');
    void this.save();
  }

  private book(): Record<string, string> {
    const out: Record<string, string> = { [this.o.nodeId]: `${this.advertise.host}:${this.advertise.port}` };
    for (const [id, a] of this.transport.members()) out[id] = `${a.host}:${a.port}`;
    return out;
  }

  /**
   * Make the transport's members follow the Raft membership: drop removed members (once this node
   * is itself a member, so a joiner does not drop the leader it waits for), fetch unknown addresses.
   */
  private async sync(): Promise<void> {
    const m = this.membership;
    if (m === undefined || this.syncing) return;
    this.syncing = true;
    try {
      const conf = m.members();
      const ids = new Set([...conf.voters, ...conf.learners]);
      if (!ids.has(this.o.nodeId)) return;
      for (const id of [...this.transport.members().keys()]) {
        const admitted = this.admittedAt.get(id);
        if (ids.has(id) || (admitted !== undefined && Date.now() - admitted < L.admittedGraceMs)) continue;
        this.transport.removePeer(id);
        this.o.logger.info({ subsystem: 'cluster', event: 'peerRemoved', peer: id }, 'no longer a member: connections closed');
        void this.save();
      }
      const missing = [...ids].filter((id) => id !== this.o.nodeId && !this.transport.members().has(id as NodeId));
      if (missing.length > 0) await this.fetchAddresses(missing);
    } finally {
      this.syncing = false;
    }
  }

  private async fetchAddresses(missing: string[]): Promise<void> {
    for (const p of [...this.transport.members().keys()]) {
      const book = await this.transport.request(p, addressesService, {}, { timeoutMs: L.clusterRpcTimeoutMs }).catch((e: unknown) => {
        if (!(e instanceof PeerError)) throw e;
        return undefined;
      });
      if (book === null || typeof book !== 'object') continue;
      for (const id of missing) {
        const a = parseHostPort((book as Record<string, unknown>)[id]);
        if (a !== undefined) this.learn(id, a);
      }
      if (missing.every((id) => this.transport.members().has(id as NodeId))) return;
    }
  }

  private async save(): Promise<void> {
    const file = bookFile(this.o.dataDir);
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    const book = this.book();
    delete book[this.o.nodeId];
    try {
      await writeFile(tmp, `${JSON.stringify(book, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, file);
    } catch (e) {
      this.o.logger.warn({ subsystem: 'cluster', event: 'addressBookNotSaved', err: (e as Error).message }, 'member addresses not saved');
    }
  }
}

function bookFile(dataDir: string): string {
  return join(dataDir, 'cluster', 'peers.json');
}

async function readBook(dataDir: string): Promise<Record<string, PeerAddress>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(bookFile(dataDir), 'utf8'));
  } catch {
    return {};
  }
  const out: Record<string, PeerAddress> = {};
  if (raw === null || typeof raw !== 'object') return out;
  for (const [id, v] of Object.entries(raw).slice(0, L.addressBookEntriesMax)) {
    const a = parseHostPort(v);
    if (a !== undefined) out[id] = a;
  }
  return out;
}

/** "host:port" (IPv6 as [addr]:port) -> PeerAddress, or undefined. Port 0 only with `allowAnyPort` (listening). */
export function parseHostPort(v: unknown, allowAnyPort = false): PeerAddress | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(v);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < (allowAnyPort ? 0 : 1) || port > 65_535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}
