// An in-memory SmtpBackend: directory, quota and message store held in maps, with switches to inject failures.
// A full implementation of the contract in src/smtp/backend.ts for tests; no durability, no replication.

import { createHash, timingSafeEqual } from 'node:crypto';
import {
  accountId,
  type AccountId,
  type DeliveryRequest,
  type DeliveryResult,
  type Disposition,
  type Principal,
  type RecipientContext,
  type RecipientVerdict,
  type SmtpBackend,
  type SmtpCallContext,
} from '../../src/smtp/backend.ts';
import { SmtpBackendError } from '../../src/smtp/errors.ts';

export interface MemoryAccount {
  readonly id: AccountId;
  readonly username: string;
  readonly password: string;
  /** Addresses delivered to this account and usable as its sender, lower case. */
  readonly addresses: readonly string[];
  /** null: unlimited. */
  quotaBytes: number | null;
  usedBytes: number;
}

export interface StoredMessage {
  readonly id: string;
  readonly storedId: string;
  readonly accountId: AccountId;
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly content: Buffer;
  readonly disposition: Disposition;
  readonly principal: Principal | null;
}

export class MemorySmtpBackend implements SmtpBackend {
  readonly domains = new Set<string>();
  readonly accounts = new Map<AccountId, MemoryAccount>();
  readonly messages: StoredMessage[] = [];
  private readonly byAddress = new Map<string, AccountId>();
  private readonly aliases = new Map<string, AccountId[]>();

  /** Next deliver() calls throw STORAGE_FULL while this is above 0 (decremented per call). */
  storageFullCalls = 0;
  /** Every call throws UNAVAILABLE while true. */
  unavailable = false;
  /** When set, deliver() waits for it before storing (a slow or dying store). */
  deliverGate: Promise<void> | null = null;
  /** Called when deliver() starts (tests wait for it). */
  onDeliverStart: (() => void) | null = null;
  readonly calls: { method: string; ctx: SmtpCallContext }[] = [];

  addDomain(domain: string): this {
    this.domains.add(domain.toLowerCase());
    return this;
  }

  addAccount(a: { id: string; username: string; password: string; addresses: readonly string[]; quotaBytes?: number | null }): AccountId {
    const id = accountId(a.id);
    const addresses = a.addresses.map((x) => x.toLowerCase());
    this.accounts.set(id, { id, username: a.username, password: a.password, addresses, quotaBytes: a.quotaBytes ?? null, usedBytes: 0 });
    for (const x of addresses) this.byAddress.set(x, id);
    return id;
  }

  addAlias(address: string, targets: readonly AccountId[]): void {
    this.aliases.set(address.toLowerCase(), [...targets]);
  }

  messagesFor(id: AccountId): StoredMessage[] {
    return this.messages.filter((m) => m.accountId === id);
  }

  async isLocalDomain(domain: string, ctx: SmtpCallContext): Promise<boolean> {
    this.enter('isLocalDomain', ctx);
    return this.domains.has(domain.toLowerCase());
  }

  async resolveRecipient(address: string, ctx: RecipientContext): Promise<RecipientVerdict> {
    this.enter('resolveRecipient', ctx);
    const key = address.toLowerCase();
    const alias = this.aliases.get(key);
    if (alias !== undefined) return { kind: 'alias', accountIds: alias };
    const id = this.byAddress.get(key);
    if (id === undefined) return { kind: 'unknown' };
    const account = this.mustAccount(id);
    if (account.quotaBytes !== null) {
      const incoming = ctx.declaredSizeBytes ?? 0;
      if (account.usedBytes >= account.quotaBytes || account.usedBytes + incoming > account.quotaBytes) return { kind: 'over-quota', accountId: id };
    }
    return { kind: 'account', accountId: id };
  }

  async authenticate(username: string, password: string, ctx: SmtpCallContext): Promise<Principal | null> {
    this.enter('authenticate', ctx);
    for (const a of this.accounts.values()) {
      if (a.username !== username) continue;
      const given = createHash('sha256').update(password).digest();
      const want = createHash('sha256').update(a.password).digest();
      return timingSafeEqual(given, want) ? { accountId: a.id, username: a.username } : null;
    }
    return null;
  }

  async senderAllowed(principal: Principal, mailFrom: string, ctx: SmtpCallContext): Promise<boolean> {
    this.enter('senderAllowed', ctx);
    if (mailFrom === '') return true; // as Postfix's reject_sender_login_mismatch: the null sender is not checked
    return this.mustAccount(principal.accountId).addresses.includes(mailFrom.toLowerCase());
  }

  async deliver(request: DeliveryRequest, ctx: SmtpCallContext): Promise<DeliveryResult> {
    this.enter('deliver', ctx);
    this.onDeliverStart?.();
    const parts: Buffer[] = [];
    for await (const chunk of request.body) parts.push(Buffer.from(chunk));
    const content = Buffer.concat(parts);
    if (content.length !== request.sizeBytes) throw new Error(`memory backend: size ${content.length} != declared ${request.sizeBytes}`);
    if (this.deliverGate !== null) await this.deliverGate;
    if (this.storageFullCalls > 0) {
      this.storageFullCalls--;
      throw new SmtpBackendError('STORAGE_FULL', 'memory backend: storage full (injected)');
    }
    const targets = [...new Set(request.recipients.flatMap((r) => r.accountIds))].map((id) => this.mustAccount(id));
    if (request.enforceQuota) {
      const over = targets.filter((a) => a.quotaBytes !== null && a.usedBytes + content.length > a.quotaBytes).map((a) => a.id);
      if (over.length > 0) throw new SmtpBackendError('QUOTA_EXCEEDED', 'memory backend: over quota', { overQuota: over });
    }
    const storedId = createHash('sha256').update(content).digest('hex');
    const recipients = request.recipients.map((r) => r.address);
    for (const a of targets) {
      a.usedBytes += content.length;
      this.messages.push({ id: request.id, storedId, accountId: a.id, mailFrom: request.mailFrom, recipients, content, disposition: request.disposition, principal: request.principal });
    }
    return { storedId };
  }

  private enter(method: string, ctx: SmtpCallContext): void {
    this.calls.push({ method, ctx });
    if (this.unavailable) throw new SmtpBackendError('UNAVAILABLE', `memory backend: ${method} unavailable (injected)`);
  }

  private mustAccount(id: AccountId): MemoryAccount {
    const a = this.accounts.get(id);
    if (a === undefined) throw new Error(`memory backend: no account ${id}`);
    return a;
  }
}
