// One POP3 session on one socket: reads lines, dispatches through the command table, writes replies with
// backpressure, upgrades on STLS, enforces the idle and bad-command limits, and closes the maildrop exactly once.
// Must not interpret commands itself (commands/ does), nor reach the store except through Pop3Backend.

import type net from 'node:net';
import type tls from 'node:tls';
import { type SocketHandlers, attachSocket, detachSocket, endGracefully, upgradeInPlace } from '../net/client-socket.ts';
import type { AdmittedConnection } from '../net/front-door.ts';
import { type LogFields, type Logger, errorFields } from '../net/logger.ts';
import type { LoginLimit } from '../net/login-limit.ts';
import type { Timers } from '../net/timers.ts';
import type { Pop3Backend, SessionContext } from './backend.ts';
import { type CommandArgs, type CommandName, commandTable, isCommandName } from './commands/index.ts';
import type { CommandContext, CommandSpec, SendOutcome } from './commands/spec.ts';
import type { ResolvedPop3Config } from './config.ts';
import { pop3CloseLingerMs, pop3CommandLineBytesMax, pop3ListingLinesPerWrite } from './limits.ts';
import { parseCommandLine } from './proto/command-line.ts';
import { type LineEvent, LineReader } from './proto/line-reader.ts';
import { DotStuffer, TopCutter } from './proto/message-body.ts';
import * as replies from './proto/replies.ts';
import { type Reply, multilineTerminator, serializeContinuation, serializeListingLines, serializeReply } from './proto/reply.ts';
import type { SessionState } from './session-state.ts';

/** The admitted connection (socket, client address, scoped log, login limits) and what the session needs besides. */
export interface ConnectionOptions extends AdmittedConnection {
  readonly config: ResolvedPop3Config;
  readonly secureContext: tls.SecureContext | undefined;
  readonly backend: Pop3Backend;
  readonly timers: Timers;
}

export class Pop3Connection implements CommandContext {
  readonly cid: string;
  readonly clientIp: string;
  readonly serverName: string;
  readonly backend: Pop3Backend;
  readonly log: Logger;
  state: SessionState = { name: 'AUTHORIZATION', pendingUser: undefined };

  private readonly config: ResolvedPop3Config;
  private readonly secureContext: tls.SecureContext | undefined;
  private readonly timers: Timers;
  private readonly logins: LoginLimit;
  private readonly reader = new LineReader();
  private readonly startedAt: number;
  private socket: net.Socket;
  private isSecure: boolean;
  private inputEnded = false;
  private closed = false;
  private ending = false;
  /** A multi-line response is partly written: an error now can only be answered by closing. */
  private midResponse = false;
  private commands = 0;
  private badCommands = 0;
  /** Wakes the one task waiting for the client (input, drain) or for the close. */
  private waiter: (() => void) | undefined;
  private closeReason = 'client closed';

  constructor(o: ConnectionOptions) {
    this.cid = o.cid;
    this.clientIp = o.clientIp;
    this.serverName = o.config.serverName;
    this.backend = o.backend;
    this.log = o.log;
    this.config = o.config;
    this.secureContext = o.secureContext;
    this.timers = o.timers;
    this.logins = o.logins;
    this.socket = o.socket;
    this.isSecure = o.secure;
    this.startedAt = o.timers.now();
  }

  // ---- CommandContext: facts ----

  get secure(): boolean {
    return this.isSecure;
  }

  get tlsAvailable(): boolean {
    return this.secureContext !== undefined && !this.isSecure;
  }

  get plaintextAuthAllowed(): boolean {
    return this.isSecure || this.config.allowPlaintextAuth;
  }

  get open(): boolean {
    return !this.closed && !this.ending;
  }

  sessionContext(mechanism: SessionContext['mechanism']): SessionContext {
    return { cid: this.cid, clientIp: this.clientIp, secure: this.isSecure, mechanism };
  }

  // ---- The session loop ----

  /** Runs the session to its end; never rejects. The socket is closed and the maildrop released when it resolves. */
  async run(): Promise<void> {
    attachSocket(this.socket, this.events);
    try {
      await this.reply(replies.greeting(this.serverName));
      while (this.open) {
        const ev = await this.readLine(pop3CommandLineBytesMax);
        if (ev === undefined) break;
        await this.execute(ev);
      }
    } catch (e) {
      this.log.error({ event: 'internal-error', ...errorFields(e) }, 'session loop failed');
      this.closeReason = 'internal error';
    } finally {
      await this.teardown();
    }
  }

  /** Closes the connection now (server shutdown); run() then finishes without UPDATE. */
  shutdown(): void {
    this.closeReason = 'server shutdown';
    this.destroy();
  }

