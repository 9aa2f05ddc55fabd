// Test support: store members in one process over MemoryNetwork (or TcpTransport) and MemoryPeerNetwork, real LevelDB.
// Test support only; what a test checks is its own business.

import { MemoryPeerNetwork } from '../../src/cluster/peer.ts';
import { TcpTransport } from '../../src/cluster/tcp-transport.ts';
import { MemoryNetwork, type Message, type Transport, nodeId } from '../../src/raft/index.ts';
import { Store, type StoreLogger, type StoreOptions } from '../../src/store/index.ts';
import type { AccountId } from '../../src/store/index.ts';

export interface ClusterOptions {
  voters: string[];
  newDir: () => Promise<string>;
  /** Use TcpTransport on loopback for Raft messages instead of MemoryNetwork. */
  tcp?: boolean;
  store?: Partial<StoreOptions>;
}

/** Collects warnings instead of printing them (tests assert on what they need). */
export function quietLogger(): StoreLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (f, msg) => void warnings.push(`${msg} ${JSON.stringify(f)}`),
    error: (f, msg) => void warnings.push(`ERROR ${msg} ${JSON.stringify(f)}`),
  };
}

export class TestCluster {
  readonly net = new MemoryNetwork({ schedule: (fn) => setImmediate(fn) });
  readonly peers = new MemoryPeerNetwork();
  readonly stores = new Map<string, Store>();
  readonly dirs = new Map<string, string>();
  readonly log = quietLogger();
  private readonly tcp = new Map<string, TcpTransport>();
  private readonly o: ClusterOptions;

  constructor(o: ClusterOptions) {
    this.o = o;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.o.voters.map((id) => this.start(id)));
  }

  async start(id: string, o: { join?: boolean } = {}): Promise<Store> {
    let dir = this.dirs.get(id);
    if (dir === undefined) {
      dir = await this.o.newDir();
      this.dirs.set(id, dir);
    }
    const store = await Store.open({
      dir,
      nodeId: id,
      tickMs: 20,
      snapshotEntries: 1_000,
      logger: this.log,
      ...this.o.store,
      cluster: { transport: await this.transport(id), peers: this.peers.endpoint(nodeId(id)), voters: this.o.voters, ...(o.join ? { join: true } : {}) },
    });
    this.stores.set(id, store);
    return store;
  }

  /** Called with every Raft message a member receives, before the member sees it (MemoryNetwork only). */
  onDeliver: ((m: Message) => void) | undefined;

  private async transport(id: string): Promise<Transport> {
    if (!this.o.tcp) {
      const inner = this.net.endpoint(nodeId(id));
      return {
        send: (msgs) => inner.send(msgs),
        onMessage: (h) =>
          inner.onMessage((m) => {
            this.onDeliver?.(m);
            h(m);
          }),
        onUnreachable: (h) => inner.onUnreachable?.(h),
        close: () => inner.close(),
      };
    }
    const t = await TcpTransport.listen({ id: nodeId(id), listen: { host: '127.0.0.1', port: 0 }, peers: [] });
    this.tcp.set(id, t);
    for (const [other, ot] of this.tcp) {
      if (other === id) continue;
      ot.setPeer(nodeId(id), t.address());
      t.setPeer(nodeId(other), ot.address());
    }
    return t;
  }

  /** Stop a member as a crash would look to the others (its state stays on disk). */
  async stop(id: string): Promise<void> {
    const s = this.stores.get(id);
    this.stores.delete(id);
    this.peers.remove(nodeId(id));
    this.tcp.delete(id);
    await s?.close();
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.stores.keys()]) await this.stop(id);
  }

  store(id: string): Store {
    const s = this.stores.get(id);
    if (s === undefined) throw new Error(`${id} is not running`);
    return s;
  }

  /** The running member that is leader, once every running member agrees on it. */
  async leader(timeoutMs = 5_000): Promise<string> {
    let found = '';
    await waitFor(() => {
      const views = [...this.stores.values()].map((s) => s.status());
      const lead = views.find((v) => v.role === 'leader');
      if (lead === undefined || !views.every((v) => v.leader === lead.nodeId)) return false;
      found = lead.nodeId;
      return true;
    }, timeoutMs, 'a leader every running member knows');
    return found;
  }

  followers(leader: string): string[] {
    return [...this.stores.keys()].filter((id) => id !== leader);
  }

  /** Wait until every running member holds the same state; returns its digest. */
  async converged(timeoutMs = 10_000): Promise<{ appliedIndex: number; records: number; sha256: string }> {
    let last: { appliedIndex: number; records: number; sha256: string }[] = [];
    try {
      await waitFor(async () => {
        try {
          last = await Promise.all([...this.stores.values()].map((s) => s.stateDigest()));
        } catch {
          return false; // a member swapping an image in, or stopped meanwhile
        }
        return last.every((d) => d.sha256 === last[0]!.sha256);
      }, timeoutMs, 'identical state on every member');
    } catch (e) {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
    }
    return last[0]!;
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A domain and one account, created through `s`. */
export async function setupAccount(s: Store, address = 'alice@example.com'): Promise<AccountId> {
  await s.execute({ type: 'createDomain', name: address.split('@')[1]!, tenant: 'default' });
  const { accountId } = await s.execute<{ accountId: AccountId }>({ type: 'createAccount', address, passwordHash: 'h', quotaBytes: 0 });
  return accountId;
}

export function appendCmd(accountId: AccountId, blobId: string, folder = 'INBOX') {
  return { type: 'append' as const, accountId, folder, blobId, size: 100, internalDate: 1_700_000_000_000, flags: [] as string[] };
}
