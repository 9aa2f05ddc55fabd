// The cluster's certificate authority: an ECDSA P-256 CA, node key pairs with CSRs, node certificates
// naming their node id (CN and SAN URI stormo://node/<id>). Pure crypto on PEM strings: no files, no sockets.

import { X509Certificate as NodeX509, createHash, randomBytes, webcrypto } from 'node:crypto';
// tsyringe, inside @peculiar/x509, needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { caValidityDays, certBackdateMs, nodeCertValidityDays } from './limits.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signing = { name: 'ECDSA', hash: 'SHA-256' } as const;
const dayMs = 24 * 60 * 60 * 1000;
/** The SAN URI prefix that names a node; the id follows it. */
export const nodeUriPrefix = 'stormo://node/';
/** What a node id may be (the config's rule): 1-63 of a-z, 0-9, '-', not starting with '-'. */
export const nodeIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

export type IdentityErrorCode =
  /** A PEM file or string could not be parsed, or a key does not match its certificate. */
  | 'BAD_PEM'
  /** A CSR whose signature does not verify (the requester does not hold the key). */
  | 'BAD_CSR'
  /** A node id outside nodeIdPattern. */
  | 'BAD_NODE_ID'
  /** Identity files missing, or present where a new identity would overwrite them. */
  | 'FILES';

export class IdentityError extends Error {
  readonly code: IdentityErrorCode;
  constructor(code: IdentityErrorCode, message: string, o: { cause?: unknown } = {}) {
    super(message, { cause: o.cause });
    this.name = 'IdentityError';
    this.code = code;
  }
}

export interface KeyAndCert {
  readonly certPem: string;
  /** PKCS#8 PEM of the private key. */
  readonly keyPem: string;
}

export function checkNodeId(id: string): string {
  if (!nodeIdPattern.test(id)) throw new IdentityError('BAD_NODE_ID', `node id ${JSON.stringify(id)}: 1-63 of a-z, 0-9, -`);
  return id;
}

/** A fresh self-signed CA for one cluster; `name` goes into its subject only (for people reading it). */
export async function createCa(name: string, now: Date): Promise<KeyAndCert> {
  const keys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=stormo cluster CA ${cnSafe(name)}`,
    notBefore: new Date(now.getTime() - certBackdateMs),
    notAfter: new Date(now.getTime() + caValidityDays * dayMs),
    signingAlgorithm: signing,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pem(cert.toString('pem')), keyPem: await exportKey(keys.privateKey) };
}

/** A node's key pair and a CSR for it (signed by that key, so the CA can check possession). */
export async function createNodeCsr(id: string): Promise<{ keyPem: string; csrPem: string }> {
  checkNodeId(id);
  const keys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${id}`, keys, signingAlgorithm: signing });
  return { keyPem: await exportKey(keys.privateKey), csrPem: pem(csr.toString('pem')) };
}

/**
 * Sign a node certificate for `id` over the CSR's public key. The subject comes from `id` (decided
 * by the CA's side), never from the CSR's own subject; the CSR's signature must verify.
 */
export async function signNodeCsr(ca: KeyAndCert, csrPem: string, id: string, now: Date): Promise<string> {
  checkNodeId(id);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw new IdentityError('BAD_CSR', 'the CSR is not a PKCS#10 request', { cause: e });
  }
  const verified = await csr.verify().catch((e: unknown) => {
    throw new IdentityError('BAD_CSR', 'the CSR key or signature is malformed', { cause: e });
  });
  if (!verified) throw new IdentityError('BAD_CSR', 'the CSR signature does not verify');
  const caCert = parseCert(ca.certPem);
  const caKey = await importKey(ca.keyPem);
  const publicKey = await csr.publicKey.export().catch((e: unknown) => {
    throw new IdentityError('BAD_CSR', 'the CSR key is not usable', { cause: e });
  });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${id}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - certBackdateMs),
    notAfter: new Date(now.getTime() + nodeCertValidityDays * dayMs),
    signingAlgorithm: signing,
    publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `${nodeUriPrefix}${id}` }]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return pem(cert.toString('pem'));
}

/** Key and certificate for `id` in one step (init, and local clusters where the CA key is at hand). */
export async function issueNodeIdentity(ca: KeyAndCert, id: string, now: Date): Promise<KeyAndCert> {
  const { keyPem, csrPem } = await createNodeCsr(id);
  return { keyPem, certPem: await signNodeCsr(ca, csrPem, id, now) };
}

/** SHA-256 of the certificate's DER, lower-case hex: what a join token pins. */
export function certFingerprint(certPem: string): string {
  return createHash('sha256').update(Buffer.from(parseCert(certPem).rawData)).digest('hex');
}

/** SHA-256 of a DER certificate (as node:tls hands out `raw`), lower-case hex. */
export function derFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * The node id a certificate names, or undefined unless its CN and its one stormo SAN URI agree and
 * form a valid id. Works on node:tls peer certificates (subject.CN, subjectaltname strings).
 */
export function nodeIdOfPeer(cert: { subject?: { CN?: string | string[] }; subjectaltname?: string } | undefined): string | undefined {
  if (cert === undefined || cert.subject === undefined) return undefined;
  const cn = cert.subject.CN;
  if (typeof cn !== 'string') return undefined;
  const uris = (cert.subjectaltname ?? '').split(', ').filter((n) => n.startsWith(`URI:${nodeUriPrefix}`));
  if (uris.length !== 1) return undefined;
  const id = uris[0]!.slice(`URI:${nodeUriPrefix}`.length);
  return id === cn && nodeIdPattern.test(id) ? id : undefined;
}

/** The node id of a PEM certificate (same rule as nodeIdOfPeer). */
export function nodeIdOfCert(certPem: string): string | undefined {
  let c: NodeX509;
  try {
    c = new NodeX509(certPem);
  } catch {
    return undefined;
  }
  const cn = /^CN=(.*)$/m.exec(c.subject)?.[1];
  return nodeIdOfPeer({ subject: cn === undefined ? {} : { CN: cn }, subjectaltname: c.subjectAltName ?? '' });
}

/** True when `certPem` was signed by `caPem`'s key and is valid at `now`. */
export function issuedBy(certPem: string, caPem: string, now: Date): boolean {
  try {
    const c = new NodeX509(certPem);
    const ca = new NodeX509(caPem);
    const t = now.getTime();
    return c.checkIssued(ca) && c.verify(ca.publicKey) && Date.parse(c.validFrom) <= t && t <= Date.parse(c.validTo);
  } catch {
    return false;
  }
}

function parseCert(pem: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (e) {
    throw new IdentityError('BAD_PEM', 'not a PEM certificate', { cause: e });
  }
}

async function exportKey(k: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k));
  return pem(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

async function importKey(pem: string): Promise<CryptoKey> {
  try {
    const der = x509.PemConverter.decode(pem)[0]!;
    return await webcrypto.subtle.importKey('pkcs8', der, ecdsa, false, ['sign']);
  } catch (e) {
    throw new IdentityError('BAD_PEM', 'the CA key is not a PKCS#8 P-256 key', { cause: e });
  }
}

/** 16 random bytes, high bit clear (a positive INTEGER, RFC 5280 §4.1.2.2). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

/** PEM text ends with a newline, so PEM blocks concatenate into a chain. */
function pem(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}

function cnSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9 .-]/g, '').slice(0, 40);
}
