// Join tokens: what a member hands an operator so a new node can join: the CA fingerprint to pin, the
// address of the member's join service, a token id and a secret, an expiry. Pure: encoding and checks only.

import { randomBytes } from 'node:crypto';

const prefix = 'stormo-join-1.';
/** Bytes of randomness in a token's secret. */
export const joinSecretBytes = 32;

export interface JoinToken {
  /** SHA-256 of the cluster CA certificate's DER, lower-case hex: the joiner trusts only a server chained to it. */
  readonly caFingerprint: string;
  /** The member's join service. */
  readonly host: string;
  readonly port: number;
  /** Names the token at the member (its secret is kept there as a hash only). */
  readonly id: string;
  /** base64url; proves the joiner was given this token. */
  readonly secret: string;
  /** Milliseconds since the epoch after which the member refuses it. */
  readonly expiresAtMs: number;
}

export class JoinTokenError extends Error {
  readonly code = 'BAD_TOKEN';
  constructor(message: string) {
    super(message);
    this.name = 'JoinTokenError';
  }
}

export function newTokenParts(): { id: string; secret: string } {
  return { id: randomBytes(8).toString('hex'), secret: randomBytes(joinSecretBytes).toString('base64url') };
}

export function encodeJoinToken(t: JoinToken): string {
  const body = [t.caFingerprint, t.host, t.port, t.id, t.secret, t.expiresAtMs];
  return prefix + Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function decodeJoinToken(text: string): JoinToken {
  const s = text.trim();
  if (!s.startsWith(prefix) || s.length > 1024) throw new JoinTokenError('not a stormo join token (it starts with stormo-join-1.)');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s.slice(prefix.length), 'base64url').toString('utf8'));
  } catch {
    throw new JoinTokenError('the join token is damaged (copy it whole)');
  }
  if (!Array.isArray(v) || v.length !== 6) throw new JoinTokenError('the join token is damaged (copy it whole)');
  const [ca, host, port, id, secret, exp] = v as unknown[];
  const ok =
    typeof ca === 'string' && /^[0-9a-f]{64}$/.test(ca) &&
    typeof host === 'string' && host.length > 0 && host.length <= 253 &&
    typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65_536 &&
    typeof id === 'string' && /^[0-9a-f]{16}$/.test(id) &&
    typeof secret === 'string' && /^[A-Za-z0-9_-]{43}$/.test(secret) &&
    typeof exp === 'number' && Number.isSafeInteger(exp);
  if (!ok) throw new JoinTokenError('the join token is damaged (copy it whole)');
  return { caFingerprint: ca, host, port, id, secret, expiresAtMs: exp };
}
