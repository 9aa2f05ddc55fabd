// One IMAP session on one socket: assembles commands with their literals (bounded), dispatches through the
// command table by state, tells the selected folder's changes where RFC 9051 §7.5.1 allows, runs IDLE,
// STARTTLS and COMPRESS=DEFLATE, and enforces the idle, bad-command and login limits.
// Must not interpret commands itself (commands/ does), nor parse message bodies.

import type net from 'node:net';
import type tls from 'node:tls';
import zlib from 'node:zlib';
import type { Blobs } from '../blob/index.ts';
import { type SocketHandlers, attachSocket, detachSocket, endGracefully, upgradeInPlace } from '../net/client-socket.ts';
import type { AdmittedConnection } from '../net/front-door.ts';
import { type LogFields, type Logger, errorFields } from '../net/logger.ts';
import type { LoginLimit } from '../net/login-limit.ts';
import type { Timers } from '../net/timers.ts';
import type { AccountRecord, FolderChange, Store } from '../store/index.ts';
import { capabilityLine } from './commands/capability.ts';
import { commandTable, isCommandName } from './commands/index.ts';
import { type Call, type Completion, type Session, type SessionState, bad, no, ok } from './commands/spec.ts';
import type { ResolvedImapConfig } from './config.ts';
import type { ImapHooks } from './hooks.ts';
import { imapCloseLingerMs, imapCommandBytesMax, imapIdlePollMs, imapLineBytesMax, imapLiteralBytesMax, imapMultiAppendMessagesMax, imapTagBytesMax } from './limits.ts';
import type { MailboxView, ViewOptions } from './mailbox-view.ts';
import { type Chunk, type EncodeOptions, statusLine, toBuffer } from './proto/encode.ts';
import { InputBuffer, type LineEvent, literalAtEnd } from './proto/input.ts';
import { ParseError, Reader } from './proto/reader.ts';
import type { SessionRegistry } from './registry.ts';

/** The admitted connection (socket, client address, scoped log, login limits) and what the session needs besides. */
export interface ConnectionOptions extends AdmittedConnection {
  readonly config: ResolvedImapConfig;
  readonly secureContext: tls.SecureContext | undefined;
  readonly store: Store;
  readonly blobs: Blobs;
  readonly hooks: ImapHooks;
  readonly timers: Timers;
  readonly registry: SessionRegistry;
}

type CommandEvent = { kind: 'command'; bytes: Buffer } | { kind: 'too-long' } | { kind: 'too-big'; tag: string; close: boolean };

const CRLF = Buffer.from('\r\n');

