// Identities and transports for cluster tests: a CA, node identities in memory, transports on loopback.
// Test support only: ephemeral ports, everything closed by the caller.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type KeyAndCert, createCa } from '../../src/cluster/ca.ts';
import { type NodeIdentity, issueIdentity } from '../../src/cluster/identity.ts';
import { TlsTransport, type TlsTransportLimits } from '../../src/cluster/tls-transport.ts';

export const quiet = { warn: () => {} };

export async function makeCluster(ids: readonly string[]): Promise<{ ca: KeyAndCert; identities: Map<string, NodeIdentity> }> {
  const ca = await createCa('test', new Date());
  const identities = new Map<string, NodeIdentity>();
  for (const id of ids) identities.set(id, await issueIdentity(ca, id, new Date(), false));
  return { ca, identities };
}

/** Transports for every identity, all members of each other, listening on ephemeral loopback ports. */
export async function startTransports(identities: Map<string, NodeIdentity>, limits: Partial<TlsTransportLimits> = {}): Promise<Map<string, TlsTransport>> {
  const out = new Map<string, TlsTransport>();
  for (const [id, identity] of identities) {
    out.set(id, await TlsTransport.listen({ identity, listen: { host: '127.0.0.1', port: 0 }, peers: [], limits, logger: quiet }));
  }
  for (const t of out.values()) for (const [id, o] of out) t.setPeer(id, o.address());
  return out;
}

export async function closeAll(ts: Iterable<TlsTransport>): Promise<void> {
  await Promise.all([...ts].map((t) => t.close()));
}

/** A self-signed certificate naming `id` exactly as a real node certificate would (openssl, P-256). */
export async function selfSigned(id: string): Promise<{ certPem: string; keyPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-selfsigned-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${id}`,
      '-addext', `subjectAltName=URI:stormo://node/${id}`, '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'),
    ]);
    return { certPem: await readFile(join(dir, 'c.pem'), 'utf8'), keyPem: await readFile(join(dir, 'k.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function until(cond: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
