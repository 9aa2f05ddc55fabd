// Test harness for the POP3 server: a server on 127.0.0.1 port 0 over a MemoryBackend, a capturing logger,
// a self-signed certificate made once per process with openssl, and a line-oriented client with timeouts.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { LogFields, Logger } from '../../../src/net/logger.ts';
import { proxyV2Signature } from '../../../src/net/proxy-protocol.ts';
import type { Timer, Timers } from '../../../src/net/timers.ts';
import type { Pop3ServerConfig } from '../../../src/pop3/config.ts';
import { Pop3Server } from '../../../src/pop3/server.ts';
import { MemoryBackend } from './memory-backend.ts';

// ---- certificate ----

export interface TlsFixture {
  readonly key: string;
  readonly cert: string;
  /** PEM file path, for curl --cacert and Python's ssl. */
  readonly certPath: string;
}

let tlsFixture: TlsFixture | undefined;

/** A P-256 self-signed certificate for 127.0.0.1 and localhost, valid 2 days. */
export function testTls(): TlsFixture {
  if (tlsFixture !== undefined) return tlsFixture;
  const dir = mkdtempSync(join(tmpdir(), 'stormo-pop3-tls-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '2', '-keyout', keyPath, '-out', certPath],
    { stdio: 'ignore', timeout: 10_000 },
  );
  tlsFixture = { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath };
  return tlsFixture;
}

// ---- logger ----

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: LogFields;
  readonly msg: string | undefined;
}

export class CaptureLogger implements Logger {
  readonly entries: LogEntry[] = [];
  info(fields: LogFields, msg?: string): void {
    this.entries.push({ level: 'info', fields, msg });
  }
  warn(fields: LogFields, msg?: string): void {
    this.entries.push({ level: 'warn', fields, msg });
  }
  error(fields: LogFields, msg?: string): void {
    this.entries.push({ level: 'error', fields, msg });
  }
  events(name: string): LogFields[] {
    return this.entries.filter((e) => e.fields.event === name).map((e) => e.fields);
  }
}

// ---- server ----

export interface Harness {
  readonly server: Pop3Server;
  readonly backend: MemoryBackend;
  readonly logger: CaptureLogger;
  readonly port: number;
  /** Implicit-TLS port, when `implicitTls` was asked for. */
  readonly tlsPort: number | undefined;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Overrides; listeners default to plain on 127.0.0.1:0, with a certificate (STLS available). */
  readonly config?: Partial<Pop3ServerConfig>;
  readonly implicitTls?: boolean;
  readonly withTls?: boolean;
  readonly backend?: MemoryBackend;
  readonly timers?: Timers;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const backend = o.backend ?? new MemoryBackend();
  const logger = new CaptureLogger();
  const withTls = o.withTls ?? true;
  const cert = withTls ? testTls() : undefined;
  const config: Pop3ServerConfig = {
    serverName: 'stormo',
    plain: { host: '127.0.0.1', port: 0 },
    ...(cert !== undefined ? { tls: { key: cert.key, cert: cert.cert } } : {}),
    ...(o.implicitTls === true ? { implicitTls: { host: '127.0.0.1', port: 0 } } : {}),
    authFailureDelayMs: 0,
    ...o.config,
  };
  const server = new Pop3Server({ config, backend, logger, ...(o.timers !== undefined ? { timers: o.timers } : {}) });
  const addresses = await server.listen();
  const port = addresses.plain?.port ?? 0;
  return { server, backend, logger, port, tlsPort: addresses.implicitTls?.port, close: () => server.close() };
}

// ---- client ----

const lineTimeoutMs = 5_000;

