// Test fixtures for the SMTP front end: a self-signed certificate, a started front end, a raw SMTP client, swaks.
// Loopback only (127.0.0.1, port 0); everything a test starts it also stops.

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AccountId } from '../../src/smtp/backend.ts';
import type { SmtpConfig } from '../../src/smtp/config.ts';
import type { SmtpPolicyHooks } from '../../src/smtp/hooks.ts';
import type { SmtpLimits } from '../../src/smtp/limits.ts';
import type { SmtpLogger } from '../../src/smtp/logger.ts';
import { SmtpFrontEnd } from '../../src/smtp/server.ts';
import { MemorySmtpBackend } from './memory-backend.ts';

export const hostname = 'mx.example.test';

export interface TestCert {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly dir: string;
  readonly keyPath: string;
  readonly certPath: string;
}

let cert: TestCert | null = null;

/** Set for a child process (fixtures/) so it reuses its parent's certificate and leaves no directory behind. */
export const certDirEnv = 'STORMO_SMTP_TEST_CERT_DIR';

/** A self-signed P-256 certificate for mx.example.test and 127.0.0.1, made once per process with openssl. */
export function testCert(): TestCert {
  if (cert !== null) return cert;
  const inherited = process.env[certDirEnv];
  if (inherited !== undefined) {
    const keyPath = join(inherited, 'key.pem');
    const certPath = join(inherited, 'cert.pem');
    cert = { key: readFileSync(keyPath), cert: readFileSync(certPath), dir: inherited, keyPath, certPath };
    return cert;
  }
  const dir = mkdtempSync(join(tmpdir(), 'stormo-smtp-cert-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${hostname}`,
    '-addext', `subjectAltName=DNS:${hostname},IP:127.0.0.1`,
  ], { stdio: 'ignore' });
  cert = { key: readFileSync(keyPath), cert: readFileSync(certPath), dir, keyPath, certPath };
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return cert;
}

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
}

export class CapturingLogger implements SmtpLogger {
  readonly entries: LogEntry[] = [];
  debug(fields: object): void {
    this.entries.push({ level: 'debug', fields: { ...fields } });
  }
  info(fields: object): void {
    this.entries.push({ level: 'info', fields: { ...fields } });
  }
  warn(fields: object): void {
    this.entries.push({ level: 'warn', fields: { ...fields } });
  }
  error(fields: object): void {
    this.entries.push({ level: 'error', fields: { ...fields } });
  }
  events(event: string): Record<string, unknown>[] {
    return this.entries.filter((e) => e.fields['event'] === event).map((e) => e.fields);
  }
}

export interface Fixture {
  readonly frontEnd: SmtpFrontEnd;
  readonly backend: MemorySmtpBackend;
  readonly logger: CapturingLogger;
  readonly ports: { readonly mx: number; readonly submission: number; readonly submissions: number };
  readonly alice: AccountId;
  readonly bob: AccountId;
  readonly carol: AccountId;
  /** A fixed clock: Received dates are predictable. */
  readonly nowMs: number;
  stop(): Promise<void>;
}

export const fixedNowMs = Date.UTC(2024, 10, 5, 9, 3, 7); // Tue, 05 Nov 2024 09:03:07 +0000

/**
 * Starts all three listeners with a directory of example.test: alice and bob (plain
 * accounts), carol (1 KiB quota), team@ (alias of alice and bob), postmaster (alice).
 */
export async function startFixture(
  opts: { limits?: Partial<SmtpLimits>; hooks?: SmtpPolicyHooks; config?: Partial<SmtpConfig>; logger?: SmtpLogger } = {},
): Promise<Fixture> {
  const backend = new MemorySmtpBackend().addDomain('example.test').addDomain('other.example.test');
  const alice = backend.addAccount({ id: 'acct-alice', username: 'alice', password: 'alice-secret', addresses: ['alice@example.test', 'a.liddell@other.example.test'] });
  const bob = backend.addAccount({ id: 'acct-bob', username: 'bob@example.test', password: 'bob-secret', addresses: ['bob@example.test'] });
  const carol = backend.addAccount({ id: 'acct-carol', username: 'carol', password: 'carol-secret', addresses: ['carol@example.test'], quotaBytes: 1024 });
  backend.addAlias('team@example.test', [alice, bob]);
  backend.addAlias('postmaster', [alice]); // RFC 5321 §4.1.1.3: the domainless postmaster
  const logger = new CapturingLogger();
  const c = testCert();
  const frontEnd = new SmtpFrontEnd(
    {
      hostname,
      tls: { key: c.key, cert: c.cert },
      listeners: { mx: { port: 0 }, submission: { port: 0 }, submissions: { port: 0 } },
      reverseDns: false,
      ...opts.config,
      limits: { authFailureDelayMs: 10, closeTimeoutMs: 200, ...opts.limits },
    },
    { backend, logger: opts.logger ?? logger, hooks: opts.hooks, clock: { nowMs: () => fixedNowMs } },
  );
  await frontEnd.start();
  const port = (kind: 'mx' | 'submission' | 'submissions'): number => frontEnd.address(kind)?.port ?? 0;
  return {
    frontEnd,
    backend,
    logger,
    ports: { mx: port('mx'), submission: port('submission'), submissions: port('submissions') },
    alice,
    bob,
    carol,
    nowMs: fixedNowMs,
    stop: () => frontEnd.stop(),
  };
}

