// An in-memory Pop3Backend for tests: accounts, per-session INBOX snapshots, atomic commit by uidl.
// Implements the whole contract, records every misuse by the server in `violations`, and can inject failures.

import { type AccountHandle, type AuthRefusal, type AuthResult, type Maildrop, type MaildropMessage, type Pop3Backend, Pop3BackendError, type SessionContext } from '../../../src/pop3/backend.ts';

export interface StoredMessage {
  readonly uidl: string;
  readonly bytes: Uint8Array;
}

interface Account {
  readonly accountId: string;
  readonly password: string;
  inbox: StoredMessage[];
}

export interface Faults {
  /** Every authenticate() answers this refusal (after checking nothing). */
  authRefusal?: AuthRefusal;
  /** authenticate() throws. */
  authThrows?: boolean;
  /** openMaildrop() throws this. */
  openError?: Error;
  /** commit() rejects (and removes nothing). */
  commitFails?: boolean;
  /** read() fails before its first chunk, or after its first chunk. */
  readFails?: 'first' | 'midway';
  /** The snapshot reports this uidl for message 1 (to test contract checks). */
  badUidl?: string;
}

const enc = new TextEncoder();

export class MemoryBackend implements Pop3Backend {
  private readonly accounts = new Map<string, Account>();
  private nextUid = 1;
  /** Octets per chunk that read() yields: small, so that every chunk boundary case is exercised. */
  chunkBytes = 7;
  faults: Faults = {};
  readonly violations: string[] = [];
  readonly sessions: SessionContext[] = [];
  readonly commits: string[][] = [];
  openMaildrops = 0;
  chunksRead = 0;

  addAccount(user: string, password: string, messages: readonly (string | Uint8Array | StoredMessage)[] = []): void {
    this.accounts.set(user, { accountId: `acct-${user}`, password, inbox: [] });
    for (const m of messages) this.deliver(user, m);
  }

  deliver(user: string, m: string | Uint8Array | StoredMessage): void {
    const account = this.account(user);
    const stored: StoredMessage = typeof m === 'string' ? { uidl: `uid-${this.nextUid++}`, bytes: enc.encode(m) } : m instanceof Uint8Array ? { uidl: `uid-${this.nextUid++}`, bytes: m } : m;
    account.inbox.push(stored);
  }

  inbox(user: string): readonly StoredMessage[] {
    return this.account(user).inbox;
  }

  private account(user: string): Account {
    const a = this.accounts.get(user);
    if (a === undefined) throw new Error(`test: no account ${user}`);
    return a;
  }

  async authenticate(user: string, password: string, ctx: SessionContext): Promise<AuthResult> {
    this.sessions.push(ctx);
    await Promise.resolve();
    if (this.faults.authThrows === true) throw new Error('directory unreachable');
    if (this.faults.authRefusal !== undefined) return { ok: false, refusal: this.faults.authRefusal };
    const a = this.accounts.get(user);
    if (a === undefined || a.password !== password) return { ok: false, refusal: 'CREDENTIALS' };
    return { ok: true, account: { accountId: a.accountId } };
  }

  async openMaildrop(account: AccountHandle, _ctx: SessionContext): Promise<Maildrop> {
    await Promise.resolve();
    if (this.faults.openError !== undefined) throw this.faults.openError;
    const a = [...this.accounts.values()].find((x) => x.accountId === account.accountId);
    if (a === undefined) throw new Pop3BackendError('PERMANENT', `no account ${account.accountId}`);
    this.openMaildrops++;
    return new MemoryMaildrop(this, a, a.inbox.slice());
  }

  /** Called by MemoryMaildrop: remove all of `uidls` from the live INBOX at once. */
  applyCommit(account: Account, uidls: readonly string[]): void {
    const gone = new Set(uidls);
    account.inbox = account.inbox.filter((m) => !gone.has(m.uidl));
    this.commits.push([...uidls]);
  }
}

class MemoryMaildrop implements Maildrop {
  private readonly backend: MemoryBackend;
  private readonly account: Account;
  private readonly snapshot: readonly StoredMessage[];
  private readonly list: readonly MaildropMessage[];
  private committed = false;
  private closed = false;
  private reading = false;

  constructor(backend: MemoryBackend, account: Account, snapshot: readonly StoredMessage[]) {
    this.backend = backend;
    this.account = account;
    this.snapshot = snapshot;
    this.list = snapshot.map((m, i) => ({ uidl: i === 0 && backend.faults.badUidl !== undefined ? backend.faults.badUidl : m.uidl, size: m.bytes.length }));
  }

  private violation(what: string): void {
    this.backend.violations.push(what);
  }

  messages(): readonly MaildropMessage[] {
    if (this.closed) this.violation('messages() after close()');
    return this.list;
  }

  async *read(index: number): AsyncGenerator<Uint8Array> {
    if (this.closed) this.violation('read() after close()');
    if (this.reading) this.violation('two read() at once');
    const m = this.snapshot[index];
    if (m === undefined) {
      this.violation(`read(${index}) outside the snapshot`);
      throw new RangeError(`no message at ${index}`);
    }
    this.reading = true;
    try {
      if (this.backend.faults.readFails === 'first') throw new Error('blob unavailable');
      for (let at = 0; at < m.bytes.length; at += this.backend.chunkBytes) {
        await Promise.resolve();
        if (this.backend.faults.readFails === 'midway' && at > 0) throw new Error('blob replica lost mid-read');
        this.backend.chunksRead++;
        yield m.bytes.subarray(at, at + this.backend.chunkBytes);
      }
    } finally {
      this.reading = false;
    }
  }

  async commit(deletedUidls: readonly string[]): Promise<void> {
    if (this.closed) this.violation('commit() after close()');
    if (this.committed) this.violation('commit() twice');
    if (deletedUidls.length === 0) this.violation('commit() with nothing to delete');
    this.committed = true;
    await Promise.resolve();
    if (this.backend.faults.commitFails === true) throw new Error('no quorum');
    this.backend.applyCommit(this.account, deletedUidls);
  }

  async close(): Promise<void> {
    if (this.closed) this.violation('close() twice');
    this.closed = true;
    this.backend.openMaildrops--;
  }
}
