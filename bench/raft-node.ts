// One Raft node process for bench/raft.ts (b): TcpTransport on loopback, LevelDBStorage with fsync, a RaftDriver.
// Controlled by its parent over the IPC channel; runs the closed-loop load itself when asked and reports JSON.
//
// Usage (by bench/raft.ts): node bench/raft-node.ts --id n1 --dir /tmp/x --voters n1,n2,n3 [--tick-ms 100]
//   [--snapshot-entries 10000] [--no-fsync]

import { TcpTransport } from '../src/cluster/tcp-transport.ts';
import { RaftDriver } from '../src/raft/driver.ts';
import { LevelDBStorage } from '../src/raft/leveldb-storage.ts';
import type { DurableStorage, DurableWrite } from '../src/raft/storage.ts';
import { nodeId } from '../src/raft/types.ts';
import { BenchStateMachine, argValue, runLoad } from './raft-common.ts';

export type ParentMessage =
  | { type: 'start'; ports: Record<string, number> }
  | { type: 'status' }
  | { type: 'load'; proposers: number; seconds: number; payloadBytes: number }
  | { type: 'stop' };

export type ChildMessage =
  | { type: 'listening'; port: number }
  | { type: 'status'; id: string; role: string; lead: string; applied: number }
  | { type: 'result'; result: Awaited<ReturnType<typeof runLoad>>; driver: Record<string, number>; transport: Record<string, number> }
  | { type: 'stopped' };

const args = process.argv.slice(2);
const id = nodeId(argValue(args, '--id') ?? 'n1');
const dir = argValue(args, '--dir');
const voters = (argValue(args, '--voters') ?? 'n1,n2,n3').split(',').map(nodeId);
const tickMs = Number(argValue(args, '--tick-ms') ?? 100);
const fsync = !args.includes('--no-fsync');
const snapshotEntries = Number(argValue(args, '--snapshot-entries') ?? 10_000);
if (dir === undefined) throw new Error('--dir is required');

const tell = (m: ChildMessage): void => {
  process.send?.(m);
};

/** Diagnostics only (--no-fsync): the same writes without waiting for the disk. */
function withoutFsync(s: LevelDBStorage): DurableStorage {
  const save = s.save.bind(s);
  s.save = (w: DurableWrite, _sync: boolean) => save(w, false);
  return s;
}

const transport = await TcpTransport.listen({ id, listen: { host: '127.0.0.1', port: 0 }, peers: [] });
let driver: RaftDriver | undefined;
const sm = new BenchStateMachine();

process.on('message', (raw) => {
  void handle(raw as ParentMessage).catch((e: unknown) => {
    process.stderr.write(`raft-node ${id}: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
});
process.on('disconnect', () => process.exit(0)); // the parent went away: never linger

async function handle(m: ParentMessage): Promise<void> {
  switch (m.type) {
    case 'start': {
      for (const [peer, port] of Object.entries(m.ports)) transport.setPeer(nodeId(peer), { host: '127.0.0.1', port });
      const opened = await LevelDBStorage.open(dir!, { bootstrap: { voters, learners: [] } });
      const storage = fsync ? opened : withoutFsync(opened);
      driver = new RaftDriver({ node: { id, electionTicks: 10, heartbeatTicks: 1 }, storage, transport, stateMachine: sm, tickMs, snapshotEntries });
      driver.start();
      return;
    }
    case 'status': {
      const s = driver?.status();
      tell({ type: 'status', id, role: s?.raft.role ?? 'none', lead: s?.raft.lead ?? '', applied: s?.applied ?? 0 });
      return;
    }
    case 'load': {
      const d = driver!;
      const before = d.status();
      const result = await runLoad((data) => d.propose(data), m);
      const after = d.status();
      const driverStats = {
        cycles: after.cycles - before.cycles,
        proposalBatches: after.proposalBatches - before.proposalBatches,
        proposed: after.proposed - before.proposed,
        inboxDropped: after.inboxDropped,
      };
      tell({ type: 'result', result, driver: driverStats, transport: { ...transport.stats } });
      return;
    }
    case 'stop':
      await driver?.stop();
      if (driver === undefined) await transport.close();
      tell({ type: 'stopped' });
      process.disconnect();
      return;
  }
}

tell({ type: 'listening', port: transport.address().port });
