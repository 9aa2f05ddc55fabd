// A raw IMAP client for transcript tests: sends lines and literals exactly as written, reads responses
// (literals included) and splits them into untagged and tagged parts, all with timeouts so no test can hang.

import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { testTls } from '../pop3/helpers/harness.ts';

const defaultTimeoutMs = 5_000;

export interface Reply {
  /** Untagged and continuation responses, in order, literals inline (as latin1 text). */
  readonly untagged: string[];
  /** The tagged completion line, e.g. "a1 OK [READ-WRITE] SELECT completed". */
  readonly tagged: string;
}

export class RawImap {
  private socket: net.Socket;
  private buffer = Buffer.alloc(0);
  private ended = false;
  private waiters: (() => void)[] = [];
  private tagNo = 0;
  private inflate: zlib.InflateRaw | undefined;
  private deflate: zlib.DeflateRaw | undefined;
  greeting = '';

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => (this.inflate ? this.inflate.write(d) : this.push(d)));
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish());
  }

  private push(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d]);
    this.notify();
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** `insecure`: accept any certificate (a node's own self-signed one). */
  static async connect(port: number, o: { tls?: boolean; insecure?: boolean } = {}): Promise<RawImap> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = o.tls ? tls.connect({ host: '127.0.0.1', port, ...(o.insecure ? { rejectUnauthorized: false } : { ca: testTls().cert }), servername: 'localhost' }) : net.connect(port, '127.0.0.1');
      s.once(o.tls ? 'secureConnect' : 'connect', () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawImap(socket);
    c.greeting = await c.readResponse();
    return c;
  }

  write(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (this.deflate) {
      this.deflate.write(b);
      this.deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    } else this.socket.write(b);
  }

  /** Switches both directions to raw DEFLATE (after `COMPRESS DEFLATE` was answered OK). */
  startCompress(): void {
    this.deflate = zlib.createDeflateRaw();
    this.deflate.on('data', (d: Buffer) => this.socket.write(d));
    this.inflate = zlib.createInflateRaw();
    this.inflate.on('data', (d: Buffer) => this.push(d));
  }

  /** Upgrades to TLS (after STARTTLS was answered OK). */
  async startTls(): Promise<void> {
    const old = this.socket;
    old.removeAllListeners('data');
    const s = tls.connect({ socket: old, ca: testTls().cert, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    s.on('data', (d: Buffer) => this.push(d));
    this.socket = s;
  }

  private async more(timeoutMs: number): Promise<void> {
    if (this.ended) throw new Error(`connection closed; buffered: ${JSON.stringify(this.buffer.toString('latin1').slice(0, 500))}`);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout; buffered: ${JSON.stringify(this.buffer.toString('latin1').slice(0, 500))}`)), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** One response: a line, with any literals it announces and the line parts after them. */
  async readResponse(timeoutMs = defaultTimeoutMs): Promise<string> {
    let pos = 0;
    for (;;) {
      const lf = this.buffer.indexOf(0x0a, pos);
      if (lf < 0) {
        await this.more(timeoutMs);
        continue;
      }
      const m = /\{(\d+)\}\r$/.exec(this.buffer.toString('latin1', Math.max(pos, lf - 20), lf));
      if (m) {
        const need = lf + 1 + Number(m[1]);
        while (this.buffer.length < need) await this.more(timeoutMs);
        pos = need;
        continue;
      }
      const out = this.buffer.toString('latin1', 0, lf + 1);
      this.buffer = this.buffer.subarray(lf + 1);
      return out.replace(/\r\n$/, '');
    }
  }

  nextTag(): string {
    return `a${++this.tagNo}`;
  }

  /** Sends `tag text` and reads up to the tagged reply. */
  async command(text: string, timeoutMs = defaultTimeoutMs): Promise<Reply> {
    const tag = this.nextTag();
    this.write(`${tag} ${text}\r\n`);
    return this.readTagged(tag, timeoutMs);
  }

  async readTagged(tag: string, timeoutMs = defaultTimeoutMs): Promise<Reply> {
    const untagged: string[] = [];
    for (;;) {
      const r = await this.readResponse(timeoutMs);
      if (r.startsWith(`${tag} `)) return { untagged, tagged: r };
      untagged.push(r);
    }
  }

  /** Reads responses until one matches (IDLE); returns it, and the ones before in `seen`. */
  async waitFor(re: RegExp, timeoutMs = defaultTimeoutMs, seen: string[] = []): Promise<string> {
    for (;;) {
      const r = await this.readResponse(timeoutMs);
      if (re.test(r)) return r;
      seen.push(r);
    }
  }

  get closed(): boolean {
    return this.ended;
  }

  async waitClosed(timeoutMs = defaultTimeoutMs): Promise<void> {
    while (!this.ended) await this.more(timeoutMs).catch(() => {});
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Asserts a tagged OK; returns the reply. */
export function expectOk(r: Reply): Reply {
  if (!/^\S+ OK/.test(r.tagged)) throw new Error(`expected OK, got: ${r.tagged}\n${r.untagged.join('\n')}`);
  return r;
}