  private async execute(ev: LineEvent): Promise<void> {
    if (ev.kind === 'too-long') return this.badCommand(replies.lineTooLong, { event: 'line-too-long' });
    const parsed = parseCommandLine(ev.bytes);
    if (!parsed.ok) {
      const reply = parsed.error === 'EMPTY' ? replies.emptyCommand : parsed.error === 'BAD_BYTES' ? replies.invalidCharacters : replies.unknownCommand;
      return this.badCommand(reply, { event: 'bad-command', reason: parsed.error });
    }
    const { keyword, rest } = parsed.line;
    if (!isCommandName(keyword)) return this.badCommand(replies.unknownCommand, { event: 'bad-command', reason: 'UNKNOWN', keyword });
    this.commands++;
    await this.dispatch(keyword, rest);
  }

  private async dispatch<K extends CommandName>(name: K, rest: string): Promise<void> {
    const spec: CommandSpec<CommandArgs[K]> = commandTable[name];
    const state = this.state.name;
    if (state === 'UPDATE' || !spec.states.includes(state)) {
      return this.badCommand(replies.wrongState, { event: 'bad-command', reason: 'WRONG_STATE', command: name, state });
    }
    const parsed = spec.parse(rest);
    if (!parsed.ok) return this.badCommand(parsed.reply, { event: 'bad-command', reason: 'SYNTAX', command: name });
    try {
      await spec.handle(this, parsed.args);
    } catch (e) {
      // Logged once with its cause; the client sees only a temporary failure (STYLE: never echo internals).
      this.log.error({ event: 'internal-error', command: name, ...errorFields(e) }, 'command failed');
      if (this.midResponse) {
        this.closeReason = 'internal error mid-response';
        this.destroy();
      } else {
        await this.reply(replies.internalError);
      }
    }
  }

  private async badCommand(reply: Reply, fields: LogFields): Promise<void> {
    this.badCommands++;
    if (this.badCommands >= this.config.badCommandsMax) {
      this.log.warn({ ...fields, event: 'bad-command-limit', badCommands: this.badCommands, trigger: fields.event }, 'too many bad commands: closing');
      await this.reply(replies.tooManyBadCommands);
      this.closeReason = 'too many bad commands';
      this.end();
      return;
    }
    this.log.info(fields, 'bad command');
    await this.reply(reply);
  }

  // ---- Input ----

