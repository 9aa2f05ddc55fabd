// The Node SMTP load generator of bench/smtp.ts, used when Postfix's smtp-source is not installed.
// Mirrors smtp-source's workload (bench/smtp.ts uses smtp-source when it can); it measures, never asserts.
//
// Workload, as shared/baseline/smtp-bench.sh runs smtp-source: `sessions` parallel slots; slot s sends
// msgs/users messages to each of users s+1, s+1+sessions, ... in turn, ONE MESSAGE PER CONNECTION
// (connect, HELO, MAIL, RCPT, DATA, QUIT; no pipelining, no connection reuse), so there are always
// `sessions` concurrent SMTP connections. The message is what `smtp-source -l SIZE` sends: From, To,
// Date and Message-Id headers, then SIZE bytes of 80-octet lines.

import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoadOptions {
  readonly host: string;
  readonly port: number;
  /** Body bytes after the headers, as smtp-source -l. */
  readonly sizeBytes: number;
  /** Messages in all; a multiple of `users` (the caller rounds). */
  readonly msgs: number;
  readonly sessions: number;
  /** Recipients user1..userN@domain. */
  readonly users: number;
  readonly domain: string;
  /** One SMTP exchange (connect to QUIT) taking longer than this counts as failed. */
  readonly connectionTimeoutMs: number;
}

export interface LoadResult {
  /** Wall time from the first connect to the last reply, seconds. */
  readonly seconds: number;
  /** Messages answered 250 after DATA. */
  readonly accepted: number;
  readonly failed: number;
  /** The first few distinct failures, for the report. */
  readonly errors: readonly string[];
}

interface Reply {
  readonly code: number;
  readonly text: string;
}

/** Replies of one SMTP connection, read line by line (RFC 5321 §4.2: `NNN-` continues, `NNN ` ends). */
class ReplyReader {
  private buffered = '';
  private lines: string[] = [];
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        this.lines.push(this.buffered.slice(0, nl).replace(/\r$/, ''));
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.wake();
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  fail(e: Error): void {
    this.failure ??= e;
    this.wake();
  }

  async next(): Promise<Reply> {
    const text: string[] = [];
    for (;;) {
      const line = this.lines.shift();
      if (line === undefined) {
        if (this.failure) throw this.failure;
        await new Promise<void>((r) => (this.waiter = r));
        continue;
      }
      text.push(line.slice(4));
      if (line[3] !== '-') return { code: Number(line.slice(0, 3)), text: text.join(' ') };
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

/** The message smtp-source -l SIZE sends, CRLF line endings, no line starting with a dot. */
export function smtpSourceMessage(from: string, to: string, sizeBytes: number, seq: number): Buffer {
  const head = `From: <${from}>\r\nTo: <${to}>\r\nDate: ${new Date().toUTCString()}\r\nMessage-Id: <${seq}.bench@client.test>\r\n\r\n`;
  const body = Buffer.alloc(sizeBytes, 'X');
  for (let i = 80; i <= sizeBytes; i += 80) {
    body[i - 80] = 0x30 + ((i / 80) % 10);
    body[i - 2] = 0x0d;
    body[i - 1] = 0x0a;
  }
  const tail = sizeBytes % 80;
  if (tail >= 2) body.write('\r\n', sizeBytes - 2, 'latin1');
  return Buffer.concat([Buffer.from(head, 'latin1'), body, Buffer.from(tail === 1 ? '\r\n.\r\n' : '.\r\n', 'latin1')]);
}

async function expect(r: ReplyReader, code: number, step: string): Promise<void> {
  const reply = await r.next();
  if (reply.code !== code) throw new Error(`${step}: ${reply.code} ${reply.text}`);
}

/** One connection, one message: resolves when the server answered 250 after the final dot, throws otherwise. */
async function sendOne(o: LoadOptions, to: string, seq: number): Promise<void> {
  const from = `sender@${o.domain}`;
  const data = smtpSourceMessage(from, to, o.sizeBytes, seq);
  const socket = connect({ host: o.host, port: o.port, noDelay: true });
  const r = new ReplyReader(socket);
  const timer = setTimeout(() => r.fail(new Error(`no answer within ${o.connectionTimeoutMs} ms`)), o.connectionTimeoutMs);
  try {
    await expect(r, 220, 'greeting');
    socket.write('HELO client.test\r\n');
    await expect(r, 250, 'HELO');
    socket.write(`MAIL FROM:<${from}>\r\n`);
    await expect(r, 250, 'MAIL');
    socket.write(`RCPT TO:<${to}>\r\n`);
    await expect(r, 250, 'RCPT');
    socket.write('DATA\r\n');
    await expect(r, 354, 'DATA');
    socket.write(data);
    await expect(r, 250, 'end of data');
    socket.write('QUIT\r\n');
    await r.next().catch(() => undefined); // the message is stored; a lost 221 does not matter
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

export async function runSmtpLoad(o: LoadOptions): Promise<LoadResult> {
  const perUser = Math.floor(o.msgs / o.users);
  let accepted = 0;
  let failed = 0;
  let seq = 0;
  const errors = new Set<string>();
  const slot = async (s: number): Promise<void> => {
    for (let u = s + 1; u <= o.users; u += o.sessions) {
      for (let i = 0; i < perUser; i++) {
        try {
          await sendOne(o, `user${u}@${o.domain}`, seq++);
          accepted++;
        } catch (e) {
          failed++;
          if (errors.size < 5) errors.add((e as Error).message);
        }
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.sessions }, (_, s) => slot(s)));
  return { seconds: (performance.now() - t0) / 1000, accepted, failed, errors: [...errors] };
}
