// Gossip of soft state over real libp2p gossipsub on loopback, three members in one process: they hear each
// other, a stopped one is reported dead within the bound, a stranger cannot join, repair hints reach the
// repair loop of another node. Also measures what gossip costs per node (printed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { type GossipSub, gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { BlobRepairer, BlobStore, ReplicatedBlobStore } from '../../src/blob/index.ts';
import { gossipHintsOf } from '../../src/cli/cluster-wiring.ts';
import { Gossip, type GossipRepairHints } from '../../src/cluster/gossip.ts';
import { gossipPrivateKey } from '../../src/cluster/gossip-key.ts';
import * as L from '../../src/cluster/gossip-limits.ts';
import { GossipView, HintOutbox, decodeSoftState, encodeSoftState } from '../../src/cluster/gossip-state.ts';
import type { TlsTransport } from '../../src/cluster/tls-transport.ts';
import type { NodeIdentity } from '../../src/cluster/identity.ts';
import { closeAll, makeCluster, startTransports } from './fixtures.ts';

const ids = ['n1', 'n2', 'n3'];
const quietLog = { info: () => {}, warn: () => {} };
const intervalMs = 400;

interface Members {
  identities: Map<string, NodeIdentity>;
  transports: Map<string, TlsTransport>;
  gossip: Map<string, Gossip>;
  stop(): Promise<void>;
}

async function members(o: { intervalMs?: number; hints?: (id: string) => GossipRepairHints | undefined; roles?: boolean } = {}): Promise<Members> {
  const { identities } = await makeCluster(ids);
  const transports = await startTransports(identities);
  const gossip = new Map<string, Gossip>();
  for (const id of ids) {
    const hints = o.hints?.(id);
    gossip.set(id, await Gossip.start({
      identity: identities.get(id)!,
      rpc: transports.get(id)!,
      listenHost: '127.0.0.1',
      members: () => ids,
      probes: { role: () => (id === 'n1' ? 'leader' : 'follower'), connections: () => ({ imap: 2, pop3: 1 }), messagesAccepted: () => 0 },
      ...(hints ? { hints } : {}),
      intervalMs: o.intervalMs ?? intervalMs,
      logger: quietLog,
    }));
  }
  return {
    identities,
    transports,
    gossip,
    stop: async () => {
      await Promise.all([...gossip.values()].map((g) => g.stop()));
      await closeAll(transports.values());
    },
  };
}

async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const hearsAll = (g: Gossip): boolean => g.status().members.length === 2 && g.status().members.every((m) => m.alive && m.lastSeenMs !== null && m.lastSeenMs < 5 * intervalMs);

test('soft state: encoded within its limits, malformed or oversized messages refused, the view ages entries', () => {
  const s = { nodeId: 'n1', heartbeat: 7, role: 'leader', loopLagMs: 1.5, connections: { imap: 3 }, messagesPerSecond: 12.5, hints: ['a'.repeat(64)] };
  assert.deepEqual(decodeSoftState(encodeSoftState(s)), s);
  assert.throws(() => decodeSoftState(encodeSoftState({ ...s, hints: ['not-a-blob-id'] })), /bad hints/);
  assert.throws(() => encodeSoftState({ ...s, role: 'x'.repeat(L.gossipMessageBytesMax) }), /TOO_LARGE|exceeds/);
  assert.throws(() => decodeSoftState(new Uint8Array([0xc1])), /MessagePack|bad/);
  const v = new GossipView({ startedAtMs: 1000, intervalMs: 1000, deadAfterIntervals: L.gossipDeadAfterIntervals });
  v.record(s, 1000);
  const [n1, n2] = v.snapshot(['n1', 'n2'], 1000 + 1000 * L.gossipDeadAfterIntervals - 1);
  assert.equal(n1!.alive, true);
  assert.equal(n2!.alive, true, 'never heard, but still within the start grace');
  const [late1, late2] = v.snapshot(['n1', 'n2'], 1000 + 1000 * L.gossipDeadAfterIntervals);
  assert.equal(late1!.alive, false);
  assert.equal(late2!.alive, false);
  const box = new HintOutbox();
  for (let i = 0; i < L.gossipHintsPerMessageMax + 1; i++) box.add(i.toString(16).padStart(64, '0'));
  const sent = [box.next(), box.next(), box.next(), box.next()].map((m) => m.length);
  assert.equal(sent[0], L.gossipHintsPerMessageMax, 'a message carries at most gossipHintsPerMessageMax hints');
  assert.equal(sent.reduce((a, b) => a + b, 0), (L.gossipHintsPerMessageMax + 1) * L.gossipHintRepeats, 'each hint goes out gossipHintRepeats times');
  assert.equal(box.size, 0);
});