/**
 * A deliberately dumb SMTP client: writes exactly what the test says and reads replies
 * line by line, so tests can send malformed and pipelined input.
 */
export class RawClient {
  private socket: net.Socket;
  private buffer = '';
  private waiters: (() => void)[] = [];
  private ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  static async connect(port: number, opts: { tls?: boolean; preamble?: string } = {}): Promise<RawClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = opts.tls === true
        ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s))
        : net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    if (opts.preamble !== undefined) socket.write(opts.preamble);
    return new RawClient(socket);
  }

  /** Connects and reads the greeting. */
  static async open(port: number, opts: { tls?: boolean; preamble?: string } = {}): Promise<{ client: RawClient; greeting: string }> {
    const client = await RawClient.connect(port, opts);
    return { client, greeting: await client.reply() };
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command (CRLF added) and reads its reply. */
  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** Reads one complete reply (all lines of a multi-line one), without the final CRLF. */
  async reply(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = completeReplyEnd(this.buffer);
      if (end >= 0) {
        const r = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return r;
      }
      if (this.ended) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves true if the server closes the connection within `ms` without sending anything more. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.ended;
  }

  get unread(): string {
    return this.buffer;
  }

  /** STARTTLS and the TLS handshake (the server's certificate is not checked: it is self-signed). */
  async startTls(): Promise<string> {
    const r = await this.command('STARTTLS');
    if (!r.startsWith('220')) return r;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    this.socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false, servername: hostname }, () => resolve(s));
      s.once('error', reject);
    });
    this.attach(this.socket);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }

  /** EHLO, then MAIL/RCPT each expecting 250, then DATA with `data` (which must end in CRLF); returns the final reply. */
  async send(from: string, to: readonly string[], data: string | Buffer): Promise<string> {
    for (const line of [`MAIL FROM:<${from}>`, ...to.map((t) => `RCPT TO:<${t}>`)]) {
      const r = await this.command(line);
      if (!r.startsWith('250')) return r;
    }
    const r = await this.command('DATA');
    if (!r.startsWith('354')) return r;
    this.write(data);
    this.write('.\r\n');
    return this.reply();
  }
}

/** Index of the CRLF ending the first complete reply in `buf`, or -1. */
function completeReplyEnd(buf: string): number {
  let start = 0;
  for (;;) {
    const crlf = buf.indexOf('\r\n', start);
    if (crlf < 0) return -1;
    const line = buf.slice(start, crlf);
    if (!/^\d{3}-/.test(line)) return crlf;
    start = crlf + 2;
  }
}

export interface SwaksResult {
  readonly code: number;
  readonly output: string;
}

/** Runs swaks (a real SMTP client: Debian package swaks, TLS needs libio-socket-ssl-perl). */
export function swaks(args: readonly string[]): Promise<SwaksResult> {
  return new Promise((resolve, reject) => {
    execFile('swaks', ['--server', '127.0.0.1', '--helo', 'client.example.net', '--timeout', '10', ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`swaks could not run (apt-get install swaks libio-socket-ssl-perl): ${err.message}`));
        return;
      }
      resolve({ code: err === null ? 0 : (err.code as number), output: `${stdout}${stderr}` });
    });
  });
}

/** The lines of a swaks transcript the server sent (`<-` and `<~` for TLS), without the arrows. */
export function serverLines(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => /^\s*<[-~]\*? /.test(l) || /^\s*<\*\* /.test(l))
    .map((l) => l.replace(/^\s*<[-~*]+\s/, '').trim());
}

/** Parses the stored message into [headerName, raw value] pairs of its first `n` header fields. */
export function splitMessage(content: Buffer): { head: string; body: string } {
  const s = content.toString('latin1');
  const i = s.indexOf('\r\n\r\n');
  return i < 0 ? { head: s, body: '' } : { head: s.slice(0, i + 2), body: s.slice(i + 4) };
}
