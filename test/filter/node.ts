// Test fixtures for the washer: a node built in-process as src/cli/up.ts builds it (store, blobs, SMTP) with the washer's hooks,
// a DNS zone with SPF/DKIM/DMARC/DNSBL/PTR records, DKIM-signed messages, and where a message landed.

import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { dkimSign } from 'mailauth';
import { BlobStore } from '../../src/blob/index.ts';
import { createWasher, filterSettingKey, type Washer } from '../../src/filter/index.ts';
import { SmtpFrontEnd } from '../../src/smtp/index.ts';
import { storeSmtpBackend } from '../../src/smtp/store-backend.ts';
import { defaultTenant, Store, type AccountId, type FolderId, type Uid } from '../../src/store/index.ts';
import { hashPassword } from '../../src/store/password.ts';
import { CapturingLogger, testCert } from '../smtp/helpers.ts';
import { RawSmtpClient, type Reply } from '../node/fixtures/smtp-client.ts';
import type { DnsZone } from './daemons.ts';

export const heloName = 'mail.sender.test';

/** An RSA key pair for DKIM, and its DNS record value. */
export function dkimKey(): { privateKey: string; record: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=rsa; p=${p}` };
}

/**
 * The test world's DNS: sender.test publishes SPF for 127.0.0.1, a DKIM key and DMARC p=reject;
 * bank.test publishes SPF for another address and DMARC p=reject (spoofing it fails);
 * 127.0.0.1 is listed in bl.test and has forward-confirmed reverse DNS mail.sender.test.
 */
export function testZone(dkimRecord: string): DnsZone {
  return {
    localDomains: ['test', 'in-addr.arpa'],
    txt: {
      'sender.test': 'v=spf1 ip4:127.0.0.1 -all',
      'sel._domainkey.sender.test': dkimRecord,
      '_dmarc.sender.test': 'v=DMARC1; p=reject; adkim=r; aspf=r',
      'bank.test': 'v=spf1 ip4:192.0.2.1 -all',
      '_dmarc.bank.test': 'v=DMARC1; p=reject',
      'soft.test': 'v=spf1 ip4:192.0.2.1 -all',
      '_dmarc.soft.test': 'v=DMARC1; p=quarantine',
    },
    a: { '1.0.0.127.bl.test': '127.0.0.2', [heloName]: '127.0.0.1' },
    ptr: { '127.0.0.1': heloName },
  };
}

export async function signed(message: string, privateKey: string): Promise<Buffer> {
  // mailauth signs only what signatureData lists (top-level key options alone produce no signature).
  const r = await dkimSign(message, { signatureData: [{ signingDomain: 'sender.test', selector: 'sel', privateKey, canonicalization: 'relaxed/relaxed' }] } as Parameters<typeof dkimSign>[1]);
  if (r.errors.length > 0 || r.signatures === '') throw new Error(`dkim sign: ${JSON.stringify(r.errors)}`);
  return Buffer.from(r.signatures + message, 'latin1');
}

let counter = 0;

/** A plain, well-formed message (Date, Message-ID) with `body` and a unique X-Token header. */
export function message(o: { from: string; to: string; subject: string; body: string; extraHeaders?: string }): { text: string; token: string } {
  const token = `tok-${process.pid}-${++counter}-${Date.now()}`;
  const text = [
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Subject: ${o.subject}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${token}@sender.test>`,
    `X-Token: ${token}`,
    'MIME-Version: 1.0',
    ...(o.extraHeaders ? [o.extraHeaders] : []),
    'Content-Type: text/plain; charset=us-ascii',
    '',
    o.body,
    '',
  ].join('\r\n');
  return { text, token };
}

/** A header block with folded lines joined (RFC 5322 §2.2.3), for matching one field whole. */
export function unfold(text: string): string {
  return text.replace(/\r\n[ \t]+/g, ' ');
}

export interface Landed {
  readonly folder: string;
  readonly body: string;
  readonly filter: Readonly<Record<string, unknown>> | undefined;
}

