// Joining a cluster: a member's join service (one-time tokens, CSR signing, admitting the joiner) and the
// joiner's side (pin the CA from the token, prove the secret, get a certificate). Sockets and crypto; no Raft.

import { X509Certificate, createHash, timingSafeEqual } from 'node:crypto';
import tls from 'node:tls';
import { Packr } from 'msgpackr';
import { checkNodeId, createNodeCsr, derFingerprint, signNodeCsr } from './ca.ts';
import type { NodeIdentity } from './identity.ts';
import { type JoinToken, decodeJoinToken, encodeJoinToken, newTokenParts } from './join-token.ts';
import * as L from './limits.ts';
import { FrameReader, frame } from './raft-wire.ts';
import type { PeerAddress } from './tls-dial.ts';

const packr = new Packr({ useRecords: false });
const requestTag = 'stormo-join';
const joinWireVersion = 1;

export type JoinErrorCode =
  /** Unknown, used, expired or wrong token. */
  | 'BAD_TOKEN'
  /** The node id is taken by a member, or invalid. */
  | 'BAD_NODE_ID'
  /** The joiner's CSR did not verify. */
  | 'BAD_CSR'
  /** This node holds no CA key, or has too many unused tokens. */
  | 'CANNOT_ISSUE'
  /** The member could not add the joiner to the group. */
  | 'ADMIT_FAILED'
  /** The join service is unreachable, or is not the pinned cluster's. */
  | 'UNREACHABLE'
  /** The exchange broke the protocol or took too long. */
  | 'PROTOCOL';

export class JoinError extends Error {
  readonly code: JoinErrorCode;
  constructor(code: JoinErrorCode, message: string, o: { cause?: unknown } = {}) {
    super(message, { cause: o.cause });
    this.name = 'JoinError';
    this.code = code;
  }
}

export interface JoinServiceOptions {
  /** This member's identity; it must hold the CA key (identity.ca). */
  identity: NodeIdentity;
  listen: PeerAddress;
  /** The host tokens name (what joiners dial, with the bound port); default: the bound listen host. */
  advertiseHost?: string | undefined;
  /** Current members (this node included) and their inter-node addresses: ids taken, and the joiner's peer list. */
  members: () => Iterable<readonly [string, PeerAddress]>;
  /** Add the joiner to the group (a Raft learner) at its inter-node address. Rejects if it cannot. */
  admit: (nodeId: string, addr: PeerAddress) => Promise<void>;
  nowMs?: () => number;
  logger?: { info(f: Record<string, unknown>, msg: string): void; warn(f: Record<string, unknown>, msg: string): void };
}

interface Issued {
  readonly secretDigest: Buffer;
  readonly expiresAtMs: number;
}

export interface JoinResult {
  readonly identity: NodeIdentity;
  readonly members: readonly (readonly [string, PeerAddress])[];
}

/** The member side: TLS (server certificate only; the token authenticates the joiner), one exchange per connection. */
export class JoinService {
  private readonly o: JoinServiceOptions;
  private readonly server: tls.Server;
  private readonly tokens = new Map<string, Issued>();
  private readonly now: () => number;

  private constructor(o: JoinServiceOptions) {
    if (o.identity.ca === undefined) throw new JoinError('CANNOT_ISSUE', `${o.identity.nodeId} holds no CA key: run the join service on the node made by stormo init`);
    this.o = o;
    this.now = o.nowMs ?? Date.now;
    this.server = tls.createServer({
      key: o.identity.keyPem,
      cert: o.identity.certPem + o.identity.caPem, // the chain, so the joiner can match the pinned CA
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      handshakeTimeout: L.joinTimeoutMs,
    }, (s) => this.exchange(s));
    this.server.maxConnections = L.joinConnectionsMax;
    this.server.on('tlsClientError', () => {});
  }

  static async listen(o: JoinServiceOptions): Promise<JoinService> {
    const j = new JoinService(o);
    await new Promise<void>((resolve, reject) => {
      j.server.once('error', reject);
      j.server.listen(o.listen.port, o.listen.host, () => {
        j.server.off('error', reject);
        resolve();
      });
    });
    return j;
  }

  address(): PeerAddress {
    const a = this.server.address() as { address: string; port: number };
    return { host: a.address, port: a.port };
  }