/** A raw POP3 client: send lines or bytes, read CRLF lines, all with timeouts so no test can hang. */
export class LineClient {
  private socket: net.Socket;
  private buffer = Buffer.alloc(0);
  private ended = false;
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  static connect(port: number, opts: { tls?: boolean } = {}): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = opts.tls === true ? tls.connect({ host: '127.0.0.1', port, ca: testTls().cert, servername: 'localhost' }) : net.connect(port, '127.0.0.1');
      const ready = opts.tls === true ? 'secureConnect' : 'connect';
      socket.once(ready, () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  private readonly onData = (d: Buffer): void => {
    this.buffer = Buffer.concat([this.buffer, d]);
    this.notify();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };

  private listen(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', () => this.onEnd());
  }

  private notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private async waitFor<T>(take: () => T | undefined, what: string, timeoutMs = lineTimeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`test client: timed out waiting for ${what}; buffered ${JSON.stringify(this.buffer.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.socket.write(bytes);
  }

  /** The next line without CRLF; rejects if the connection ends first. */
  readLine(timeoutMs = lineTimeoutMs): Promise<string> {
    return this.waitFor(
      () => {
        const i = this.buffer.indexOf('\r\n');
        if (i >= 0) {
          const line = this.buffer.subarray(0, i).toString('latin1');
          this.buffer = this.buffer.subarray(i + 2);
          return line;
        }
        if (this.ended) throw new Error(`test client: connection closed; buffered ${JSON.stringify(this.buffer.toString('latin1'))}`);
        return undefined;
      },
      'a line',
      timeoutMs,
    );
  }

  /** A multi-line body after its status line: lines up to the "." terminator, dot-unstuffed. */
  async readMultiline(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine();
      if (line === '.') return lines;
      lines.push(line.startsWith('.') ? line.slice(1) : line);
    }
  }

  /** Sends a command and returns its status line. */
  async command(line: string): Promise<string> {
    this.send(line);
    return this.readLine();
  }

  /** Resolves with whatever was left unread once the server closes the connection. */
  async closed(timeoutMs = lineTimeoutMs): Promise<string> {
    await this.waitFor(() => (this.ended ? true : undefined), 'the server to close', timeoutMs);
    return this.buffer.toString('latin1');
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** RFC 2595 client side: after "+OK" to STLS, handshake on the same socket. */
  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.off('end', this.onEnd);
    raw.off('close', this.onEnd);
    const secure = tls.connect({ socket: raw, ca: testTls().cert, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
  }

  /** Stops reading from the socket: the server's writes back up (a stalled client). */
  pause(): void {
    this.socket.pause();
  }

  /** Drops the connection without QUIT. */
  destroy(): void {
    this.socket.destroy();
  }

  end(): void {
    this.socket.end();
  }
}

/** Polls `cond` until true, at most `timeoutMs`. */
export async function eventually(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A message of exactly `size` octets with CRLF line ends (RFC 1939's example sizes are 120 and 200). */
export function messageOfSize(size: number, subject: string): string {
  const head = `From: sender@example.org\r\nTo: mrose@example.org\r\nSubject: ${subject}\r\n\r\n`;
  const bodyLines = ['Hello.', '.a line that starts with a dot', ''];
  let body = bodyLines.join('\r\n');
  const fixed = head.length + body.length + 2; // final CRLF
  if (fixed > size) throw new Error(`test: cannot fit a message in ${size} octets`);
  body += 'x'.repeat(size - fixed);
  return `${head}${body}\r\n`;
}

/** A PROXY v2 header: command 0x0 LOCAL / 0x1 PROXY, family byte, address block, optional TLV octets. */
export function proxyV2(cmd: number, fam: number, addresses: readonly number[], tlvs: readonly number[] = []): Uint8Array {
  const body = [...addresses, ...tlvs];
  return Uint8Array.from([...proxyV2Signature, 0x20 | cmd, fam, body.length >> 8, body.length & 0xff, ...body]);
}

/** A v2 PROXY TCP4 header from a.b.c.d:port to 198.51.100.7:110. */
export function proxyV2Tcp4(source: readonly [number, number, number, number], port: number): Uint8Array {
  return proxyV2(0x1, 0x11, [...source, 198, 51, 100, 7, port >> 8, port & 0xff, 0, 110]);
}

/**
 * Timers the test fires by hand: zero-delay timers run on the real event loop (auth delays in tests are 0),
 * everything else waits for fire(ms). The clock is real (only durations are logged from it).
 */
export class ManualTimers implements Timers {
  private readonly pending = new Set<{ readonly fn: () => void; readonly ms: number }>();

  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): Timer {
    if (ms <= 0) {
      const t = setTimeout(fn, 0);
      return { cancel: () => clearTimeout(t) };
    }
    const entry = { fn, ms };
    this.pending.add(entry);
    return { cancel: () => this.pending.delete(entry) };
  }

  /** Runs every pending timer set for exactly `ms`; returns how many ran. */
  fire(ms: number): number {
    let n = 0;
    for (const e of [...this.pending]) {
      if (e.ms !== ms) continue;
      this.pending.delete(e);
      e.fn();
      n++;
    }
    return n;
  }

  pendingFor(ms: number): number {
    return [...this.pending].filter((e) => e.ms === ms).length;
  }
}

/** Deterministic junk octets (xorshift32), so a failing garbage test replays exactly. */
export function garbage(length: number, seed: number): Uint8Array {
  let x = seed >>> 0 || 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
