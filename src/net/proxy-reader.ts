// Reads the PROXY header (v1 or v2) that must open a connection when required, bounded in bytes and time.
// Must not consume what follows the header: those octets are pushed back for the session (or for TLS).

import type net from 'node:net';
import { type ProxyHeader, parseProxyHeader, proxyHeaderBytesMax } from './proxy-protocol.ts';
import type { Timers } from './timers.ts';

export type ProxyReadResult = { readonly ok: true; readonly header: ProxyHeader } | { readonly ok: false; readonly reason: string };

/** Leaves the socket paused, with any octets after the header unshifted onto it. */
export function readProxyHeader(socket: net.Socket, timeoutMs: number, timers: Timers): Promise<ProxyReadResult> {
  return new Promise((resolve) => {
    let buffer = new Uint8Array(0);
    let settled = false;
    const finish = (result: ProxyReadResult): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      const joined = new Uint8Array(buffer.length + chunk.length);
      joined.set(buffer, 0);
      joined.set(chunk, buffer.length);
      buffer = joined;
      const parsed = parseProxyHeader(buffer);
      if (parsed.status === 'invalid') return finish({ ok: false, reason: parsed.reason });
      if (parsed.status === 'incomplete') {
        if (buffer.length > proxyHeaderBytesMax) finish({ ok: false, reason: 'header too long' });
        return;
      }
      // Pause before giving bytes back: a flowing stream without our listener would drop them.
      finish({ ok: true, header: parsed.header });
      const rest = buffer.subarray(parsed.headerBytes);
      if (rest.length > 0) socket.unshift(Buffer.from(rest));
    };
    const onEnd = (): void => finish({ ok: false, reason: 'connection closed before the PROXY header' });
    const timer = timers.setTimeout(() => finish({ ok: false, reason: 'PROXY header timeout' }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume(); // accepted paused (pauseOnConnect): a 'data' listener alone does not start the flow
  });
}
