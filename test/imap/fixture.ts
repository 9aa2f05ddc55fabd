// Test fixture for the IMAP server: a real Store, BlobStore and ImapServer on 127.0.0.1 ephemeral ports in a
// temp dir, one account (alice@example.com / secret), and a way to deliver messages like SMTP does.
// Other test files (mbsync, imaplib, curl, fuzz, concurrency, bench) start the server through startImap().

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../../src/blob/index.ts';
import { type ImapHooks, ImapServer, type ImapServerConfig, summaryExtras } from '../../src/imap/index.ts';
import type { Logger } from '../../src/net/logger.ts';
import type { Timers } from '../../src/net/timers.ts';
import { type AccountId, type AppendResult, Store } from '../../src/store/index.ts';
import { hashPassword } from '../../src/store/password.ts';
import { testTls } from '../pop3/helpers/harness.ts';

export interface ImapFixture {
  readonly dir: string;
  readonly store: Store;
  readonly blobs: BlobStore;
  readonly server: ImapServer;
  /** Plain listener (STARTTLS offered; LOGIN allowed without TLS unless `config.allowPlaintextAuth` is false). */
  readonly port: number;
  /** Implicit TLS listener; the certificate is testTls().cert (CN localhost, IP 127.0.0.1). */
  readonly tlsPort: number;
  readonly accountId: AccountId;
  readonly user: string;
  readonly password: string;
  /** Stores a message as a delivery would (blob, MIME summary, append): INBOX unless told. */
  deliver(message: string | Buffer, o?: { folder?: string; flags?: string[]; internalDate?: number; accountId?: AccountId }): Promise<AppendResult>;
  /** Another account in the same domain. */
  createAccount(address: string, password: string): Promise<AccountId>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  readonly config?: Partial<ImapServerConfig>;
  readonly hooks?: ImapHooks;
  readonly logger?: Logger;
  /** Clock and timers (tests drive idle timeouts with their own). */
  readonly timers?: Timers;
  /** Account quota in bytes; 0 = unlimited. */
  readonly quotaBytes?: number;
}

export async function startImap(o: FixtureOptions = {}): Promise<ImapFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-imap-'));
  const store = await Store.open({ dir, nodeId: 'n1' });
  const blobs = await BlobStore.open(join(dir, 'blobs'));
  const cert = testTls();
  const server = new ImapServer({
    config: {
      plain: { host: '127.0.0.1', port: 0 },
      implicitTls: { host: '127.0.0.1', port: 0 },
      tls: { key: cert.key, cert: cert.cert },
      allowPlaintextAuth: true,
      authFailureDelayMs: 0,
      ...o.config,
    },
    store,
    blobs,
    ...(o.hooks ? { hooks: o.hooks } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.timers ? { timers: o.timers } : {}),
  });
  const addresses = await server.listen();
  await store.execute({ type: 'createDomain', name: 'example.com', tenant: 'default' });
  const createAccount = async (address: string, password: string): Promise<AccountId> => {
    const r = await store.execute<{ accountId: AccountId }>({ type: 'createAccount', address, passwordHash: await hashPassword(password), quotaBytes: o.quotaBytes ?? 0 });
    return r.accountId;
  };
  const accountId = await createAccount('alice@example.com', 'secret');
  return {
    dir,
    store,
    blobs,
    server,
    port: addresses.plain?.port ?? 0,
    tlsPort: addresses.implicitTls?.port ?? 0,
    accountId,
    user: 'alice@example.com',
    password: 'secret',
    async deliver(message, d = {}) {
      const bytes = typeof message === 'string' ? Buffer.from(message.replace(/\r?\n/g, '\r\n')) : message;
      const { id: blobId } = await blobs.put(bytes);
      const extras = summaryExtras(bytes);
      return store.execute<AppendResult>({
        type: 'append', accountId: d.accountId ?? accountId, folder: d.folder ?? 'INBOX', blobId, size: bytes.length,
        internalDate: d.internalDate ?? Date.now(), flags: d.flags ?? [], ignoreQuota: true, ...(extras ? { extras } : {}),
      });
    },
    createAccount,
    async close() {
      await server.close();
      await store.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
