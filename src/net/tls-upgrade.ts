// Server-side TLS over an accepted TCP socket, for implicit TLS (995/993) and STLS/STARTTLS: one bounded handshake.
// Must not hold session state; bytes already buffered on the TCP socket (after a PROXY header) go to TLS first.

import type net from 'node:net';
import tls from 'node:tls';
import type { Timers } from './timers.ts';

export type TlsUpgradeResult = { readonly ok: true; readonly socket: tls.TLSSocket } | { readonly ok: false; readonly reason: string };

/**
 * Wraps `raw` (which must have no 'data' listener left) and waits for the handshake, at most `timeoutMs`.
 * On failure the sockets are destroyed. The TLS socket keeps an 'error' listener: no error can go unhandled.
 */
export function upgradeToTls(raw: net.Socket, secureContext: tls.SecureContext, timeoutMs: number, timers: Timers): Promise<TlsUpgradeResult> {
  return new Promise((resolve) => {
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
    let settled = false;
    const finish = (result: TlsUpgradeResult): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      if (!result.ok) socket.destroy();
      resolve(result);
    };
    const timer = timers.setTimeout(() => finish({ ok: false, reason: 'handshake timeout' }), timeoutMs);
    socket.once('secure', () => finish({ ok: true, socket }));
    socket.on('error', (e: Error) => finish({ ok: false, reason: e.message }));
    socket.once('close', () => finish({ ok: false, reason: 'closed during handshake' }));
  });
}
