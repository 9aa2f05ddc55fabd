// One bounded request/response exchange over TCP, shared by the spamd and clamd clients.
// Owns timeouts, reply size bounds and error translation; knows nothing of either protocol.

import net from 'node:net';
import { FilterError, translateSocketError, type ScannerName } from './errors.ts';

export interface ExchangeOptions {
  readonly host: string;
  readonly port: number;
  /** The whole exchange, connect included. */
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly replyBytesMax: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Connects, lets `send` write the request (it may wait for drain), and collects the reply
 * until the server closes. Rejects with FilterError: TIMEOUT, UNAVAILABLE or PROTOCOL (reply too long).
 */
export function exchange(scanner: ScannerName, o: ExchangeOptions, send: (socket: net.Socket) => Promise<void>): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ host: o.host, port: o.port });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const finish = (err: FilterError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(total);
      clearTimeout(connecting);
      o.signal?.removeEventListener('abort', onAbort);
      if (err !== null) {
        socket.destroy();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks));
      }
    };
    const total = setTimeout(() => finish(new FilterError(scanner, 'TIMEOUT', `no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    const connecting = setTimeout(() => finish(new FilterError(scanner, 'TIMEOUT', `connect took over ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
    const onAbort = (): void => finish(new FilterError(scanner, 'TIMEOUT', 'abandoned by the caller', { cause: o.signal?.reason }));
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      clearTimeout(connecting);
      send(socket).catch((e: unknown) => finish(translateSocketError(scanner, e)));
    });
    socket.on('data', (b: Buffer) => {
      bytes += b.length;
      if (bytes > o.replyBytesMax) return finish(new FilterError(scanner, 'PROTOCOL', `reply over ${o.replyBytesMax} bytes`));
      chunks.push(b);
    });
    socket.once('error', (e) => finish(translateSocketError(scanner, e)));
    socket.once('close', () => finish(null));
  });
}

/** Writes and waits for the kernel to take it (backpressure), failing if the socket closed. */
export function write(socket: net.Socket, data: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(data, (err) => (err ? reject(err) : resolve()));
  });
}
