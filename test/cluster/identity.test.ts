// Node identity: the CA and node certificates (names, chain, validity), the files and their checks,
// and the peer frames' decoder refusing what a hostile peer could send.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityError, createCa, createNodeCsr, issuedBy, nodeIdOfCert, nodeIdOfPeer, signNodeCsr } from '../../src/cluster/ca.ts';
import { identityPaths, initIdentity, loadIdentity, writeIdentity } from '../../src/cluster/identity.ts';
import { decodeHello, decodeRpc, encodeRpc } from '../../src/cluster/peer-wire.ts';
import { Packr } from 'msgpackr';

test('a node certificate names its id in CN and SAN URI, chains to the CA, and the CSR must verify', async () => {
  const ca = await createCa('t', new Date());
  const other = await createCa('u', new Date());
  const { keyPem, csrPem } = await createNodeCsr('n7');
  const cert = await signNodeCsr(ca, csrPem, 'n7', new Date());
  assert.equal(nodeIdOfCert(cert), 'n7');
  assert.ok(issuedBy(cert, ca.certPem, new Date()));
  assert.ok(!issuedBy(cert, other.certPem, new Date()), 'not issued by another CA');
  assert.ok(!issuedBy(cert, ca.certPem, new Date(Date.now() + 6 * 365 * 24 * 3600 * 1000)), 'expires');
  assert.ok(keyPem.includes('PRIVATE KEY'));
  // The id is the CA side's decision: signing the same CSR for another id names that id.
  assert.equal(nodeIdOfCert(await signNodeCsr(ca, csrPem, 'n8', new Date())), 'n8');
  // One base64 character of the signed part changed: the signature no longer verifies.
  const lines = csrPem.split('\n');
  lines[2] = `${lines[2]!.slice(0, 10)}${lines[2]![10] === 'A' ? 'B' : 'A'}${lines[2]!.slice(11)}`;
  const tampered = lines.join('\n');
  await assert.rejects(signNodeCsr(ca, tampered, 'n7', new Date()), (e: IdentityError) => e.code === 'BAD_CSR');
  await assert.rejects(signNodeCsr(ca, csrPem, 'Bad Id', new Date()), (e: IdentityError) => e.code === 'BAD_NODE_ID');
  // CN and SAN must agree, exactly one stormo URI.
  assert.equal(nodeIdOfPeer({ subject: { CN: 'n1' }, subjectaltname: 'URI:stormo://node/n2' }), undefined);
  assert.equal(nodeIdOfPeer({ subject: { CN: 'n1' }, subjectaltname: 'URI:stormo://node/n1, URI:stormo://node/n1' }), undefined);
  assert.equal(nodeIdOfPeer({ subject: { CN: 'n1' }, subjectaltname: 'DNS:n1' }), undefined);
  assert.equal(nodeIdOfPeer({ subject: { CN: 'n1' }, subjectaltname: 'DNS:x, URI:stormo://node/n1' }), 'n1');
});

test('identity files: private keys 0600, never overwritten, checked on load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-identity-'));
  try {
    await initIdentity(dir, 'n1', new Date());
    const p = identityPaths(dir);
    for (const f of [p.keyFile, p.caKeyFile]) assert.equal((await stat(f)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'cluster'))).mode & 0o777, 0o700);
    const id = await loadIdentity(p, 'n1', new Date());
    assert.ok(id.ca !== undefined, 'the CA key is loaded where it is');
    await assert.rejects(initIdentity(dir, 'n1', new Date()), (e: IdentityError) => e.code === 'FILES' && /already has a cluster identity/.test(e.message));
    await assert.rejects(loadIdentity(p, 'n2', new Date()), (e: IdentityError) => e.code === 'FILES' && /names node n1, not n2/.test(e.message));
    await assert.rejects(loadIdentity({ ...p, caFile: join(dir, 'missing.pem') }, 'n1', new Date()), (e: IdentityError) => e.code === 'FILES');
    // Another node's key beside this certificate: refused.
    const dir2 = await mkdtemp(join(tmpdir(), 'stormo-identity-'));
    try {
      await initIdentity(dir2, 'n1', new Date());
      await writeFile(p.keyFile, await readFile(identityPaths(dir2).keyFile));
      await assert.rejects(loadIdentity(p, 'n1', new Date()), (e: IdentityError) => e.code === 'BAD_PEM');
      // A certificate of another CA: refused.
      await assert.rejects(loadIdentity({ ...identityPaths(dir2), caFile: p.caFile }, 'n1', new Date()), (e: IdentityError) => e.code === 'FILES' && /not a valid certificate of the CA/.test(e.message));
    } finally {
      await rm(dir2, { recursive: true, force: true });
    }
    // A joiner's identity has no CA key file.
    const dir3 = await mkdtemp(join(tmpdir(), 'stormo-identity-'));
    try {
      await writeIdentity(identityPaths(dir3), { ...id, ca: undefined });
      await assert.rejects(stat(identityPaths(dir3).caKeyFile));
      assert.equal((await loadIdentity(identityPaths(dir3), 'n1', new Date())).ca, undefined);
    } finally {
      await rm(dir3, { recursive: true, force: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('peer frames from the wire are checked field by field', () => {
  const packr = new Packr({ useRecords: false });
  const bad = [[], [0], [9, 1], [0, -1, 's', null], [0, 1, '', null], [0, 1, 'x'.repeat(200), null], [1, 1, false, 'WHATEVER', 'm', null], [1, 1, false, 'REMOTE', 5, null], 'str', 42];
  for (const v of bad) assert.throws(() => decodeRpc(packr.pack(v)), { name: 'WireError' }, JSON.stringify(v));
  assert.throws(() => decodeRpc(new Uint8Array([0xc1])), { name: 'WireError' });
  const f = decodeRpc(encodeRpc({ kind: 'failure', id: 3, code: 'REMOTE', message: 'x', remoteCode: 'NOT_FOUND' }));
  assert.deepEqual(f, { kind: 'failure', id: 3, code: 'REMOTE', message: 'x', remoteCode: 'NOT_FOUND' });
  assert.throws(() => decodeHello(packr.pack(['stormo-peer', 1, 'n1', 'gossip'])), /unknown channel/);
  assert.throws(() => decodeHello(packr.pack(['stormo-peer', 2, 'n1', 'raft'])), /version/);
  assert.deepEqual(decodeHello(packr.pack(['stormo-peer', 1, 'n1', 'rpc'])), { from: 'n1', channel: 'rpc' });
});
