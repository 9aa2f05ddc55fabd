// smtp-server's connection and server classes, narrowed to what stormo's policy needs at the command level.
// Owns reply formatting and per-command gates (TLS first, unrecognized and pre-AUTH command limits); no mail policy.
//
// smtp-server 3.21 offers no hook for these, so this subclasses SMTPConnection and overrides
// three of its methods (send, _createParser, _onCommand) and SMTPServer.connect. They are in
// the package's type declarations; the version is pinned in package.json because the
// underscore ones are internal, and test/smtp exercises every path that depends on them.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { readProxyHeader } from '../net/proxy-reader.ts';
import { realTimers } from '../net/timers.ts';
import { smtpProxyHeaderTimeoutMs } from './limits.ts';
import { carriesEnhancedCode, replies, replyText, type SmtpReply } from './replies.ts';

export interface CommandGate {
  /** RFC 3207 §4: only EHLO, HELO, NOOP, RSET, STARTTLS, QUIT (and HELP) before TLS. 587 only. */
  readonly requireTls: boolean;
  /** Submission (587, 465): AUTH is a known command even while hidden before TLS, and commands before it are counted. */
  readonly requireAuth: boolean;
  /** Commands (QUIT aside) a client may send before AUTH succeeds, when requireAuth. */
  readonly unauthenticatedCommandsMax: number;
  readonly unrecognizedCommandsMax: number;
  /** Pause before the greeting (limits.ts greetingDelayMs). */
  readonly greetingDelayMs: number;
}

const allowedBeforeTls: ReadonlySet<string> = new Set(['EHLO', 'HELO', 'NOOP', 'RSET', 'STARTTLS', 'QUIT', 'HELP']);

class StormoConnection extends SMTPConnection {
  readonly #gate: CommandGate;
  #unrecognized = 0;
  #unauthenticated = 0;

  constructor(server: SMTPServer, socket: net.Socket | tls.TLSSocket, options: SMTPConnectionOptions | null | undefined, gate: CommandGate) {
    super(server, socket, options);
    this.#gate = gate;
  }

  /** Mirrors SMTPConnection.init (smtp-server 3.21.6) without its fixed 100 ms pause before the greeting. */
  override init(): void {
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) {
        this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      if (this.#gate.greetingDelayMs > 0) setTimeout(() => this.connectionReady(), this.#gate.greetingDelayMs).unref();
      else this.connectionReady();
    });
  }

  /**
   * smtp-server derives an enhanced code from the reply code alone (553 -> 5.1.3 always),
   * which is wrong for most of our replies. Ours carry their own at the start of the text;
   * those are sent as they are, smtp-server's own replies keep its mapping.
   */
  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    if (typeof data === 'string' && carriesEnhancedCode(data)) super.send(code, data, false);
    else super.send(code, data, context);
  }

  /**
   * The command parser's only error is a line over maxCommandLength. It has dropped its
   * buffer by then and cannot resynchronise, so the session ends with a 421 (RFC 5321 §3.8).
   * Runs inside the base constructor: it must not touch this class's own fields.
   */
  override _createParser(): ReturnType<SMTPConnection['_createParser']> {
    const parser = super._createParser();
    parser.removeAllListeners('error');
    parser.on('error', () => this.send(replies.commandLineTooLong.code, replyText(replies.commandLineTooLong)));
    return parser;
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    const refusal = this.#dispatchesByName() ? this.#gateCommand(commandName(command)) : null;
    if (refusal === null) {
      super._onCommand(command, callback);
      return;
    }
    this.send(refusal.code, replyText(refusal));
    if (refusal.code !== 421) setImmediate(() => this._whenWritable(callback ?? (() => {})));
  }

  /** The states in which smtp-server looks the command up by name (not mid-AUTH, not during a TLS handshake). */
  #dispatchesByName(): boolean {
    return this._ready && !this._upgrading && this._nextHandler === false && this._server._closeTimeout === false && !this._closing;
  }

  #gateCommand(name: string): SmtpReply | null {
    const known = this._isSupported(name) || (name === 'AUTH' && this.#gate.requireAuth);
    if (!known) {
      this.#unrecognized++;
      if (this.#unrecognized > this.#gate.unrecognizedCommandsMax) return replies.tooManyUnrecognizedCommands;
      this._unrecognizedCommands = 0; // smtp-server's own fixed limit (10) gives way to ours
      return null; // smtp-server answers 500 5.5.2
    }
    if (this.#gate.requireAuth && !this.session.user && name !== 'QUIT') {
      this.#unauthenticated++;
      if (this.#unauthenticated > this.#gate.unauthenticatedCommandsMax) return replies.tooManyUnauthenticatedCommands;
    }
    if (this.#gate.requireTls && !this.secure && !allowedBeforeTls.has(name)) return replies.tlsRequired;
    return null;
  }
}

function commandName(command: Buffer): string {
  const line = command.toString('latin1');
  const space = line.indexOf(' ');
  return (space < 0 ? line : line.slice(0, space)).trim().toUpperCase();
}

/** An SMTPServer whose connections are StormoConnections with the listener's command gate. */
export class GatedSmtpServer extends SMTPServer {
  readonly #gate: CommandGate;

  constructor(options: SMTPServerOptions, gate: CommandGate) {
    super(options);
    this.#gate = gate;
  }

  // Mirrors SMTPServer.connect (smtp-server 3.21.6) with our connection class.
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new StormoConnection(this, socket, socketOptions, this.#gate);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }

  /**
   * smtp-server reads only PROXY v1. HAProxy's `send-proxy-v2` (DESIGN: PROXY v2 behind the
   * balancer) needs v2 too, so a trusted peer's header is read here with our parser, either
   * version; anything else closes the connection. Peers not trusted go the base class's way.
   */
  override _handleProxy(socket: net.Socket, callback: (err: Error | null, options?: SMTPConnectionOptions & { id: string }) => void): void {
    if (!this._expectsProxyHeader(socket)) {
      super._handleProxy(socket, callback);
      return;
    }
    const id = BigInt(`0x${randomBytes(10).toString('hex')}`).toString(32).padStart(16, '0');
    socket.on('error', () => {}); // a reset before the header ends in the reader's 'close'
    void readProxyHeader(socket, smtpProxyHeaderTimeoutMs, realTimers).then((r) => {
      if (!r.ok) {
        socket.destroy();
        callback(new Error(`invalid PROXY header: ${r.reason}`));
        return;
      }
      const options: SMTPConnectionOptions & { id: string } = { id };
      if (r.header.kind === 'proxied' && net.isIP(r.header.source.address)) {
        options.remoteAddress = r.header.source.address;
        options.remotePort = r.header.source.port;
      }
      options.ignore = this.options.ignoredHosts?.includes(options.remoteAddress ?? socket.remoteAddress ?? '') ?? false;
      callback(null, options);
    });
  }
}
