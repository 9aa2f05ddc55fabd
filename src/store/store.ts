// The store as front ends see it: commands proposed through Raft, queries over the applied state.
// Front ends (SMTP, IMAP, POP3, admin) depend on this; it knows nothing of their protocols.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MemoryNetwork,
  RaftDriver,
  RaftError,
  RawNode,
  type DriverLimits,
  index,
  nodeId,
  seededRandom,
} from '../raft/index.ts';
import { LevelDBStorage } from '../raft/leveldb-storage.ts';
import type { Command } from './commands.ts';
import { encodeCommand } from './commands.ts';
import { type ApplyResult, StoreError } from './errors.ts';
import { StoreMachine } from './machine.ts';
import { StoreQueries } from './queries.ts';
import type { FolderChange } from './types.ts';
import { randomBytes } from 'node:crypto';

export interface StoreOptions {
  /** Data folder: `raft/` (the log) and `store/` (the applied state) are created inside. */
  dir: string;
  nodeId: string;
  /** Raft tick in ms. Default 50. */
  tickMs?: number;
  limits?: Partial<DriverLimits>;
  /** Snapshot (and compact the log) after this many applied entries. Default 10,000. */
  snapshotEntries?: number;
}

/** A command without its time: the store stamps `at` when it proposes (once, so replicas agree). */
export type CommandInput = Command extends infer C ? (C extends Command ? Omit<C, 'at'> : never) : never;

export class Store {
  readonly queries: StoreQueries;
  private readonly driver: RaftDriver;
  private readonly machine: StoreMachine;

  private constructor(driver: RaftDriver, machine: StoreMachine) {
    this.driver = driver;
    this.machine = machine;
    this.queries = new StoreQueries(machine.db);
  }

  /** Open (or create) a single-node store: a one-member Raft group that elects itself at once. */
  static async open(o: StoreOptions): Promise<Store> {
    await mkdir(join(o.dir, 'raft'), { recursive: true });
    const id = nodeId(o.nodeId);
    const storage = await LevelDBStorage.open(join(o.dir, 'raft'), { bootstrap: { voters: [id], learners: [] } });
    let machine: StoreMachine;
    try {
      machine = await StoreMachine.open(join(o.dir, 'store'));
    } catch (e) {
      await storage.close();
      throw e;
    }
    const applied = index(Math.max(machine.appliedIndex(), storage.snapshot().meta.index));
    const node = new RawNode({ id, storage, applied, random: seededRandom(randomBytes(4).readUInt32BE(0)) });
    node.campaign(); // a single voter wins at once: no election timeout at start
    const net = new MemoryNetwork({ schedule: (fn) => setImmediate(fn) });
    const driver = new RaftDriver({
      node,
      storage,
      transport: net.endpoint(id),
      stateMachine: machine,
      tickMs: o.tickMs ?? 50,
      ...(o.limits ? { limits: o.limits } : {}),
      snapshotEntries: o.snapshotEntries ?? 10_000,
    });
    driver.start();
    return new Store(driver, machine);
  }

  /**
   * Propose a command and wait until it is committed and applied here. Resolves with the
   * command's result; a refusal (exists, not found, over quota...) throws StoreError with its code.
   * `requestId` makes a retry apply once.
   */
  async execute<T>(cmd: CommandInput, opts: { at?: number; requestId?: Uint8Array } = {}): Promise<T> {
    const full = { ...cmd, at: opts.at ?? Date.now() } as Command;
    let res: ApplyResult<T>;
    try {
      res = (await this.driver.propose(encodeCommand(full), opts.requestId ? { requestId: opts.requestId } : {})) as ApplyResult<T>;
    } catch (e) {
      if (e instanceof StoreError) throw e;
      // A disk that failed under the log or the store is STORAGE (452 4.3.1, HTTP 507), not a passing outage.
      const code = causes(e).some((c) => (c instanceof StoreError && c.code === 'STORAGE') || (c instanceof RaftError && c.code === 'STORAGE')) ? 'STORAGE' : 'UNAVAILABLE';
      throw new StoreError(code, `store: ${cmd.type} not committed`, { cause: e });
    }
    if (!res.ok) throw new StoreError(res.code, res.message);
    return res.value;
  }

  /**
   * The store stopped for good (a disk write failed: continuing could diverge from the log).
   * The process should exit and be restarted by its supervisor, as etcd does; it recovers from the log.
   */
  onFatal(listener: (error: Error) => void): void {
    this.driver.events.on('stopped', (e) => {
      if (e !== undefined) listener(e);
    });
  }

  /** Folder changes as they are applied on this node (IMAP IDLE, unsolicited responses). */
  onChanges(listener: (changes: readonly FolderChange[]) => void): () => void {
    this.machine.events.on('changes', listener);
    return () => this.machine.events.off('changes', listener);
  }

  /** A linearizable read barrier (ReadIndex): after it, queries see every write committed before. */
  barrier(): Promise<void> {
    return this.driver.read();
  }

  status(): ReturnType<RaftDriver['status']> {
    return this.driver.status();
  }

  async close(): Promise<void> {
    await this.driver.stop();
    await this.machine.close();
  }
}

/** An error and its causes, outermost first (bounded). */
function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c: unknown = e; c !== undefined && c !== null && out.length < 8; c = (c as { cause?: unknown }).cause) out.push(c);
  return out;
}
