// Mutual-TLS socket options and the outbound dial (TLS 1.3 only, the cluster CA the only trust anchor,
// the peer's certificate must name the node dialled). Sockets only: no framing beyond the hello.

import tls from 'node:tls';
import { nodeIdOfPeer } from './ca.ts';
import type { NodeIdentity } from './identity.ts';
import { type Channel, encodeHello } from './peer-wire.ts';
import { frame } from './raft-wire.ts';

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** What every inter-node TLS context shares: our key and certificate, the cluster CA alone, TLS 1.3 only. */
export function tlsBase(id: NodeIdentity): tls.SecureContextOptions {
  return { key: id.keyPem, cert: id.certPem, ca: id.caPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };
}

export function serverOptions(id: NodeIdentity, handshakeTimeoutMs: number): tls.TlsOptions {
  return { ...tlsBase(id), requestCert: true, rejectUnauthorized: true, handshakeTimeout: handshakeTimeoutMs };
}

export class DialError extends Error {
  constructor(message: string, o: { cause?: unknown } = {}) {
    super(message, { cause: o.cause });
    this.name = 'DialError';
  }
}

/**
 * Connect to `peer` at `addr`, check that its certificate (issued by the cluster CA) names `peer`,
 * and introduce ourselves for `channel`. Resolves with the open socket; rejects with DialError.
 */
export function dial(self: NodeIdentity, peer: string, addr: PeerAddress, channel: Channel, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      ...tlsBase(self),
      host: addr.host,
      port: addr.port,
      rejectUnauthorized: true,
      // Host names mean nothing here: a peer is who its certificate names (CN and SAN URI).
      checkServerIdentity: (_host, cert) => {
        const named = nodeIdOfPeer(cert);
        return named === peer ? undefined : new DialError(`the certificate at ${addr.host}:${addr.port} names ${named ?? 'no node'}, not ${peer}`);
      },
    });
    s.setNoDelay(true);
    const timer = setTimeout(() => s.destroy(new DialError(`connect to ${peer} timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      s.destroy();
      reject(e instanceof DialError ? e : new DialError(`cannot connect to ${peer} at ${addr.host}:${addr.port}: ${e.message}`, { cause: e }));
    };
    s.once('error', fail);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.off('error', fail);
      s.on('error', () => {}); // the owner watches 'close', which follows every error
      s.write(frame(encodeHello({ from: self.nodeId, channel })));
      resolve(s);
    });
  });
}
