// RaftDriver end to end in one process: three drivers over the in-memory transport and MemoryDurableStorage.
// Real timers with a 10 ms tick keep each test well under a second; every wait is bounded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftDriver, type AppliedCommand, type RaftDriverOptions, type StateMachine } from '../../src/raft/driver.ts';
import { RaftError, isRaftError } from '../../src/raft/errors.ts';
import { LevelDBStorage } from '../../src/raft/leveldb-storage.ts';
import { MemoryDurableStorage } from '../../src/raft/memory-durable-storage.ts';
import type { DurableWrite } from '../../src/raft/storage.ts';
import { MemoryNetwork, type Transport } from '../../src/raft/transport.ts';
import { type Message, type NodeId, nodeId } from '../../src/raft/types.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Appends strings; applies each request id once and answers a duplicate with the first result. */
class ListStateMachine implements StateMachine {
  values: string[] = [];
  applyCalls = 0;
  private results = new Map<string, string>();

  apply(cmd: AppliedCommand): unknown {
    this.applyCalls++;
    const key = hex(cmd.requestId);
    const seen = this.results.get(key);
    if (seen !== undefined) return seen;
    this.values.push(dec(cmd.data));
    const result = `#${this.values.length} ${dec(cmd.data)} @${cmd.index}`;
    this.results.set(key, result);
    return result;
  }

  snapshot(): Uint8Array {
    return enc(JSON.stringify({ values: this.values, results: [...this.results] }));
  }

  restore(data: Uint8Array): void {
    const img = data.byteLength === 0 ? { values: [], results: [] } : JSON.parse(dec(data));
    this.values = img.values;
    this.results = new Map(img.results);
  }
}

interface Member {
  id: NodeId;
  driver: RaftDriver;
  sm: ListStateMachine;
}

/** Fails every save once `failing` is set, as a dying disk would. */
class FailingStorage extends MemoryDurableStorage {
  failing = false;
  onFail: () => void = () => {};
  override async save(w: DurableWrite, sync: boolean): Promise<void> {
    if (this.failing) {
      this.onFail();
      throw new Error('EIO: simulated disk failure');
    }
    return super.save(w, sync);
  }
}

/** Records what the driver sends. */
function recording(inner: Transport, sent: Message[]): Transport {
  return {
    send: (msgs) => {
      sent.push(...msgs);
      inner.send(msgs);
    },
    onMessage: (h) => inner.onMessage(h),
    onUnreachable: (h) => inner.onUnreachable?.(h),
    close: () => inner.close(),
  };
}

interface ClusterHooks {
  storage?: (id: NodeId, voters: NodeId[]) => MemoryDurableStorage;
  transport?: (id: NodeId, t: Transport) => Transport;
}

function cluster(
  t: { after(fn: () => Promise<void>): void },
  extra: Partial<RaftDriverOptions> = {},
  start = true,
  hooks: ClusterHooks = {},
) {
  const voters = [nodeId('n1'), nodeId('n2'), nodeId('n3')];
  const net = new MemoryNetwork({ schedule: setImmediate });
  const members: Member[] = voters.map((id) => {
    const sm = new ListStateMachine();
    const transport = net.endpoint(id);
    const driver = new RaftDriver({
      node: { id, electionTicks: 10, heartbeatTicks: 1 },
      storage: hooks.storage?.(id, voters) ?? new MemoryDurableStorage({ voters, learners: [] }),
      transport: hooks.transport?.(id, transport) ?? transport,
      stateMachine: sm,
      tickMs: 10,
      logger: { warn: () => {}, error: () => {} },
      ...extra,
      limits: { proposalTimeoutMs: 2_000, readTimeoutMs: 2_000, ...extra.limits },
    });
    return { id, driver, sm };
  });
  if (start) for (const m of members) m.driver.start();
  t.after(async () => {
    await Promise.all(members.map((m) => m.driver.stop()));
  });
  return { net, members };
}