  async readLine(maxBytes: number): Promise<LineEvent | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const ev = this.reader.next(maxBytes);
      if (ev !== undefined) return ev;
      if (this.inputEnded) return undefined;
      await this.waitForClient(() => this.socket.resume());
    }
  }

  /**
   * Waits until the socket reports something (data, drain, end, close). The idle timer runs only here: time
   * spent waiting on the store is not the client's idleness (RFC 1939 §3 autologout, closed without a reply).
   */
  private waitForClient(start: () => void): Promise<void> {
    if (this.waiter !== undefined) throw new Error('pop3: two tasks waiting on one connection');
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => {
        this.log.info({ event: 'idle-timeout', idleMs: this.config.idleTimeoutMs }, 'idle timeout: closing without UPDATE');
        this.closeReason = 'idle timeout';
        this.destroy();
      }, this.config.idleTimeoutMs);
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
      this.reader.push(chunk);
      // One chunk at a time: the reader's buffer stays bounded and a pipelining client waits for our replies.
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
    // Resets and aborted handshakes are routine; 'close' follows and ends the session.
    error: (e) => this.log.info({ event: 'socket-error', ...errorFields(e) }, 'socket error'),
  };

  // ---- Output ----

  private async write(bytes: Uint8Array): Promise<void> {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(bytes);
    // Bounded output: a client that does not read holds us here until the idle timer closes it.
    while (this.socket.writableNeedDrain && !this.closed) await this.waitForClient(() => {});
  }

  async reply(reply: Reply): Promise<void> {
    await this.write(serializeReply(reply));
  }

  async continuation(base64: string): Promise<void> {
    await this.write(serializeContinuation(base64));
  }

  async replyListing(head: Reply, lines: readonly string[]): Promise<void> {
    this.midResponse = true;
    await this.write(serializeReply(head));
    for (let i = 0; i < lines.length && !this.closed; i += pop3ListingLinesPerWrite) {
      await this.write(serializeListingLines(lines.slice(i, i + pop3ListingLinesPerWrite)));
    }
    await this.write(multilineTerminator);
    this.midResponse = false;
  }

  async sendMessage(head: Reply, body: AsyncIterable<Uint8Array>, opts: { expectedOctets?: number; topBodyLines?: number }): Promise<SendOutcome> {
    const it = body[Symbol.asyncIterator]();
    let next: IteratorResult<Uint8Array>;
    try {
      // The first chunk before "+OK": a store that cannot read the message still gets an -ERR answer.
      next = await it.next();
    } catch (e) {
      this.log.error({ event: 'message-read-failed', ...errorFields(e) }, 'reading a message failed');
      return 'unavailable';
    }
    const stuffer = new DotStuffer();
    const cutter = opts.topBodyLines === undefined ? undefined : new TopCutter(opts.topBodyLines);
    let octets = 0;
    this.midResponse = true;
    await this.write(serializeReply(head));
    try {
      while (next.done !== true) {
        octets += next.value.length;
        const part = cutter === undefined ? next.value : cutter.take(next.value);
        if (part.length > 0) await this.write(stuffer.encode(part));
        if (this.closed || cutter?.done === true) break;
        next = await it.next();
      }
    } catch (e) {
      this.log.error({ event: 'message-read-failed', midResponse: true, ...errorFields(e) }, 'reading a message failed mid-response: closing');
      this.closeReason = 'message read failed mid-response';
      this.destroy();
      return 'aborted';
    }
    if (next.done !== true) await this.stopIterating(it);
    if (this.closed) return 'aborted';
    await this.write(stuffer.finish());
    this.midResponse = false;
    if (cutter === undefined && opts.expectedOctets !== undefined && octets !== opts.expectedOctets) {
      // The client was told one size and got another: the store's contract is broken (sizes must be exact).
      this.log.warn({ event: 'size-mismatch', expectedOctets: opts.expectedOctets, octets }, 'message size differs from the snapshot');
    }
    return 'sent';
  }

  private async stopIterating(it: AsyncIterator<Uint8Array>): Promise<void> {
    try {
      await it.return?.();
    } catch (e) {
      this.log.warn({ event: 'message-read-cancel-failed', ...errorFields(e) }, 'stopping a message read failed');
    }
  }

  // ---- STLS (RFC 2595 §4) ----

  async startTls(): Promise<boolean> {
    if (this.secureContext === undefined || this.isSecure) throw new Error('pop3: startTls without a certificate or on a secure session');
    // Anything pipelined after STLS was sent in the clear and must not be acted on (CVE-2011-0411).
    this.reader.discard();
    const upgraded = await upgradeInPlace(this.socket, this.events, this.secureContext, this.config.tlsHandshakeTimeoutMs, this.timers);
    if (!upgraded.ok) {
      this.log.info({ event: 'tls-failed', reason: upgraded.reason }, 'STLS handshake failed');
      this.closeReason = 'STLS handshake failed';
      this.closed = true;
      return false;
    }
    this.socket = upgraded.socket;
    this.isSecure = true;
    this.inputEnded = false;
    // RFC 2595 §4: the server MUST discard knowledge obtained from the client before TLS, such as USER's argument.
    if (this.state.name === 'AUTHORIZATION') this.state.pendingUser = undefined;
    this.log.info({ event: 'tls-started', protocol: upgraded.socket.getProtocol(), cipher: upgraded.socket.getCipher().name }, 'STLS done');
    return true;
  }

  // ---- Authentication limits ----

  authBlocked(): boolean {
    return this.logins.blocked();
  }

  async authFailed(): Promise<{ readonly closeAfterReply: boolean }> {
    const closeAfterReply = await this.logins.failed();
    if (closeAfterReply) this.closeReason = 'too many failed logins';
    return { closeAfterReply };
  }

  // ---- Closing ----

  end(): void {
    this.ending = true;
  }

  private destroy(): void {
    this.socket.destroy();
  }

  private async teardown(): Promise<void> {
    const socket = this.socket;
    if (!socket.destroyed) {
      if (this.ending) {
        detachSocket(socket, this.events);
        endGracefully(socket, this.timers, pop3CloseLingerMs);
        if (this.closeReason === 'client closed') this.closeReason = 'session ended';
      } else {
        socket.destroy();
      }
    }
    const state = this.state;
    if (state.name !== 'AUTHORIZATION') {
      try {
        await state.maildrop.close();
      } catch (e) {
        this.log.warn({ event: 'maildrop-close-failed', ...errorFields(e) }, 'closing the maildrop failed');
      }
    }
    this.log.info(
      { event: 'session-end', reason: this.closeReason, state: state.name, commands: this.commands, badCommands: this.badCommands, durationMs: Math.round(this.timers.now() - this.startedAt) },
      'session ended',
    );
  }
}
