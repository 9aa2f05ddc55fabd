// RaftDriver additions the replicated store needs: the membership API (with the core's refusals) and an
// asynchronous restore that holds back apply, the snapshot's acknowledgement and everything after it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftDriver, type AppliedCommand, type StateMachine } from '../../src/raft/driver.ts';
import { isRaftError } from '../../src/raft/errors.ts';
import { MemoryDurableStorage } from '../../src/raft/memory-durable-storage.ts';
import { MemoryNetwork } from '../../src/raft/transport.ts';
import { type NodeId, nodeId } from '../../src/raft/types.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Appends strings. restore() waits for `gate` when one is set, as a state transfer would. */
class GatedList implements StateMachine {
  values: string[] = [];
  gate: Promise<void> | undefined;
  restoreCalls = 0;
  signal: AbortSignal | undefined;

  apply(cmd: AppliedCommand): unknown {
    this.values.push(dec(cmd.data));
    return this.values.length;
  }

  snapshot(): Uint8Array {
    return enc(JSON.stringify(this.values));
  }

  restore(data: Uint8Array, signal?: AbortSignal): void | Promise<void> {
    this.restoreCalls++;
    this.signal = signal;
    const install = (): void => {
      this.values = data.byteLength === 0 ? [] : (JSON.parse(dec(data)) as string[]);
    };
    if (this.gate === undefined) return install();
    return this.gate.then(() => {
      signal?.throwIfAborted();
      install();
    });
  }
}

interface Member {
  id: NodeId;
  driver: RaftDriver;
  sm: GatedList;
}

function group(t: { after(fn: () => Promise<void>): void }, ids: string[], voters: string[], snapshotEntries = 0) {
  const net = new MemoryNetwork({ schedule: setImmediate });
  const conf = { voters: voters.map(nodeId), learners: [] };
  const make = (id: string): Member => {
    const sm = new GatedList();
    const storage = voters.includes(id) ? MemoryDurableStorage.bootstrap(conf) : new MemoryDurableStorage();
    const driver = new RaftDriver({
      node: { id: nodeId(id), electionTicks: 10, heartbeatTicks: 1 },
      storage,
      transport: net.endpoint(nodeId(id)),
      stateMachine: sm,
      tickMs: 10,
      snapshotEntries,
      snapshotKeepEntries: 2,
      logger: { warn: () => {}, error: () => {} },
      limits: { proposalTimeoutMs: 2_000, readTimeoutMs: 2_000 },
    });
    return { id: nodeId(id), driver, sm };
  };
  const members = ids.map(make);
  for (const m of members) m.driver.start();
  t.after(async () => {
    await Promise.all(members.map((m) => m.driver.stop()));
  });
  return { net, members };
}

async function waitFor<T>(what: string, f: () => T | undefined | false, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stableLeader(members: Member[]): Promise<Member> {
  return waitFor('a leader', () => {
    const l = members.find((m) => m.driver.status().state === 'running' && m.driver.node.raft.role === 'leader');
    const running = members.filter((m) => m.driver.status().state === 'running');
    return l !== undefined && running.every((m) => m.driver.node.raft.lead === l.id) ? l : undefined;
  });
}

test('membership changes go through the leader and carry the core refusals', async (t) => {
  const { members } = group(t, ['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3']);
  const founders = members.slice(0, 3);
  const n4 = members[3]!;
  const leader = await stableLeader(founders);
  const follower = founders.find((m) => m !== leader)!;
  await leader.driver.propose(enc('a'));

  await assert.rejects(follower.driver.addLearner(nodeId('n4')), (e) => isRaftError(e, 'NOT_LEADER') && e.leaderHint === leader.id);
  await assert.rejects(leader.driver.addLearner(follower.id), (e) => isRaftError(e, 'CONF_CHANGE_INVALID'));
  await assert.rejects(leader.driver.removeMember(nodeId('nobody')), (e) => isRaftError(e, 'CONF_CHANGE_INVALID'));

  // One change at a time (thesis §4.1): the second is refused while the first is unapplied.
  const [added, second] = await Promise.allSettled([leader.driver.addLearner(nodeId('n4')), leader.driver.addLearner(nodeId('n5'))]);
  assert.equal(added.status, 'fulfilled');
  assert.deepEqual(added.status === 'fulfilled' && added.value.learners, ['n4']);
  assert.ok(second.status === 'rejected' && isRaftError(second.reason, 'CONF_CHANGE_PENDING'));

  await waitFor('the learner caught up', () => n4.sm.values.length === 1);
  assert.deepEqual(n4.sm.values, ['a']);
  const promoted = await leader.driver.promote(nodeId('n4'));
  assert.deepEqual(promoted.voters, ['n1', 'n2', 'n3', 'n4']);
  await waitFor('every member applied the promotion', () => members.every((m) => m.driver.status().raft.conf.voters.length === 4));

  // Removing the leader hands leadership to another voter.
  const after = await leader.driver.removeMember(leader.id);
  assert.ok(!after.voters.includes(leader.id));
  const rest = members.filter((m) => m !== leader);
  const next = await stableLeader(rest);
  assert.notEqual(next.id, leader.id);
  await next.driver.propose(enc('b'));
  await waitFor('the rest applied b', () => rest.every((m) => m.sm.values.join() === 'a,b'));
});

test('an asynchronous restore holds back apply and the snapshot acknowledgement until it resolves', async (t) => {
  const { net, members } = group(t, ['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 10);
  const leader = await stableLeader(members);
  const lagging = members.find((m) => m !== leader)!;
  let open!: () => void;
  lagging.sm.gate = new Promise((r) => (open = r));
  net.isolate(lagging.id);
  for (let i = 0; i < 40; i++) await leader.driver.propose(enc(`v${i}`));
  assert.ok(leader.driver.status().snapshotIndex > 10, 'the leader compacted');
  const before = lagging.sm.values.length;
  net.heal();

  await waitFor('the restore started', () => lagging.driver.status().restoring);
  await leader.driver.propose(enc('during'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(lagging.sm.values.length, before, 'nothing applied while restoring');
  assert.ok(lagging.driver.status().applied < leader.driver.status().snapshotIndex, 'not advanced past the snapshot');
  const pr = leader.driver.status().raft.progress.get(lagging.id)!;
  assert.notEqual(pr.state, 'replicate', 'the leader has no acknowledgement of the snapshot yet');

  open();
  await waitFor('caught up after the restore', () => lagging.sm.values.at(-1) === 'during');
  assert.deepEqual(lagging.sm.values, leader.sm.values);
  assert.equal(lagging.driver.status().restoring, false);
});

test('stop() aborts a restore in progress and stops cleanly', async (t) => {
  const { net, members } = group(t, ['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], 10);
  const leader = await stableLeader(members);
  const lagging = members.find((m) => m !== leader)!;
  lagging.sm.gate = new Promise(() => {}); // never opens
  net.isolate(lagging.id);
  for (let i = 0; i < 30; i++) await leader.driver.propose(enc(`v${i}`));
  net.heal();
  await waitFor('the restore started', () => lagging.driver.status().restoring);
  let stoppedWith: unknown = 'not stopped';
  lagging.driver.events.on('stopped', (e) => (stoppedWith = e));
  await lagging.driver.stop();
  assert.equal(lagging.sm.signal?.aborted, true);
  assert.equal(stoppedWith, undefined, 'a stop, not a failure');
});