/** RFC 9051 tag: 1*<any ASTRING-CHAR except "+">, ASCII only; anything else is never echoed back. */
function isTag(t: string): boolean {
  return t.length > 0 && t.length <= imapTagBytesMax && /^[\x21-\x7e]+$/.test(t) && !/[(){%*"\\+]/.test(t);
}

export class ImapConnection implements Session {
  readonly cid: string;
  readonly clientIp: string;
  readonly config: ResolvedImapConfig;
  readonly store: Store;
  readonly blobs: Blobs;
  readonly hooks: ImapHooks;
  readonly log: Logger;
  state: SessionState = 'notAuthenticated';
  account: AccountRecord | null = null;
  view: MailboxView | null = null;
  readonly enabled = new Set<string>();

  private readonly secureContext: tls.SecureContext | undefined;
  private readonly timers: Timers;
  private readonly logins: LoginLimit;
  private readonly registry: SessionRegistry;
  private readonly input = new InputBuffer();
  private socket: net.Socket;
  private isSecure: boolean;
  private deflate: zlib.DeflateRaw | undefined;
  private inflate: zlib.InflateRaw | undefined;
  private condstoreUsed = false;
  private inputEnded = false;
  private closed = false;
  private ending = false;
  private idling = false;
  private pendingAction: 'starttls' | 'compress' | undefined;
  private waiter: (() => void) | undefined;
  private badCommands = 0;
  private commands = 0;
  private closeReason = 'client closed';
  private readonly startedAt: number;

  constructor(o: ConnectionOptions) {
    this.cid = o.cid;
    this.clientIp = o.clientIp;
    this.config = o.config;
    this.store = o.store;
    this.blobs = o.blobs;
    this.hooks = o.hooks;
    this.log = o.log;
    this.secureContext = o.secureContext;
    this.timers = o.timers;
    this.logins = o.logins;
    this.registry = o.registry;
    this.socket = o.socket;
    this.isSecure = o.secure;
    this.startedAt = o.timers.now();
  }

  // ---- Session: facts ----

  get secure(): boolean {
    return this.isSecure;
  }

  get tlsAvailable(): boolean {
    return this.secureContext !== undefined && !this.isSecure;
  }

  get compressed(): boolean {
    return this.deflate !== undefined;
  }

  get plaintextAuthAllowed(): boolean {
    return this.isSecure || this.config.allowPlaintextAuth;
  }

  get open(): boolean {
    return !this.closed && !this.ending;
  }

  get encodeOptions(): EncodeOptions {
    return { utf8: this.enabled.has('IMAP4REV2') || this.enabled.has('UTF8=ACCEPT') };
  }

  get viewOptions(): ViewOptions {
    const qresync = this.enabled.has('QRESYNC');
    return { condstore: qresync || this.condstoreUsed || this.enabled.has('CONDSTORE'), qresync };
  }

  enableCondstore(): void {
    this.condstoreUsed = true;
  }

  // ---- The session loop ----

  /** Runs the session to its end; never rejects. */
  async run(): Promise<void> {
    attachSocket(this.socket, this.events);
    try {
      await this.send(`* OK [CAPABILITY ${capabilityLine(this)}] ${this.config.serverName} IMAP4rev2 ready\r\n`);
      while (this.open) {
        const ev = await this.readCommand();
        if (ev === undefined) break;
        await this.execute(ev);
      }
    } catch (e) {
      this.log.error({ event: 'internal-error', ...errorFields(e) }, 'session loop failed');
      this.closeReason = 'internal error';
    } finally {
      this.teardown();
    }
  }

  /** Server shutdown: say BYE and close. */
  shutdown(): void {
    this.closeReason = 'server shutdown';
    this.rawWrite(Buffer.from('* BYE Server shutting down\r\n'));
    this.destroy();
  }

  private async readCommand(): Promise<CommandEvent | undefined> {
    const parts: Buffer[] = [];
    let total = 0;
    let isAppend: boolean | undefined;
    for (;;) {
      const ev = await this.readLineEvent(imapLineBytesMax);
      if (ev === undefined) return undefined;
      if (ev.kind === 'too-long') return { kind: 'too-long' };
      parts.push(ev.bytes);
      total += ev.bytes.length;
      const lit = literalAtEnd(ev.bytes);
      if (lit === undefined) return { kind: 'command', bytes: Buffer.concat(parts) };
      isAppend ??= /^\S+ APPEND /i.test(parts[0]!.toString('latin1', 0, 80));
      const max = isAppend ? this.config.appendLimitBytes : imapLiteralBytesMax;
      const totalMax = isAppend ? this.config.appendLimitBytes * Math.min(4, imapMultiAppendMessagesMax) : imapCommandBytesMax;
      if (lit.size > max || total + lit.size > totalMax) {
        const tag = /^[^ ]*/.exec(parts[0]!.toString('latin1', 0, imapTagBytesMax + 1))?.[0] ?? '';
        return { kind: 'too-big', tag, close: !lit.sync };
      }
      if (lit.sync) await this.send('+ Ready for literal data\r\n');
      parts.push(CRLF);
      const bytes = await this.readBytes(lit.size);
      if (bytes === undefined) return undefined;
      parts.push(bytes);
      total += bytes.length + 2;
    }
  }

  private async execute(ev: CommandEvent): Promise<void> {
    if (ev.kind === 'too-long') return this.badCommand('*', bad('Command line too long', 'TOOBIG'), { event: 'line-too-long' });
    if (ev.kind === 'too-big') {
      if (ev.close) {
        // RFC 7888 §4: a non-synchronizing literal we cannot take: say so and close.
        await this.send('* BYE [TOOBIG] Literal too large\r\n');
        this.closeReason = 'literal too large';
        this.end();
        return;
      }
      await this.send(statusLine(isTag(ev.tag) ? ev.tag : '*', 'NO', 'TOOBIG', 'Literal too large'));
      return;
    }
    const r = new Reader(ev.bytes);
    const tag = /^[^ ]*/.exec(ev.bytes.toString('latin1', 0, imapTagBytesMax + 1))?.[0] ?? '';
    if (!isTag(tag)) {
      if (ev.bytes.length === 0) return;
      return this.badCommand('*', bad('Invalid tag'), { event: 'bad-command', reason: 'TAG' });
    }
    r.pos = tag.length;
    let name: string;
    let uid = false;
    try {
      r.sp();
      name = r.keyword();
      if (name === 'UID') {
        r.sp();
        name = r.keyword();
        uid = true;
      }
    } catch {
      return this.badCommand(tag, bad('Command expected'), { event: 'bad-command', reason: 'SYNTAX' });
    }
    this.commands++;
    await this.dispatch(r, tag, name, uid);
  }

  private async dispatch(r: Reader, tag: string, name: string, uid: boolean): Promise<void> {
    if (!isCommandName(name) || (uid && commandTable[name].uidForm !== true)) {
      return this.badCommand(tag, bad(`Unknown command ${uid ? 'UID ' : ''}${name.slice(0, 30)}`), { event: 'bad-command', reason: 'UNKNOWN' });
    }
    const spec = commandTable[name];
    if (!spec.states.includes(this.state)) {
      return this.badCommand(tag, bad(`${name} not allowed now`), { event: 'bad-command', reason: 'WRONG_STATE', command: name, state: this.state });
    }
    let args: unknown;
    try {
      args = spec.parse(r, this.encodeOptions, uid);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      return this.badCommand(tag, bad(`${name}: ${e.message}`), { event: 'bad-command', reason: 'SYNTAX', command: name });
    }
    const call: Call = { tag, uid };
    let done: Completion | null;
    try {
      done = await (spec.handle as (s: Session, a: unknown, c: Call) => Promise<Completion | null>)(this, args, call);
    } catch (e) {
      // Logged once with its cause; the client sees only a temporary failure (STYLE: never echo internals).
      this.log.error({ event: 'internal-error', command: name, ...errorFields(e) }, 'command failed');
      done = no('Internal error, try again later', 'UNAVAILABLE');
    }
    if (done === null || this.closed) return;
    await this.syncView(!(spec.holdsExpunge === true && !uid));
    if (done.status === 'BAD') return this.badCommand(tag, done, { event: 'bad-command', reason: 'ARGS', command: name });
    await this.send(statusLine(tag, done.status, done.code ?? null, done.text));
    await this.runPendingAction();
  }

  private async badCommand(tag: string, c: Completion, fields: LogFields): Promise<void> {
    this.badCommands++;
    this.log.info(fields, 'bad command');
    await this.send(statusLine(tag, 'BAD', c.code ?? null, c.text));
    if (this.badCommands >= this.config.badCommandsMax) {
      await this.send('* BYE Too many invalid commands\r\n');
      this.closeReason = 'too many bad commands';
      this.end();
    }
  }

  /** Tells the client what changed in its folder (EXPUNGE only when `allowExpunge`). */
  private async syncView(allowExpunge: boolean): Promise<void> {
    const v = this.view;
    if (v === null || !v.dirty || this.closed) return;
    let synced: Awaited<ReturnType<MailboxView['sync']>>;
    try {
      synced = await v.sync(this.store.queries, allowExpunge, this.viewOptions);
    } catch (e) {
      // The client hears of the changes at a later command; nothing it was told is wrong meanwhile.
      this.log.error({ event: 'sync-failed', ...errorFields(e) }, 'reading folder changes failed');
      return;
    }
    const { lines, gone } = synced;
    if (this.view !== v) return;
    if (lines.length > 0) await this.send(lines.join(''));
    if (gone) {
      await this.send('* BYE Selected mailbox was deleted or renamed by another session\r\n');
      this.closeReason = 'mailbox gone';
      this.end();
    }
  }

  // ---- Session: actions ----

  setView(view: MailboxView | null): void {
    const old = this.view;
    if (old && this.account) this.registry.unwatch(this, this.account.id, old.folderId);
    this.view = view;
    if (view && this.account) this.registry.watch(this, this.account.id, view.folderId);
    this.state = view ? 'selected' : this.account ? 'authenticated' : this.state;
  }

  onFolderChange(c: FolderChange): void {
    const v = this.view;
    if (v === null || v.folderId !== c.folderId) return;
    v.onChange(c);
    if (this.idling) this.wake();
  }

  loggedIn(account: AccountRecord): boolean {
    if (!this.registry.openAccount(account.id, this.config.connectionsPerUserMax)) return false;
    this.account = account;
    this.state = 'authenticated';
    return true;
  }

  afterReply(action: 'starttls' | 'compress'): void {
    this.pendingAction = action;
  }

  private async runPendingAction(): Promise<void> {
    const a = this.pendingAction;
    this.pendingAction = undefined;
    if (a === 'starttls') await this.startTls();
    else if (a === 'compress') this.startCompress();
  }

  async idle(tag: string): Promise<Completion | null> {
    await this.send('+ idling\r\n');
    this.idling = true;
    const deadline = this.timers.now() + this.config.idleMaxMs;
    try {
      for (;;) {
        await this.syncView(true);
        const ev = this.input.line(imapLineBytesMax);
        if (ev !== undefined) {
          if (ev.kind === 'line' && ev.bytes.toString('latin1').toUpperCase() === 'DONE') return ok('IDLE terminated');
          return bad('DONE expected');
        }
        if (!this.open || this.inputEnded) return null;
        const left = deadline - this.timers.now();
        if (left <= 0) {
          await this.send('* BYE IDLE for too long\r\n');
          this.closeReason = 'idle max';
          this.end();
          return null;
        }
        await this.waitForClient(() => this.resume(), Math.min(left, imapIdlePollMs), false);
      }
    } finally {
      this.idling = false;
      this.log.info({ event: 'idle-end', tag }, 'idle ended');
    }
  }

  authBlocked(): boolean {
    return this.logins.blocked();
  }

  async authFailed(): Promise<{ readonly closeAfterReply: boolean }> {
    const closeAfterReply = await this.logins.failed();
    if (closeAfterReply) this.closeReason = 'too many failed logins';
    return { closeAfterReply };
  }

  end(): void {
    this.ending = true;
  }

  abort(): void {
    this.closeReason = 'aborted mid-response';
    this.destroy();
  }

  // ---- Input ----

  private resume(): void {
    this.socket.resume();
  }

  private async readLineEvent(maxBytes: number): Promise<LineEvent | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const ev = this.input.line(maxBytes);
      if (ev !== undefined) return ev;
      if (this.inputEnded) return undefined;
      await this.waitForClient(() => this.resume(), this.config.idleTimeoutMs, true);
    }
  }

  async readLine(maxBytes: number): Promise<Buffer | undefined> {
    const ev = await this.readLineEvent(maxBytes);
    return ev?.kind === 'line' ? ev.bytes : ev === undefined ? undefined : Buffer.alloc(0);
  }

  private async readBytes(n: number): Promise<Buffer | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const b = this.input.bytes(n);
      if (b !== undefined) return b;
      if (this.inputEnded) return undefined;
      await this.waitForClient(() => this.resume(), this.config.idleTimeoutMs, true);
    }
  }

  /**
   * Waits until the socket reports something (or a change wakes an IDLE). When `autologout`, the timer
   * ends the session with `* BYE` (RFC 9051 §5.4); otherwise it only wakes the caller.
   */
  private waitForClient(start: () => void, timeoutMs: number, autologout: boolean): Promise<void> {
    if (this.waiter !== undefined) throw new Error('imap: two tasks waiting on one connection');
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => {
        if (autologout) {
          this.log.info({ event: 'idle-timeout', idleMs: timeoutMs }, 'idle timeout');
          this.closeReason = 'idle timeout';
          this.rawWrite(Buffer.from('* BYE Autologout; idle for too long\r\n'));
          this.destroy();
        }
        this.wake();
      }, timeoutMs);
      this.waiter = () => {
        timer.cancel();
        this.waiter = undefined;
        resolve();
      };
      start();
    });
  }

  private wake(): void {
    this.waiter?.();
  }

  private readonly events: SocketHandlers = {
    data: (chunk) => {
      if (this.inflate) {
        this.inflate.write(chunk);
        return;
      }
      this.input.push(chunk);
      // One chunk at a time: the buffer stays bounded and a pipelining client waits for our replies.
      this.socket.pause();
      this.wake();
    },
    end: () => {
      this.inputEnded = true;
      this.wake();
    },
    close: () => {
      this.closed = true;
      this.wake();
    },
    drain: () => this.wake(),
    error: (e) => this.log.info({ event: 'socket-error', ...errorFields(e) }, 'socket error'),
  };

  private readonly onInflated = (chunk: Buffer): void => {
    this.input.push(chunk);
    // Bounded like the plain path: stop reading until the session has consumed what is buffered.
    if (this.input.buffered > imapCommandBytesMax) this.socket.pause();
    this.wake();
  };

  // ---- Output ----

  private rawWrite(bytes: Uint8Array): void {
    if (this.closed || this.socket.destroyed) return;
    if (this.deflate) {
      this.deflate.write(bytes);
      this.deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    } else this.socket.write(bytes);
  }

  async send(chunks: string | readonly Chunk[]): Promise<void> {
    this.rawWrite(typeof chunks === 'string' ? Buffer.from(chunks, 'utf8') : toBuffer(chunks));
    // Bounded output: a client that does not read holds us here until the idle timer closes it.
    while (this.socket.writableNeedDrain && !this.closed) await this.waitForClient(() => {}, this.config.idleTimeoutMs, true);
  }

  // ---- STARTTLS (RFC 9051 §6.2.1) and COMPRESS (RFC 4978) ----

  private async startTls(): Promise<boolean> {
    if (this.secureContext === undefined || this.isSecure) throw new Error('imap: startTls without a certificate or on a secure session');
    // Anything pipelined after STARTTLS was sent in the clear and must not be acted on (CVE-2011-0411).
    this.input.discard();
    const upgraded = await upgradeInPlace(this.socket, this.events, this.secureContext, this.config.tlsHandshakeTimeoutMs, this.timers);
    if (!upgraded.ok) {
      this.log.info({ event: 'tls-failed', reason: upgraded.reason }, 'STARTTLS handshake failed');
      this.closeReason = 'STARTTLS handshake failed';
      this.closed = true;
      return false;
    }
    this.socket = upgraded.socket;
    this.isSecure = true;
    this.inputEnded = false;
    return true;
  }

  private startCompress(): void {
    const deflate = zlib.createDeflateRaw({ level: 6 });
    const inflate = zlib.createInflateRaw();
    deflate.on('data', (d: Buffer) => {
      if (!this.socket.destroyed) this.socket.write(d);
    });
    deflate.on('error', (e) => this.compressionFailed(e));
    inflate.on('data', this.onInflated);
    inflate.on('error', (e) => this.compressionFailed(e));
    this.deflate = deflate;
    this.inflate = inflate;
    // Octets already read after the COMPRESS line are compressed already.
    const rest = this.input.bytes(this.input.buffered);
    if (rest && rest.length > 0) inflate.write(rest);
    this.socket.resume();
  }

  private compressionFailed(e: Error): void {
    this.log.info({ event: 'compress-error', ...errorFields(e) }, 'DEFLATE stream error: closing');
    this.closeReason = 'compression error';
    this.destroy();
  }

  // ---- Closing ----

  private destroy(): void {
    this.socket.destroy();
    this.closed = true;
    this.wake();
  }

  private teardown(): void {
    const socket = this.socket;
    if (!socket.destroyed) {
      if (this.ending) {
        detachSocket(socket, this.events);
        const deflate = this.deflate;
        endGracefully(socket, this.timers, imapCloseLingerMs, deflate ? () => deflate.end(() => socket.end()) : undefined);
      } else socket.destroy();
    }
    this.inflate?.destroy();
    if (this.view && this.account) this.registry.unwatch(this, this.account.id, this.view.folderId);
    if (this.account) this.registry.closeAccount(this.account.id);
    this.log.info(
      { event: 'session-end', reason: this.closeReason, state: this.state, commands: this.commands, badCommands: this.badCommands, durationMs: Math.round(this.timers.now() - this.startedAt) },
      'session ended',
    );
  }
}