test('three members hear each other within seconds, with load and role; a stopped one is reported dead within the bound', async () => {
  const m = await members();
  try {
    await until('every member to hear the other two', 5_000, () => ([...m.gossip.values()].every(hearsAll) ? true : undefined));
    const n1 = m.gossip.get('n1')!.status();
    const n2 = n1.members.find((x) => x.nodeId === 'n2')!;
    assert.equal(n2.role, 'follower');
    assert.deepEqual(n2.load?.connections, { imap: 2, pop3: 1 });
    assert.equal(typeof n2.load?.loopLagMs, 'number');
    assert.ok(n2.heartbeat! >= 1);
    assert.equal(m.gossip.get('n2')!.status().members.find((x) => x.nodeId === 'n1')!.role, 'leader');

    const stoppedAt = Date.now();
    await m.gossip.get('n3')!.stop();
    const bound = intervalMs * L.gossipDeadAfterIntervals;
    await until('n3 reported dead', bound + 3 * intervalMs, () => {
      const s = m.gossip.get('n1')!.status().members.find((x) => x.nodeId === 'n3')!;
      return s.alive ? undefined : s;
    });
    const tookMs = Date.now() - stoppedAt;
    assert.ok(tookMs >= bound - intervalMs, `not declared dead too early (${tookMs} ms)`);
    assert.ok(m.gossip.get('n1')!.status().members.find((x) => x.nodeId === 'n2')!.alive, 'n2 is still alive');
  } finally {
    await m.stop();
  }
});

test('a stranger cannot join the mesh: its dial is refused and it hears nothing; the same key is derived again', async () => {
  const m = await members();
  const stranger = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) },
  });
  try {
    await until('members to mesh', 5_000, () => ([...m.gossip.values()].every(hearsAll) ? true : undefined));
    const pubsub = stranger.services.pubsub as GossipSub;
    let heard = 0;
    pubsub.addEventListener('message', () => heard++);
    pubsub.subscribe(L.gossipTopic);
    const n1 = m.gossip.get('n1')!;
    const addr = multiaddr(`/ip4/127.0.0.1/tcp/${n1.port}/p2p/${n1.peerId}`);
    await stranger.dial(addr).then(
      async () => {
        // The noise handshake may complete on the stranger's side before n1's gater closes the connection.
        await until('n1 to drop the stranger', 2_000, () => (stranger.getConnections().length === 0 ? true : undefined));
      },
      () => {},
    );
    // It also cannot get in by being dialled: its peer id is in no member's directory.
    await pubsub.publish(L.gossipTopic, encodeSoftState({ nodeId: 'n2', heartbeat: 1e6, role: 'leader', loopLagMs: 0, connections: {}, messagesPerSecond: 0, hints: [] })).catch(() => {});
    await new Promise((r) => setTimeout(r, 4 * intervalMs));
    assert.equal(heard, 0, 'the stranger heard no member');
    assert.equal(stranger.getConnections().length, 0, 'no connection to the stranger stays open');
    for (const g of m.gossip.values()) assert.ok(g.status().members.every((x) => x.heartbeat === null || x.heartbeat < 1e6), 'its forged state reached nobody');
    // The libp2p key is a function of the cluster identity: the same peer id after a restart.
    const again = await gossipPrivateKey(m.identities.get('n1')!);
    assert.equal(n1.peerId, (await import('@libp2p/peer-id')).peerIdFromPrivateKey(again).toString());
  } finally {
    await stranger.stop();
    await m.stop();
  }
});

test('a member cannot speak for another: a message whose signer is not the node it names is rejected', async () => {
  const { identities } = await makeCluster(ids);
  const transports = await startTransports(identities);
  const gossip: Gossip[] = [];
  try {
    for (const id of ids) {
      // n3 claims to be n2: its key (derived for "n2" from n3's TLS key) is announced over n3's own TLS identity.
      const identity = id === 'n3' ? { nodeId: 'n2', keyPem: identities.get('n3')!.keyPem } : identities.get(id)!;
      gossip.push(await Gossip.start({ identity, rpc: transports.get(id)!, listenHost: '127.0.0.1', members: () => ids, intervalMs, logger: quietLog }));
    }
    const n1 = gossip[0]!;
    await until('n1 to hear n2 and reject the impostor', 8_000, () => {
      const st = n1.status();
      return st.members.find((m) => m.nodeId === 'n2')?.lastSeenMs !== null && st.counters.rejected > 0 ? true : undefined;
    });
    assert.equal(n1.status().members.find((m) => m.nodeId === 'n3')!.lastSeenMs, null, 'nothing from n3 was accepted');
  } finally {
    await Promise.all(gossip.map((g) => g.stop()));
    await closeAll(transports.values());
  }
});

