// Socket plumbing a protocol session repeats: its event handlers on and off, across STLS/STARTTLS, and the graceful close.
// Must not read or write protocol data nor hold session state: the session passes its handlers and decides when.

import type net from 'node:net';
import type tls from 'node:tls';
import type { Timers } from './timers.ts';
import { type TlsUpgradeResult, upgradeToTls } from './tls-upgrade.ts';

/** The events a session follows on its client socket. */
export interface SocketHandlers {
  readonly data: (chunk: Buffer) => void;
  readonly end: () => void;
  readonly close: () => void;
  readonly drain: () => void;
  readonly error: (e: Error) => void;
}

export function attachSocket(socket: net.Socket, h: SocketHandlers): void {
  socket.on('data', h.data);
  socket.on('end', h.end);
  socket.on('close', h.close);
  socket.on('drain', h.drain);
  socket.on('error', h.error);
}

export function detachSocket(socket: net.Socket, h: SocketHandlers): void {
  socket.off('data', h.data);
  socket.off('end', h.end);
  socket.off('close', h.close);
  socket.off('drain', h.drain);
  socket.off('error', h.error);
}

/**
 * Ends our side of a socket whose handlers are detached, and destroys it after `lingerMs` if the client has not
 * closed by then. Unread input is drained so the kernel sends FIN rather than RST, which could discard our last
 * reply. `end` ends the socket (default `socket.end()`; a compressed session flushes its stream first).
 */
export function endGracefully(socket: net.Socket, timers: Timers, lingerMs: number, end: () => void = () => socket.end()): void {
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.resume();
  end();
  timers.setTimeout(() => socket.destroy(), lingerMs);
}

/**
 * STLS/STARTTLS on a live session: moves `h` from `raw` to the TLS socket once the handshake succeeds (at most
 * `timeoutMs`); on failure `raw` is destroyed and `h` stays detached. The caller discards input read before.
 */
export async function upgradeInPlace(raw: net.Socket, h: SocketHandlers, secureContext: tls.SecureContext, timeoutMs: number, timers: Timers): Promise<TlsUpgradeResult> {
  detachSocket(raw, h);
  raw.on('error', () => {}); // errors now surface on the TLS socket; this one must not crash the process
  const upgraded = await upgradeToTls(raw, secureContext, timeoutMs, timers);
  if (!upgraded.ok) {
    raw.destroy();
    return upgraded;
  }
  attachSocket(upgraded.socket, h);
  return upgraded;
}
