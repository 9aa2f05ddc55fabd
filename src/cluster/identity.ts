// A node's identity on disk: <dataDir>/cluster/{ca.pem, node.pem, node-key.pem, ca-key.pem} and their checks.
// Files only (private keys mode 0600, never overwritten); the crypto is ca.ts, the sockets tls-transport.ts.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IdentityError, type KeyAndCert, checkNodeId, createCa, issueNodeIdentity, issuedBy, nodeIdOfCert } from './ca.ts';

export interface IdentityPaths {
  /** The cluster CA's certificate: the only trust anchor of the inter-node transport. */
  caFile: string;
  /** This node's certificate, signed by the CA, naming its node id. */
  certFile: string;
  /** This node's private key (mode 0600). */
  keyFile: string;
  /** The CA's private key (mode 0600), only on nodes that sign joiners' certificates. */
  caKeyFile?: string | undefined;
}

/** A node's loaded identity: what the TLS transport and the join service need. */
export interface NodeIdentity {
  readonly nodeId: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Present where this node may sign certificates for joiners. */
  readonly ca: KeyAndCert | undefined;
}

export function identityPaths(dataDir: string): Required<IdentityPaths> {
  const dir = join(dataDir, 'cluster');
  return {
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'node.pem'),
    keyFile: join(dir, 'node-key.pem'),
    caKeyFile: join(dir, 'ca-key.pem'),
  };
}

/** A new cluster: its CA and the first node's identity, written under `dataDir`. Refuses to overwrite. */
export async function initIdentity(dataDir: string, nodeId: string, now: Date): Promise<NodeIdentity> {
  checkNodeId(nodeId);
  const ca = await createCa(nodeId, now);
  const node = await issueNodeIdentity(ca, nodeId, now);
  const id: NodeIdentity = { nodeId, caPem: ca.certPem, certPem: node.certPem, keyPem: node.keyPem, ca };
  await writeIdentity(identityPaths(dataDir), id);
  return id;
}

/** A node identity signed by a CA at hand (local clusters: every node made by one process). */
export async function issueIdentity(ca: KeyAndCert, nodeId: string, now: Date, keepCaKey: boolean): Promise<NodeIdentity> {
  const node = await issueNodeIdentity(ca, nodeId, now);
  return { nodeId, caPem: ca.certPem, certPem: node.certPem, keyPem: node.keyPem, ca: keepCaKey ? ca : undefined };
}

/** Write identity files; keys 0600 in a 0700 folder. Existing files are never replaced (FILES). */
export async function writeIdentity(paths: IdentityPaths, id: NodeIdentity): Promise<void> {
  await mkdir(join(paths.certFile, '..'), { recursive: true, mode: 0o700 });
  const files: [string, string, number][] = [
    [paths.caFile, id.caPem, 0o644],
    [paths.certFile, id.certPem, 0o644],
    [paths.keyFile, id.keyPem, 0o600],
  ];
  if (id.ca !== undefined) {
    if (paths.caKeyFile === undefined) throw new IdentityError('FILES', 'no path for the CA key');
    files.push([paths.caKeyFile, id.ca.keyPem, 0o600]);
  }
  for (const [file, text, mode] of files) {
    try {
      await writeFile(file, text, { mode, flag: 'wx' });
    } catch (e) {
      const exists = (e as NodeJS.ErrnoException).code === 'EEXIST';
      throw new IdentityError('FILES', exists ? `${file} exists: this data folder already has a cluster identity` : `cannot write ${file}`, { cause: e });
    }
    await chmod(file, mode);
  }
}

/**
 * Load and check an identity: the certificate is issued by the CA, valid now, names `nodeId`, and
 * matches the key; the CA key (if its file exists) matches the CA certificate.
 */
export async function loadIdentity(paths: IdentityPaths, nodeId: string, now: Date): Promise<NodeIdentity> {
  const caPem = await readText(paths.caFile);
  const certPem = await readText(paths.certFile);
  const keyPem = await readText(paths.keyFile);
  const named = nodeIdOfCert(certPem);
  if (named !== nodeId) throw new IdentityError('FILES', `${paths.certFile} names node ${named ?? '(none)'}, not ${nodeId}`);
  if (!issuedBy(certPem, caPem, now)) throw new IdentityError('FILES', `${paths.certFile} is not a valid certificate of the CA in ${paths.caFile}`);
  checkKeyPair(certPem, keyPem, paths.keyFile);
  let ca: KeyAndCert | undefined;
  const caKeyPem = paths.caKeyFile === undefined ? undefined : await readText(paths.caKeyFile).catch(() => undefined);
  if (caKeyPem !== undefined) {
    checkKeyPair(caPem, caKeyPem, paths.caKeyFile!);
    ca = { certPem: caPem, keyPem: caKeyPem };
  }
  return { nodeId, caPem, certPem, keyPem, ca };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new IdentityError('FILES', `cannot read ${file} (run stormo init or stormo join first)`, { cause: e });
  }
}

function checkKeyPair(certPem: string, keyPem: string, keyFile: string): void {
  let ok: boolean;
  try {
    ok = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch (e) {
    throw new IdentityError('BAD_PEM', `${keyFile} is not a readable private key`, { cause: e });
  }
  if (!ok) throw new IdentityError('BAD_PEM', `${keyFile} does not match its certificate`);
}