test('a failed replica copy becomes a hint that reaches another node\'s repair loop', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-gossip-hints-'));
  const { identities } = await makeCluster(ids);
  const transports = await startTransports(identities);
  const blobs = new Map<string, ReplicatedBlobStore>();
  // n1 and n2 run the blob layer; n3 is a member whose blob service is not running, so copies to it fail.
  for (const id of ['n1', 'n2']) {
    const local = await BlobStore.open(join(dir, id));
    blobs.set(id, new ReplicatedBlobStore({ local, rpc: transports.get(id)!, members: () => ids as never, limits: { replicaCopyAttemptsMax: 1, peerRequestTimeoutMs: 2_000 } }));
  }
  const gossip: Gossip[] = [];
  try {
    for (const id of ids) {
      const b = blobs.get(id);
      gossip.push(await Gossip.start({ identity: identities.get(id)!, rpc: transports.get(id)!, listenHost: '127.0.0.1', members: () => ids, ...(b ? { hints: gossipHintsOf(b) } : {}), intervalMs, logger: quietLog }));
    }
    await until('members to mesh', 5_000, () => (gossip.every(hearsAll) ? true : undefined));
    const { id } = await blobs.get('n1')!.put(Buffer.from('a body whose copy to n3 fails'));
    await blobs.get('n1')!.drain();
    assert.equal(blobs.get('n2')!.hintCount, 0);
    await until('the hint to reach n2', 5_000, () => (blobs.get('n2')!.hintCount > 0 ? true : undefined));
    assert.equal(gossip[1]!.status().counters.hintsReceived, 1, 'applied once although repeated');
    // n2's repair loop takes the hinted blob first: it examines it and finds n3's copy unknown (unreachable).
    const repairer = new BlobRepairer({ blobs: blobs.get('n2')!, referencedIds: async () => [] });
    const pass = await repairer.runPass();
    assert.equal(pass.examined, 1, 'the hinted blob was examined by n2\'s repair pass');
    assert.equal(await blobs.get('n2')!.local.has(id), true);
  } finally {
    await Promise.all(gossip.map((g) => g.stop()));
    for (const b of blobs.values()) await b.close();
    await closeAll(transports.values());
    await rm(dir, { recursive: true, force: true });
  }
});

test('cost of gossip per node at the default interval (CPU and bytes on the wire, printed)', async () => {
  const m = await members({ intervalMs: L.gossipIntervalMs });
  try {
    await until('members to mesh', 10_000, () => ([...m.gossip.values()].every((g) => g.status().members.every((x) => x.lastSeenMs !== null)) ? true : undefined));
    const ports = new Set([...m.gossip.values()].map((g) => g.port));
    const wire = (): number => {
      let n = 0;
      for (const h of (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()) {
        const s = h as { localPort?: number; bytesWritten?: number; constructor: { name: string } };
        if (s.constructor.name === 'Socket' && s.localPort !== undefined && s.bytesWritten !== undefined && (ports.has(s.localPort) || ports.has((h as { remotePort: number }).remotePort))) n += s.bytesWritten;
      }
      return n;
    };
    const seconds = 8;
    const cpu0 = process.cpuUsage();
    const bytes0 = wire();
    const pub0 = [...m.gossip.values()].reduce((a, g) => a + g.counters.bytesPublished, 0);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu = process.cpuUsage(cpu0);
    const sentPerNode = (wire() - bytes0) / 3 / seconds;
    const payloadPerNode = ([...m.gossip.values()].reduce((a, g) => a + g.counters.bytesPublished, 0) - pub0) / 3 / seconds;
    const cpuPerNode = (cpu.user + cpu.system) / 1000 / 3 / (seconds * 1000);
    console.log(`gossip cost per node: cpu ${(cpuPerNode * 100).toFixed(2)}% of a core, sent ${sentPerNode.toFixed(0)} B/s on the wire (payload ${payloadPerNode.toFixed(0)} B/s)`);
    assert.ok(sentPerNode > 0, 'bytes were measured');
    assert.ok(sentPerNode < 20_000, `gossip sends under 20 KB/s per node (${sentPerNode.toFixed(0)})`);
    assert.ok(cpuPerNode < 0.05, `gossip takes under 5% of a core per node (${(cpuPerNode * 100).toFixed(2)}%)`);
  } finally {
    await m.stop();
  }
});