  /** A one-time token, valid `ttlMs`. Only a digest of its secret is kept. */
  issue(ttlMs: number = L.joinTokenTtlMsDefault): { token: string; expiresAtMs: number } {
    if (!(Number.isInteger(ttlMs) && ttlMs > 0 && ttlMs <= L.joinTokenTtlMsMax)) throw new JoinError('CANNOT_ISSUE', `token lifetime must be 1..${L.joinTokenTtlMsMax} ms`);
    this.prune();
    if (this.tokens.size >= L.joinTokensMax) throw new JoinError('CANNOT_ISSUE', `${L.joinTokensMax} unused tokens outstanding: wait for some to expire`);
    const { id, secret } = newTokenParts();
    const expiresAtMs = this.now() + ttlMs;
    this.tokens.set(id, { secretDigest: digest(secret), expiresAtMs });
    const bound = this.address();
    const at = { host: this.o.advertiseHost ?? bound.host, port: bound.port };
    const caFingerprint = derFingerprint(new X509Certificate(this.o.identity.caPem).raw);
    const t: JoinToken = { caFingerprint, host: at.host, port: at.port, id, secret, expiresAtMs };
    return { token: encodeJoinToken(t), expiresAtMs };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private prune(): void {
    const t = this.now();
    for (const [id, x] of this.tokens) if (x.expiresAtMs <= t) this.tokens.delete(id);
  }

  /** Spend the token: it must exist, be unexpired and match; it is gone afterwards either way. */
  private spend(id: string, secret: string): void {
    const x = this.tokens.get(id);
    if (x === undefined) throw new JoinError('BAD_TOKEN', 'unknown or already used token');
    this.tokens.delete(id); // one attempt per token: a wrong secret spends it too
    if (!timingSafeEqual(x.secretDigest, digest(secret))) throw new JoinError('BAD_TOKEN', 'wrong token secret');
    if (x.expiresAtMs <= this.now()) throw new JoinError('BAD_TOKEN', 'the token expired');
  }

  private exchange(s: tls.TLSSocket): void {
    const reader = new FrameReader(L.joinFrameBytesMax);
    const timer = setTimeout(() => s.destroy(), L.joinTimeoutMs);
    let started = false;
    s.on('error', () => {});
    s.on('close', () => clearTimeout(timer));
    s.on('data', (chunk: Buffer) => {
      let bodies: Buffer[];
      try {
        bodies = reader.push(chunk);
      } catch {
        return void s.destroy();
      }
      if (bodies.length === 0 || started) return;
      started = true;
      this.handle(bodies[0]!).then(
        (answer) => s.end(frame(packr.pack(['ok', ...answer]))),
        (e: unknown) => {
          const je = e instanceof JoinError ? e : new JoinError('PROTOCOL', (e as Error).message);
          this.o.logger?.warn({ subsystem: 'cluster', event: 'joinRefused', code: je.code, err: je.message, remote: s.remoteAddress }, 'join refused');
          s.end(frame(packr.pack(['error', je.code, je.message])));
        },
      );
    });
  }

  private async handle(body: Buffer): Promise<unknown[]> {
    const v = unpackSafe(body);
    if (!Array.isArray(v) || v.length !== 8 || v[0] !== requestTag || v[1] !== joinWireVersion) throw new JoinError('PROTOCOL', 'not a join request');
    const [, , tokenId, secret, id, csrPem, host, port] = v as unknown[];
    if (typeof tokenId !== 'string' || typeof secret !== 'string') throw new JoinError('BAD_TOKEN', 'no token');
    this.spend(tokenId, secret);
    if (typeof id !== 'string') throw new JoinError('BAD_NODE_ID', 'no node id');
    try {
      checkNodeId(id);
    } catch (e) {
      throw new JoinError('BAD_NODE_ID', (e as Error).message);
    }
    const members = [...this.o.members()];
    if (id === this.o.identity.nodeId || members.some(([m]) => m === id)) throw new JoinError('BAD_NODE_ID', `${id} is already a member`);
    if (typeof host !== 'string' || host.length === 0 || host.length > 253 || typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65_535) {
      throw new JoinError('PROTOCOL', 'the joiner gave no valid inter-node address');
    }
    let certPem: string;
    try {
      certPem = await signNodeCsr(this.o.identity.ca!, String(csrPem), id, new Date(this.now()));
    } catch (e) {
      throw new JoinError('BAD_CSR', (e as Error).message, { cause: e });
    }
    try {
      await this.o.admit(id, { host, port });
    } catch (e) {
      throw new JoinError('ADMIT_FAILED', `${id} could not be added: ${(e as Error).message}`, { cause: e });
    }
    this.o.logger?.info({ subsystem: 'cluster', event: 'joined', joiner: id, host, port }, 'a node joined as a learner');
    return [certPem, this.o.identity.caPem, members.map(([m, a]) => [m, a.host, a.port])];
  }
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function unpackSafe(body: Uint8Array): unknown {
  try {
    return packr.unpack(body);
  } catch {
    throw new JoinError('PROTOCOL', 'undecodable join frame');
  }
}

/**
 * The joiner's side: make a key and CSR for `nodeId`, reach the member named in the token over TLS,
 * accept it only if its chain leads to the pinned CA, prove the token, and get the certificate back.
 * `addr` is where this node will listen for other members (they dial it).
 */
export async function requestJoin(tokenText: string, nodeId: string, addr: PeerAddress, nowMs: number = Date.now()): Promise<JoinResult> {
  const token = decodeJoinToken(tokenText);
  if (token.expiresAtMs <= nowMs) throw new JoinError('BAD_TOKEN', 'the token expired; ask a member for a new one (stormo token)');
  checkNodeId(nodeId);
  const { keyPem, csrPem } = await createNodeCsr(nodeId);
  const s = await pinnedConnect(token);
  const answer = await new Promise<unknown>((resolve, reject) => {
    const reader = new FrameReader(L.joinFrameBytesMax);
    const timer = setTimeout(() => s.destroy(new JoinError('PROTOCOL', `no answer within ${L.joinTimeoutMs} ms`)), L.joinTimeoutMs);
    s.on('data', (chunk: Buffer) => {
      try {
        const [body] = reader.push(chunk);
        if (body !== undefined) resolve(unpackSafe(body));
      } catch (e) {
        s.destroy(e as Error);
      }
    });
    s.on('error', (e) => reject(e instanceof JoinError ? e : new JoinError('UNREACHABLE', e.message, { cause: e })));
    s.on('close', () => {
      clearTimeout(timer);
      reject(new JoinError('PROTOCOL', 'the member closed the connection without an answer'));
    });
    s.write(frame(packr.pack([requestTag, joinWireVersion, token.id, token.secret, nodeId, csrPem, addr.host, addr.port])));
  });
  s.destroy();
  return joinAnswer(answer, nodeId, keyPem);
}

function joinAnswer(v: unknown, nodeId: string, keyPem: string): JoinResult {
  if (Array.isArray(v) && v[0] === 'error' && typeof v[1] === 'string' && typeof v[2] === 'string') {
    throw new JoinError(v[1] as JoinErrorCode, `the member refused: ${v[2]}`);
  }
  if (!Array.isArray(v) || v[0] !== 'ok' || typeof v[1] !== 'string' || typeof v[2] !== 'string' || !Array.isArray(v[3])) {
    throw new JoinError('PROTOCOL', 'unexpected answer from the join service');
  }
  const members = (v[3] as unknown[]).map((m): readonly [string, PeerAddress] => {
    if (!Array.isArray(m) || typeof m[0] !== 'string' || typeof m[1] !== 'string' || typeof m[2] !== 'number') throw new JoinError('PROTOCOL', 'bad member list');
    return [m[0], { host: m[1], port: m[2] }];
  });
  return { identity: { nodeId, caPem: v[2], certPem: v[1], keyPem, ca: undefined }, members };
}

/** TLS to the token's address; the server's chain must contain the pinned CA and the leaf must be issued by it. */
function pinnedConnect(token: JoinToken): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    // Chain checked by hand below against the pinned fingerprint; the handshake still proves the server holds the leaf's key.
    const s = tls.connect({ host: token.host, port: token.port, rejectUnauthorized: false, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    const timer = setTimeout(() => s.destroy(new JoinError('UNREACHABLE', `no TLS handshake with ${token.host}:${token.port} within ${L.joinTimeoutMs} ms`)), L.joinTimeoutMs);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e instanceof JoinError ? e : new JoinError('UNREACHABLE', `cannot reach the join service at ${token.host}:${token.port}: ${e.message}`, { cause: e }));
    });
    s.once('secureConnect', () => {
      clearTimeout(timer);
      if (!chainsToPinnedCa(s.getPeerCertificate(true), token.caFingerprint)) {
        s.destroy();
        return reject(new JoinError('UNREACHABLE', `${token.host}:${token.port} is not a member of the cluster this token names (CA fingerprint mismatch)`));
      }
      resolve(s);
    });
  });
}

function chainsToPinnedCa(leaf: tls.DetailedPeerCertificate, caFingerprint: string): boolean {
  const ca = leaf.issuerCertificate;
  if (ca === undefined || ca.raw === undefined || derFingerprint(ca.raw) !== caFingerprint) return false;
  try {
    const l = new X509Certificate(leaf.raw);
    const c = new X509Certificate(ca.raw);
    const t = Date.now();
    return l.checkIssued(c) && l.verify(c.publicKey) && Date.parse(l.validFrom) <= t && t <= Date.parse(l.validTo);
  } catch {
    return false;
  }
}