export interface WasherNode {
  readonly store: Store;
  readonly port: number;
  /** The submission listener's port, when NodeSpec.submission asked for it. */
  readonly submissionPort: number | null;
  readonly washer: Washer;
  readonly logger: CapturingLogger;
  /** Where the message with `token` is stored for `address` (every folder), or [] when nowhere. */
  landed(address: string, token: string): Promise<Landed[]>;
  /** EHLO, MAIL, RCPT..., DATA on a fresh connection; the first refusal or the final reply. */
  send(from: string, to: readonly string[], data: Buffer | string): Promise<{ stage: string; reply: Reply }>;
  stop(): Promise<void>;
}

export interface NodeSpec {
  readonly filter: unknown;
  /** Hosted domains and their `filter` setting (undefined: none). */
  readonly domains: Readonly<Record<string, unknown>>;
  /** Accounts and their `filter` setting. */
  readonly users: Readonly<Record<string, unknown>>;
  /** Also run the submission listener (587, STARTTLS + AUTH); every account's password is then `userPassword`. */
  readonly submission?: boolean;
}

export const userPassword = 'washer-test-secret';

export async function startWasherNode(dir: string, spec: NodeSpec): Promise<WasherNode> {
  const store = await Store.open({ dir, nodeId: 'n1' });
  try {
    return await assemble(dir, store, spec);
  } catch (e) {
    await store.close(); // a failed start leaves nothing running
    throw e;
  }
}

async function assemble(dir: string, store: Store, spec: NodeSpec): Promise<WasherNode> {
  const blobs = await BlobStore.open(join(dir, 'blobs'));
  for (const [name, setting] of Object.entries(spec.domains)) {
    await store.execute({ type: 'createDomain', name, tenant: defaultTenant });
    if (setting !== undefined) await store.execute({ type: 'setDomainSetting', name, key: filterSettingKey, value: setting });
  }
  for (const [address, setting] of Object.entries(spec.users)) {
    const passwordHash = spec.submission ? await hashPassword(userPassword) : 'x';
    await store.execute({ type: 'createAccount', address, passwordHash, quotaBytes: 0 });
    if (setting !== undefined) await store.execute({ type: 'setAccountSetting', address, key: filterSettingKey, value: setting });
  }
  const logger = new CapturingLogger();
  const hostname = 'mx.stormo.test';
  const washer = createWasher(spec.filter, { settings: store.queries, logger, hostname, smtpBackendCallTimeoutMs: 30_000 });
  const cert = spec.submission ? testCert() : null;
  const smtp = new SmtpFrontEnd(
    {
      hostname,
      listeners: { mx: { port: 0 }, ...(spec.submission ? { submission: { port: 0 } } : {}) },
      ...(cert ? { tls: { key: cert.key, cert: cert.cert } } : {}),
      reverseDns: false,
    },
    { backend: storeSmtpBackend(store, blobs, { diskReserveBytes: 0 }), logger, hooks: washer },
  );
  const listeners = await smtp.start();
  const bound = listeners.find((l) => l.kind === 'mx');
  if (bound === undefined) throw new Error('no listener');
  return {
    store,
    port: bound.port,
    submissionPort: listeners.find((l) => l.kind === 'submission')?.port ?? null,
    washer,
    logger,
    async landed(address, token) {
      const q = store.queries;
      const account = await q.accountByAddress(address);
      if (account === undefined) throw new Error(`no account ${address}`);
      const out: Landed[] = [];
      for (const folder of await q.folders(account.id, 100)) {
        for (const m of await q.messages(account.id as AccountId, folder.id as FolderId, 10_000)) {
          const body = Buffer.from(await blobs.get(m.blobId)).toString('latin1');
          if (!body.includes(`X-Token: ${token}\r\n`)) continue;
          const extras = await q.messageExtras(account.id, folder.id, m.uid as Uid);
          out.push({ folder: folder.name, body, filter: extras?.filter });
        }
      }
      return out;
    },
    async send(from, to, data) {
      const { client } = await RawSmtpClient.connect(bound.port, { timeoutMs: 40_000 });
      try {
        const ehlo = await client.command(`EHLO ${heloName}`);
        if (ehlo.code !== 250) return { stage: 'ehlo', reply: ehlo };
        return await client.send(from, to, Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1'));
      } finally {
        await client.quit();
      }
    },
    async stop() {
      await smtp.stop();
      await store.close();
    },
  };
}

/** The reply as one line: `554 5.7.1 text`. */
export function replyLine(r: Reply): string {
  return r.lines.join(' | ');
}
