// Gossip of soft state between members over libp2p gossipsub (TCP, noise, yamux): liveness, load, Raft
// role and blob repair hints. Must not carry anything that has to survive (hard state goes through Raft).
//
// Who may take part: only members. Each node's libp2p key is derived from its cluster identity
// (gossip-key.ts); members tell each other their peer id and gossip port over the mutual-TLS transport
// ('gossip.hello'), which only serves holders of a certificate of the cluster's CA. The connection gater
// refuses every peer id not learned that way, and a message whose signer is not the member it names is
// rejected. There is no DHT, mDNS or bootstrap list: the members are dialled directly.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { type GossipSub, type Message, TopicValidatorResult, gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import type { NodeId } from '../raft/types.ts';
import { gossipPrivateKey } from './gossip-key.ts';
import * as L from './gossip-limits.ts';
import { GossipView, HintFilter, HintOutbox, type MemberGossip, type SoftState, decodeSoftState, encodeSoftState } from './gossip-state.ts';
import type { NodeIdentity } from './identity.ts';
import type { ClusterLogger } from './node-cluster.ts';
import type { PeerRpc } from './peer.ts';

const helloService = 'gossip.hello';

/** Blob repair hints, as the blob layer offers them (kept narrow: cluster must not import blob). */
export interface GossipRepairHints {
  /** Subscribe to blobs this node found short of copies (a failed replica copy, a sweep's finding). */
  onUnderReplicated(listener: (blobId: string) => void): void;
  /** A member's hint: queue the blob for this node's repair loop. */
  addHint(blobId: string): void;
}

/** Local measurements published each interval; each optional. */
export interface GossipProbes {
  role?: () => string;
  connections?: () => Record<string, number>;
  /** A counter of messages accepted since start (the rate is derived per interval). */
  messagesAccepted?: () => number;
}

export interface GossipOptions {
  identity: Pick<NodeIdentity, 'nodeId' | 'keyPem'>;
  /** Mutual-TLS RPC between members: carries 'gossip.hello' (peer id and port). */
  rpc: PeerRpc;
  /** Address the libp2p TCP listener binds (the cluster host). */
  listenHost: string;
  /** Port (0: ephemeral, members learn it through 'gossip.hello'). */
  listenPort?: number;
  /** How members reach this node (default: listenHost). */
  advertiseHost?: string;
  /** Current members, this node included. */
  members: () => readonly string[];
  probes?: GossipProbes;
  hints?: GossipRepairHints;
  /** Override the publication interval (tests); default gossipIntervalMs. */
  intervalMs?: number;
  logger: ClusterLogger;
}

export interface GossipCounters {
  published: number;
  publishFailed: number;
  received: number;
  rejected: number;
  hintsSent: number;
  hintsReceived: number;
  bytesPublished: number;
}

/** What `stormo status` shows of gossip. */
export interface GossipStatus {
  peerId: string;
  intervalMs: number;
  deadAfterMs: number;
  members: MemberGossip[];
  counters: GossipCounters;
}

interface Entry {
  readonly peerId: PeerId;
  readonly addr: string;
}

type Node = Libp2p<{ pubsub: GossipSub; identify: unknown }>;

export class Gossip {
  readonly counters: GossipCounters = { published: 0, publishFailed: 0, received: 0, rejected: 0, hintsSent: 0, hintsReceived: 0, bytesPublished: 0 };
  private readonly o: GossipOptions;
  private readonly node: Node;
  private readonly intervalMs: number;
  private readonly view: GossipView;
  private readonly outbox = new HintOutbox();
  private readonly seenHints = new HintFilter();
  /** Members' gossip peers, learned over mutual TLS: node id -> entry, and peer id -> node id. */
  private readonly directory = new Map<string, Entry>();
  private readonly nodeOfPeer = new Map<string, string>();
  private readonly lag: ReturnType<typeof monitorEventLoopDelay>;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly alive = new Map<string, boolean>();
  private heartbeat = 0;
  private lastAccepted: number | undefined;
  private refreshing = false;
  private stopped = false;

  private constructor(o: GossipOptions, node: Node) {
    this.o = o;
    this.node = node;
    this.intervalMs = o.intervalMs ?? L.gossipIntervalMs;
    this.view = new GossipView({ startedAtMs: Date.now(), intervalMs: this.intervalMs, deadAfterIntervals: L.gossipDeadAfterIntervals });
    this.lag = monitorEventLoopDelay({ resolution: 10 });
  }