async function waitFor<T>(what: string, f: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function leaderOf(members: Member[]): Member | undefined {
  return members.find((m) => m.driver.status().state === 'running' && m.driver.node.raft.role === 'leader');
}

/** A leader that every running member follows. */
async function stableLeader(members: Member[]): Promise<Member> {
  return waitFor('a leader', () => {
    const l = leaderOf(members);
    const running = members.filter((m) => m.driver.status().state === 'running');
    return l !== undefined && running.every((m) => m.driver.node.raft.lead === l.id) ? l : undefined;
  });
}

test('proposals on the leader and on a follower (forwarded) resolve with the apply result', async (t) => {
  const { members } = cluster(t);
  const leader = await stableLeader(members);
  const follower = members.find((m) => m !== leader)!;
  const r1 = await leader.driver.propose(enc('a'));
  assert.match(String(r1), /^#1 a @\d+$/);
  const r2 = await follower.driver.propose(enc('b'));
  assert.match(String(r2), /^#2 b @\d+$/);
  await waitFor('every replica applied both', () => members.every((m) => m.sm.values.length === 2));
  for (const m of members) assert.deepEqual(m.sm.values, ['a', 'b']);
});

test('many concurrent proposals are batched and all resolve in log order', async (t) => {
  const { members } = cluster(t);
  const leader = await stableLeader(members);
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => leader.driver.propose(enc(`v${i}`))));
  assert.equal(new Set(results).size, 200);
  const s = leader.driver.status();
  assert.ok(s.proposalBatches < 200, `${s.proposalBatches} batches for 200 proposals`);
});

test('read() on a follower after a write sees the write', async (t) => {
  const { members } = cluster(t);
  const leader = await stableLeader(members);
  const follower = members.find((m) => m !== leader)!;
  await leader.driver.propose(enc('x'));
  await follower.driver.read();
  assert.deepEqual(follower.sm.values, ['x']);
  await Promise.all([leader.driver.read(), leader.driver.read()]);
  assert.deepEqual(leader.sm.values, ['x']);
});

test('a proposal on a node that knows no leader fails with a typed error', async (t) => {
  const { members } = cluster(t, {}, false);
  const lonely = members[0]!;
  lonely.driver.start(); // its peers never start: no leader can exist
  await assert.rejects(lonely.driver.propose(enc('lost')), (e) => isRaftError(e, 'PROPOSAL_DROPPED'));
  await assert.rejects(lonely.driver.read(), (e) => isRaftError(e, 'PROPOSAL_DROPPED'));
});

test('after the leader stops a new leader is elected and proposals resume', async (t) => {
  const { members } = cluster(t);
  const old = await stableLeader(members);
  await old.driver.propose(enc('before'));
  await old.driver.stop();
  await assert.rejects(old.driver.propose(enc('x')), (e) => isRaftError(e, 'STOPPED'));
  const survivors = members.filter((m) => m !== old);
  const leader = await stableLeader(survivors);
  assert.notEqual(leader.id, old.id);
  const follower = survivors.find((m) => m !== leader)!;
  await leader.driver.propose(enc('after'));
  await follower.driver.propose(enc('after2'));
  await follower.driver.read();
  assert.deepEqual(follower.sm.values, ['before', 'after', 'after2']);
});

test('the pending proposals limit refuses at once with PROPOSALS_FULL', async (t) => {
  const { members } = cluster(t, { limits: { proposalsPendingMax: 4 } });
  const leader = await stableLeader(members);
  const accepted = [1, 2, 3, 4].map((i) => leader.driver.propose(enc(`p${i}`)));
  await assert.rejects(leader.driver.propose(enc('p5')), (e) => isRaftError(e, 'PROPOSALS_FULL'));
  assert.equal((await Promise.all(accepted)).length, 4);
  await leader.driver.propose(enc('p6')); // room again once applied
});

test('a retried request id is applied once and both callers get the first result', async (t) => {
  const { members } = cluster(t);
  const leader = await stableLeader(members);
  const requestId = enc('request-0001');
  const [a, b] = await Promise.all([
    leader.driver.propose(enc('once'), { requestId }),
    leader.driver.propose(enc('once'), { requestId }),
  ]);
  assert.equal(a, b);
  const again = await leader.driver.propose(enc('once'), { requestId }); // a retry after the fact
  assert.equal(again, a);
  await waitFor('replicas applied', () => members.every((m) => m.sm.applyCalls === 3));
  for (const m of members) assert.deepEqual(m.sm.values, ['once']);
});

test('a proposal on a partitioned leader fails with TIMEOUT', async (t) => {
  const { net, members } = cluster(t, { limits: { proposalTimeoutMs: 300 } });
  const leader = await stableLeader(members);
  net.isolate(leader.id);
  await assert.rejects(leader.driver.propose(enc('stuck')), (e) => isRaftError(e, 'TIMEOUT') || isRaftError(e, 'PROPOSAL_DROPPED'));
});

test('a follower cut off past the compaction point catches up from a snapshot', async (t) => {
  const { net, members } = cluster(t, { snapshotEntries: 20, snapshotKeepEntries: 5 });
  const leader = await stableLeader(members);
  const lagging = members.find((m) => m !== leader)!;
  net.isolate(lagging.id);
  for (let i = 0; i < 60; i++) await leader.driver.propose(enc(`s${i}`));
  assert.ok(leader.driver.status().snapshotIndex > 20);
  net.heal();
  await waitFor('the lagging follower caught up', () => lagging.sm.values.length === 60);
  assert.deepEqual(lagging.sm.values, leader.sm.values);
  assert.ok(lagging.driver.status().snapshotIndex > 0);
});

test('leadership transfer moves the leader to the chosen node', async (t) => {
  const { members } = cluster(t);
  const leader = await stableLeader(members);
  const target = members.find((m) => m !== leader)!;
  await leader.driver.propose(enc('t'));
  const changed = new Promise<NodeId>((resolve) => target.driver.events.on('leaderChanged', (_term, id) => id === target.id && resolve(id)));
  leader.driver.transferLeadership(target.id);
  assert.equal(await changed, target.id);
  assert.equal(await target.driver.propose(enc('u')).then(() => 'ok'), 'ok');
});

test('a failed save stops the driver once, surfaces STORAGE and sends nothing that depended on it', async (t) => {
  const storages = new Map<NodeId, FailingStorage>();
  const sent = new Map<NodeId, Message[]>();
  const errors: unknown[] = [];
  const { members } = cluster(
    t,
    { logger: { warn: () => {}, error: (fields) => errors.push(fields) } },
    true,
    {
      storage: (id, voters) => {
        const s = new FailingStorage({ voters, learners: [] });
        storages.set(id, s);
        return s;
      },
      transport: (id, tr) => {
        const log: Message[] = [];
        sent.set(id, log);
        return recording(tr, log);
      },
    },
  );
  const leader = await stableLeader(members);
  const follower = members.find((m) => m !== leader)!;
  await leader.driver.propose(enc('ok'));
  await waitFor('the follower applied', () => follower.sm.values.length === 1);
  const stopped = new Promise<RaftError | undefined>((r) => follower.driver.events.on('stopped', r));
  const followerSent = sent.get(follower.id)!;
  const failing = storages.get(follower.id)!;
  let sentAtFailure = -1;
  failing.onFail = () => {
    if (sentAtFailure < 0) sentAtFailure = followerSent.length;
  };
  failing.failing = true;
  const sentBefore = followerSent.length;
  const pending = follower.driver.propose(enc('doomed'));
  await assert.rejects(pending, (e) => isRaftError(e, 'STORAGE') || isRaftError(e, 'TIMEOUT'));
  const err = await stopped;
  assert.ok(isRaftError(err, 'STORAGE'));
  assert.match(String((err!.cause as Error).message), /EIO/);
  // Nothing left after the failed save, and no answer to the append it could not persist.
  assert.ok(sentAtFailure >= 0);
  assert.equal(followerSent.length, sentAtFailure);
  assert.deepEqual(followerSent.slice(sentBefore).filter((m) => m.type === 'appResp'), []);
  assert.equal(errors.length, 1);
  await assert.rejects(follower.driver.propose(enc('after')), (e) => isRaftError(e, 'STORAGE'));
  // The other two carry on.
  await leader.driver.propose(enc('still'));
});

test('a node restarted on LevelDB restores its snapshot and replays the log tail once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-driver-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const id = nodeId('solo');
  const open = async () => {
    const storage = await LevelDBStorage.open(dir, { bootstrap: { voters: [id], learners: [] } });
    const sm = new ListStateMachine();
    const driver = new RaftDriver({
      node: { id, electionTicks: 5, heartbeatTicks: 1 },
      storage,
      transport: new MemoryNetwork({ schedule: setImmediate }).endpoint(id),
      stateMachine: sm,
      tickMs: 10,
      snapshotEntries: 10,
      snapshotKeepEntries: 3,
    });
    driver.start();
    return { driver, sm };
  };
  const first = await open();
  await waitFor('leadership', () => first.driver.node.raft.role === 'leader');
  for (let i = 0; i < 25; i++) await first.driver.propose(enc(`e${i}`));
  assert.ok(first.driver.status().snapshotIndex >= 10);
  await first.driver.stop();

  const second = await open();
  t.after(() => second.driver.stop());
  await waitFor('leadership again', () => second.driver.node.raft.role === 'leader');
  await second.driver.read();
  assert.deepEqual(second.sm.values, first.sm.values);
  assert.equal(second.sm.values.length, 25);
  await second.driver.propose(enc('more'));
  assert.equal(second.sm.values.at(-1), 'more');
});
