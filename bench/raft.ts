// Raft throughput and commit latency: (a) 3 drivers in one process, (b) 3 processes over TCP with LevelDB and fsync.
// Prints one line per configuration; never fails on timing. Children and temp dirs are cleaned up on every exit path.
//
// Usage: node bench/raft.ts [--seconds 5] [--proposers 1,64] [--only a|b] [--payload-bytes 200] [--tick-ms 100]
//        [--snapshot-entries 10000] [--no-fsync]

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RaftDriver } from '../src/raft/driver.ts';
import { MemoryDurableStorage } from '../src/raft/memory-durable-storage.ts';
import { MemoryNetwork } from '../src/raft/transport.ts';
import { nodeId } from '../src/raft/types.ts';
import { BenchStateMachine, type LoadResult, argValue, formatLine, runLoad } from './raft-common.ts';
import type { ChildMessage, ParentMessage } from './raft-node.ts';

const args = process.argv.slice(2);
const seconds = Number(argValue(args, '--seconds') ?? 5);
const proposerCounts = (argValue(args, '--proposers') ?? '1,64').split(',').map(Number);
const only = argValue(args, '--only');
const payloadBytes = Number(argValue(args, '--payload-bytes') ?? 200);
const tickMs = Number(argValue(args, '--tick-ms') ?? 100);
const noFsync = args.includes('--no-fsync');
const snapshotEntries = Number(argValue(args, '--snapshot-entries') ?? 10_000);
const voters = ['n1', 'n2', 'n3'];
const leaderWaitMs = 10_000;
const nodeScript = fileURLToPath(new URL('./raft-node.ts', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function benchInProcess(): Promise<void> {
  const ids = voters.map(nodeId);
  const net = new MemoryNetwork({ schedule: setImmediate });
  const drivers = ids.map(
    (id) =>
      new RaftDriver({
        node: { id, electionTicks: 10, heartbeatTicks: 1 },
        storage: new MemoryDurableStorage({ voters: ids, learners: [] }),
        transport: net.endpoint(id),
        stateMachine: new BenchStateMachine(),
        tickMs,
        snapshotEntries,
      }),
  );
  try {
    for (const d of drivers) d.start();
    const deadline = Date.now() + leaderWaitMs;
    let leader: RaftDriver | undefined;
    while ((leader = drivers.find((d) => d.node.raft.role === 'leader')) === undefined) {
      if (Date.now() > deadline) throw new Error('(a): no leader elected');
      await sleep(10);
    }
    for (const proposers of proposerCounts) {
      const before = leader.status();
      const r = await runLoad((data) => leader.propose(data), { proposers, seconds, payloadBytes });
      const after = leader.status();
      const perBatch = (after.proposed - before.proposed) / Math.max(1, after.proposalBatches - before.proposalBatches);
      console.log(`${formatLine('(a) 3 drivers in-process memory', r)} (${perBatch.toFixed(1)} proposals per append)`);
    }
  } finally {
    await Promise.all(drivers.map((d) => d.stop()));
  }
}

/** A child node and the replies it sent, consumed in order by `next`. */
class Child {
  readonly proc: ChildProcess;
  private readonly inbox: ChildMessage[] = [];
  private waiter: (() => void) | undefined;
  exited = false;

  constructor(id: string, dir: string) {
    const childArgs = [nodeScript, '--id', id, '--dir', dir, '--voters', voters.join(','), '--tick-ms', String(tickMs)];
    childArgs.push('--snapshot-entries', String(snapshotEntries));
    if (noFsync) childArgs.push('--no-fsync');
    this.proc = spawn(process.execPath, childArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m) => {
      this.inbox.push(m as ChildMessage);
      this.waiter?.();
    });
    this.proc.on('exit', () => {
      this.exited = true;
      this.waiter?.();
    });
  }

  send(m: ParentMessage): void {
    if (!this.exited && this.proc.connected) this.proc.send(m);
  }

  async next<T extends ChildMessage['type']>(type: T, timeoutMs: number): Promise<Extract<ChildMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<ChildMessage, { type: T }>;
      if (this.exited) throw new Error(`node process exited while waiting for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(timer);
          r();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Ask politely, then insist: a node process never outlives the bench. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.send({ type: 'stop' });
    const deadline = Date.now() + 3_000;
    while (!this.exited && Date.now() < deadline) await sleep(20);
    if (!this.exited) this.proc.kill('SIGKILL');
    while (!this.exited) await sleep(10);
  }
}

async function findLeader(children: Child[]): Promise<Child> {
  const deadline = Date.now() + leaderWaitMs;
  while (Date.now() < deadline) {
    for (const c of children) c.send({ type: 'status' });
    const st = await Promise.all(children.map((c) => c.next('status', 2_000)));
    const leader = st.find((s) => s.role === 'leader');
    if (leader !== undefined && st.every((s) => s.lead === leader.id)) return children[st.indexOf(leader)]!;
    await sleep(50);
  }
  throw new Error('(b): no leader elected');
}

async function benchProcesses(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'stormo-raft-bench-'));
  const children: Child[] = [];
  const onSignal = (): void => {
    for (const c of children) c.proc.kill('SIGKILL');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const id of voters) children.push(new Child(id, join(root, id)));
    const ports: Record<string, number> = {};
    for (const [i, c] of children.entries()) ports[voters[i]!] = (await c.next('listening', 10_000)).port;
    for (const c of children) c.send({ type: 'start', ports });
    const leader = await findLeader(children);
    const label = `(b) 3 procs tcp+leveldb ${noFsync ? 'NO fsync' : 'fsync'}`;
    for (const proposers of proposerCounts) {
      leader.send({ type: 'load', proposers, seconds, payloadBytes });
      const res = await leader.next('result', seconds * 1000 + 30_000);
      const r: LoadResult = res.result;
      const perBatch = res.driver['proposed']! / Math.max(1, res.driver['proposalBatches']!);
      console.log(`${formatLine(label, r)} (${perBatch.toFixed(1)} proposals per append)`);
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`raft bench: ${seconds} s per configuration, ${payloadBytes}-byte payloads, tick ${tickMs} ms`);
  if (only === undefined || only === 'a') await benchInProcess();
  if (only === undefined || only === 'b') await benchProcesses();
}

main().catch((e: unknown) => {
  console.error(`raft bench failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