  static async start(o: GossipOptions): Promise<Gossip> {
    const privateKey = await gossipPrivateKey(o.identity);
    let self: Gossip | undefined;
    // Until the directory knows a peer id, it is refused: dial, inbound and outbound, once encrypted (noise proved the key).
    const stranger = (peer: PeerId): boolean => self === undefined || !self.nodeOfPeer.has(peer.toString());
    const node = (await createLibp2p({
      privateKey,
      addresses: { listen: [`${ipProto(o.listenHost)}/${o.listenHost}/tcp/${o.listenPort ?? 0}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialPeer: stranger, denyInboundEncryptedConnection: stranger, denyOutboundEncryptedConnection: stranger },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          fallbackToFloodsub: false,
          doPX: false,
          allowedTopics: [L.gossipTopic],
          maxInboundDataLength: L.gossipMessageBytesMax,
        }),
      },
    })) as unknown as Node;
    self = new Gossip(o, node);
    self.begin();
    return self;
  }

  /** This node's libp2p peer id (derived from its cluster identity). */
  get peerId(): string {
    return this.node.peerId.toString();
  }

  /** The bound TCP port of the libp2p listener. */
  get port(): number {
    for (const a of this.node.getMultiaddrs()) {
      const m = /\/tcp\/(\d+)/.exec(a.toString());
      if (m) return Number(m[1]);
    }
    throw new Error('gossip: libp2p is not listening');
  }

  status(): GossipStatus {
    const members = this.o.members().filter((m) => m !== this.o.identity.nodeId);
    return {
      peerId: this.peerId,
      intervalMs: this.intervalMs,
      deadAfterMs: this.intervalMs * L.gossipDeadAfterIntervals,
      members: this.view.snapshot(members.slice(0, L.gossipPeersMax), Date.now()),
      counters: { ...this.counters },
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.lag.disable();
    await this.node.stop();
  }

  private begin(): void {
    const { rpc, hints } = this.o;
    rpc.serve(helloService, async () => ({ peerId: this.peerId, host: this.o.advertiseHost ?? this.o.listenHost, port: this.port }));
    const pubsub = this.node.services.pubsub;
    pubsub.topicValidators.set(L.gossipTopic, (_peer, msg) => (this.verified(msg) === undefined ? TopicValidatorResult.Reject : TopicValidatorResult.Accept));
    pubsub.addEventListener('message', (e) => this.receive(e.detail));
    pubsub.subscribe(L.gossipTopic);
    hints?.onUnderReplicated((id) => {
      if (!this.stopped) this.outbox.add(id);
    });
    this.lag.enable();
    const every = (ms: number, f: () => void): void => {
      const t = setInterval(f, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.intervalMs, () => void this.publish());
    every(L.gossipDirectoryRefreshMs, () => void this.refresh());
    void this.refresh();
  }

  /** The message's soft state if its signer is the member it names, else undefined (counted). */
  private verified(msg: Message): SoftState | undefined {
    if (msg.type !== 'signed' || msg.topic !== L.gossipTopic) return this.reject();
    const nodeId = this.nodeOfPeer.get(msg.from.toString());
    if (nodeId === undefined) return this.reject();
    try {
      const s = decodeSoftState(msg.data);
      return s.nodeId === nodeId ? s : this.reject();
    } catch {
      return this.reject();
    }
  }

  private reject(): undefined {
    this.counters.rejected++;
    return undefined;
  }

  private receive(msg: Message): void {
    const s = this.verified(msg);
    if (s === undefined || this.stopped) return;
    this.counters.received++;
    const now = Date.now();
    this.view.record(s, now);
    for (const id of s.hints) {
      if (!this.seenHints.fresh(id, now)) continue;
      this.counters.hintsReceived++;
      this.o.hints?.addHint(id);
    }
  }

  private async publish(): Promise<void> {
    if (this.stopped) return;
    const p = this.o.probes ?? {};
    const accepted = p.messagesAccepted?.();
    const rate = accepted === undefined || this.lastAccepted === undefined ? 0 : Math.max(0, accepted - this.lastAccepted) / (this.intervalMs / 1000);
    this.lastAccepted = accepted;
    const lagMs = Number.isFinite(this.lag.percentile(99)) ? this.lag.percentile(99) / 1e6 : 0;
    this.lag.reset();
    const hints = this.outbox.next();
    const state: SoftState = {
      nodeId: this.o.identity.nodeId,
      heartbeat: ++this.heartbeat,
      role: clip(p.role?.() ?? ''),
      loopLagMs: Math.round(lagMs * 10) / 10,
      connections: boundedCounts(p.connections?.() ?? {}),
      messagesPerSecond: Math.round(rate * 10) / 10,
      hints,
    };
    this.noteLiveness();
    try {
      const bytes = encodeSoftState(state);
      await this.node.services.pubsub.publish(L.gossipTopic, bytes);
      this.counters.published++;
      this.counters.bytesPublished += bytes.length;
      this.counters.hintsSent += hints.length;
    } catch (e) {
      this.counters.publishFailed++;
      if (!this.stopped) this.o.logger.warn({ subsystem: 'cluster', event: 'gossipPublishFailed', err: (e as Error).message }, 'soft state not published');
    }
  }

  /** Log each member's passage between alive and dead once. */
  private noteLiveness(): void {
    for (const m of this.status().members) {
      const before = this.alive.get(m.nodeId);
      if (before === m.alive) continue;
      this.alive.set(m.nodeId, m.alive);
      if (before !== undefined || !m.alive) {
        this.o.logger.info({ subsystem: 'cluster', event: m.alive ? 'memberAlive' : 'memberDead', peer: m.nodeId, lastSeenMs: m.lastSeenMs }, m.alive ? 'member heard again' : 'member unheard: reported dead');
      }
    }
  }

  /** Follow the membership: learn new members' peer ids over mutual TLS, dial them, forget removed ones. */
  private async refresh(): Promise<void> {
    if (this.refreshing || this.stopped) return;
    this.refreshing = true;
    try {
      const self = this.o.identity.nodeId;
      const members = this.o.members().filter((m) => m !== self).slice(0, L.gossipPeersMax);
      const keep = new Set(members);
      for (const [id, e] of this.directory) if (!keep.has(id)) await this.forget(id, e);
      this.view.retain(keep);
      await Promise.all(members.map((id) => this.connect(id)));
    } finally {
      this.refreshing = false;
    }
  }

  private async connect(id: string): Promise<void> {
    let e = this.directory.get(id);
    if (e === undefined) {
      e = await this.hello(id);
      if (e === undefined || this.stopped) return;
      this.directory.set(id, e);
      this.nodeOfPeer.set(e.peerId.toString(), id);
    }
    if (this.node.getConnections(e.peerId).length > 0) return;
    try {
      await this.node.dial(multiaddr(e.addr), { signal: AbortSignal.timeout(L.gossipHelloTimeoutMs) });
    } catch {
      // Gone or moved (a restart takes a new port): ask again next time.
      if (this.directory.get(id) === e) await this.forget(id, e);
    }
  }

  private async hello(id: string): Promise<Entry | undefined> {
    try {
      const a = (await this.o.rpc.request(id as NodeId, helloService, {}, { timeoutMs: L.gossipHelloTimeoutMs })) as { peerId?: unknown; host?: unknown; port?: unknown } | null;
      if (typeof a?.peerId !== 'string' || typeof a.host !== 'string' || typeof a.port !== 'number' || !Number.isInteger(a.port) || a.port < 1 || a.port > 65_535) return undefined;
      const peerId = peerIdFromString(a.peerId);
      return { peerId, addr: `${ipProto(a.host)}/${a.host}/tcp/${a.port}/p2p/${a.peerId}` };
    } catch {
      return undefined; // unreachable or not yet gossiping: next refresh
    }
  }

  private async forget(id: string, e: Entry): Promise<void> {
    this.directory.delete(id);
    if (this.nodeOfPeer.get(e.peerId.toString()) === id) this.nodeOfPeer.delete(e.peerId.toString());
    await this.node.hangUp(e.peerId).catch(() => {});
  }
}

function ipProto(host: string): string {
  return host.includes(':') ? '/ip6' : /^[\d.]+$/.test(host) ? '/ip4' : '/dns';
}

function clip(s: string): string {
  return s.length <= L.gossipNameBytesMax ? s : s.slice(0, L.gossipNameBytesMax);
}

function boundedCounts(c: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c).slice(0, L.gossipProtocolsMax)) if (Number.isFinite(v) && v >= 0) out[clip(k)] = v;
  return out;
}
