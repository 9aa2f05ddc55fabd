// The chaos workload: SMTP deliveries and IMAP sessions that read and flag messages, recording what
// each client was told; and the final reader that lists what a node stores. Loopback only, bounded.

import { createHash } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawSmtpClient } from '../test/node/fixtures/smtp-client.ts';
import type { AccountView, Delivery, FlagAck, NodeView, StoredMessage, UidObservation } from './checker.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export const workloadLimits = {
  /** One SMTP transaction or IMAP command: longer counts as a failure (the node may be paused). */
  clientTimeoutMs: 8_000,
  /** Pause after a failed attempt before the next one. */
  retryPauseMs: 100,
  /** Messages an IMAP session looks at per round. */
  imapFetchWindow: 20,
} as const;

export function parseHostPort(s: string): HostPort {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

/** What a run's clients were told, shared by all workers. */
export class History {
  readonly deliveries: Delivery[] = [];
  readonly flagAcks: FlagAck[] = [];
  readonly observations: UidObservation[] = [];
  smtpFailures = 0;
  imapFailures = 0;
}

const idHeader = 'X-Chaos-Id: ';

export function chaosMessage(id: string, account: string, bytes: number): Buffer {
  const head = `${idHeader}${id}\r\nFrom: chaos@example.net\r\nTo: ${account}\r\nSubject: chaos ${id}\r\nMessage-ID: <${id}@chaos.example.net>\r\n\r\n`;
  const line = `${id} `.repeat(12).slice(0, 70) + '\r\n';
  return Buffer.from(head + line.repeat(Math.max(1, Math.ceil(bytes / line.length))));
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The bytes a client sent: what follows the node's trace headers, from our first header on. */
export function clientPart(stored: Buffer): Buffer | null {
  const at = stored.indexOf(`\r\n${idHeader}`);
  if (stored.subarray(0, idHeader.length).toString('latin1') === idHeader) return stored;
  return at < 0 ? null : stored.subarray(at + 2);
}

/** `count` loops, each delivering one message per connection to a random account until `stop`. */
export async function smtpWorkload(o: {
  targets: () => HostPort;
  accounts: readonly string[];
  workers: number;
  messageBytes: number;
  history: History;
  random: () => number;
  stop: AbortSignal;
  now: () => number;
}): Promise<void> {
  let seq = 0;
  const worker = async (w: number): Promise<void> => {
    while (!o.stop.aborted) {
      const id = `w${w}-${seq++}`;
      const account = o.accounts[Math.floor(o.random() * o.accounts.length)]!;
      const msg = chaosMessage(id, account, o.messageBytes);
      const startMs = o.now();
      let ackMs: number | null = null;
      try {
        const t = o.targets();
        const { client, greeting } = await RawSmtpClient.connect(t.port, { host: t.host, timeoutMs: workloadLimits.clientTimeoutMs });
        try {
          if (greeting.code === 220 && (await client.command('EHLO chaos.example.net')).code === 250) {
            const r = await client.send('chaos@example.net', [account], msg);
            if (r.stage === 'data' && r.reply.code === 250) ackMs = o.now();
          }
        } finally {
          void client.quit();
        }
      } catch {
        // no 250: the message may or may not be stored; it is not counted as acknowledged
      }
      o.history.deliveries.push({ id, account, sha256: sha256(msg), startMs, ackMs });
      if (ackMs === null) {
        o.history.smtpFailures++;
        await sleep(workloadLimits.retryPauseMs);
      }
    }
  };
  await Promise.all(Array.from({ length: o.workers }, (_, w) => worker(w)));
}

function imapClient(t: HostPort, user: string, password: string): ImapFlow {
  return new ImapFlow({
    host: t.host,
    port: t.port,
    secure: false,
    doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user, pass: password },
    logger: false,
    connectionTimeout: workloadLimits.clientTimeoutMs,
    greetingTimeout: workloadLimits.clientTimeoutMs,
    socketTimeout: workloadLimits.clientTimeoutMs,
  });
}

/** IMAP sessions that read recent messages and set a fresh keyword on one per round. */
export async function imapWorkload(o: {
  targets: () => HostPort;
  accounts: readonly string[];
  password: string;
  sessions: number;
  history: History;
  random: () => number;
  stop: AbortSignal;
}): Promise<void> {
  let keywordSeq = 0;
  const session = async (): Promise<void> => {
    while (!o.stop.aborted) {
      const account = o.accounts[Math.floor(o.random() * o.accounts.length)]!;
      const client = imapClient(o.targets(), account, o.password);
      client.on('error', () => {});
      try {
        await client.connect();
        for (let round = 0; round < 5 && !o.stop.aborted; round++) await imapRound(client, account, () => `$c${keywordSeq++}`, o);
        await client.logout();
      } catch {
        o.history.imapFailures++;
        client.close();
        await sleep(workloadLimits.retryPauseMs);
      }
    }
  };
  await Promise.all(Array.from({ length: o.sessions }, () => session()));
}

async function imapRound(client: ImapFlow, account: string, keyword: () => string, o: { history: History; random: () => number }): Promise<void> {
  const lock = await client.getMailboxLock('INBOX');
  try {
    const box = client.mailbox;
    if (!box || box.exists === 0) return;
    const from = Math.max(1, box.exists - workloadLimits.imapFetchWindow + 1);
    const seen: { uid: number; id: string }[] = [];
    for (const m of await client.fetchAll(`${from}:*`, { uid: true, headers: ['x-chaos-id'] })) {
      const id = /X-Chaos-Id:\s*(\S+)/i.exec(m.headers?.toString('latin1') ?? '')?.[1];
      if (id === undefined) continue;
      seen.push({ uid: m.uid, id });
      o.history.observations.push({ account, uidValidity: Number(box.uidValidity), id, uid: m.uid });
    }
    const pick = seen[Math.floor(o.random() * seen.length)];
    if (pick === undefined) return;
    const k = keyword();
    if (await client.messageFlagsAdd(String(pick.uid), [k], { uid: true })) o.history.flagAcks.push({ account, id: pick.id, keyword: k });
  } finally {
    lock.release();
  }
}

/** Everything one node stores in each account's INBOX, read over IMAP directly from that node. */
export async function readView(node: string, t: HostPort, accounts: readonly string[], password: string): Promise<NodeView> {
  const out = new Map<string, AccountView>();
  for (const account of accounts) {
    const client = imapClient(t, account, password);
    client.on('error', () => {});
    await client.connect();
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        const messages: StoredMessage[] = [];
        if ((client.mailbox && client.mailbox.exists) || 0) {
          for (const m of await client.fetchAll('1:*', { uid: true, flags: true, source: true })) {
            const part = m.source ? clientPart(m.source) : null;
            const id = part ? /^X-Chaos-Id: (\S+)/.exec(part.toString('latin1'))?.[1] ?? null : null;
            messages.push({ id, uid: m.uid, sha256: part ? sha256(part) : null, flags: [...(m.flags ?? [])], ...(m.source ? { blobId: sha256(m.source) } : {}) });
          }
        }
        out.set(account, { uidValidity: Number(client.mailbox ? client.mailbox.uidValidity : 0), messages });
      } finally {
        lock.release();
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
  }
  return { node, accounts: out };
}
