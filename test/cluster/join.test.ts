// Joining over loopback: a one-time, expiring token; the joiner pins the CA from the token; the member
// signs the CSR and admits the joiner, whose new certificate then works on the mutual-TLS transport.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issuedBy, nodeIdOfCert } from '../../src/cluster/ca.ts';
import { issueIdentity } from '../../src/cluster/identity.ts';
import { JoinError, JoinService, requestJoin } from '../../src/cluster/join.ts';
import { decodeJoinToken, encodeJoinToken } from '../../src/cluster/join-token.ts';
import type { PeerAddress } from '../../src/cluster/tls-dial.ts';
import { TlsTransport } from '../../src/cluster/tls-transport.ts';
import { nodeId } from '../../src/raft/types.ts';
import { quiet } from './fixtures.ts';

test('a token admits one node once; the certificate it gets works on the transport', async () => {
  const ca = await createCa('join', new Date());
  const n1 = await issueIdentity(ca, 'n1', new Date(), true);
  const t1 = await TlsTransport.listen({ identity: n1, listen: { host: '127.0.0.1', port: 0 }, peers: [], logger: quiet });
  const admitted: [string, PeerAddress][] = [];
  let clock = Date.now();
  const join = await JoinService.listen({
    identity: n1,
    listen: { host: '127.0.0.1', port: 0 },
    members: () => [['n1', t1.address()], ...t1.members()],
    admit: async (id, addr) => {
      admitted.push([id, addr]);
      t1.setPeer(id, addr);
    },
    nowMs: () => clock,
  });
  let t4: TlsTransport | undefined;
  try {
    const { token } = join.issue(60_000);
    const r = await requestJoin(token, 'n4', { host: '127.0.0.1', port: 1 });
    assert.equal(nodeIdOfCert(r.identity.certPem), 'n4');
    assert.ok(issuedBy(r.identity.certPem, ca.certPem, new Date()));
    assert.equal(r.identity.ca, undefined, 'a joiner never gets the CA key');
    assert.deepEqual(r.members.map(([id]) => id), ['n1']);
    assert.deepEqual(admitted, [['n4', { host: '127.0.0.1', port: 1 }]]);

    // The same token again: refused. So is a wrong secret, and an expired token.
    await assert.rejects(requestJoin(token, 'n5', { host: '127.0.0.1', port: 2 }), (e: JoinError) => e.code === 'BAD_TOKEN');
    const t = decodeJoinToken(join.issue(60_000).token);
    await assert.rejects(requestJoin(encodeJoinToken({ ...t, secret: 'A'.repeat(43) }), 'n5', { host: '127.0.0.1', port: 2 }), (e: JoinError) => e.code === 'BAD_TOKEN');
    await assert.rejects(requestJoin(encodeJoinToken(t), 'n5', { host: '127.0.0.1', port: 2 }), (e: JoinError) => e.code === 'BAD_TOKEN', 'the wrong secret spent it');
    const late = join.issue(1_000).token;
    clock += 2_000;
    await assert.rejects(requestJoin(late, 'n5', { host: '127.0.0.1', port: 2 }, Date.now()), (e: JoinError) => e.code === 'BAD_TOKEN' && /expired/.test(e.message));
    // A member's id cannot be taken over.
    await assert.rejects(requestJoin(join.issue().token, 'n1', { host: '127.0.0.1', port: 2 }), (e: JoinError) => e.code === 'BAD_NODE_ID');
    // A token whose pinned CA is another cluster's: the joiner refuses the server, sending nothing.
    const other = await createCa('other', new Date());
    const { certFingerprint } = await import('../../src/cluster/ca.ts');
    const forged = encodeJoinToken({ ...decodeJoinToken(join.issue().token), caFingerprint: certFingerprint(other.certPem) });
    await assert.rejects(requestJoin(forged, 'n6', { host: '127.0.0.1', port: 2 }), (e: JoinError) => e.code === 'UNREACHABLE' && /fingerprint/.test(e.message));
    assert.equal(admitted.length, 1);

    // The joiner's identity is accepted by the member's transport (it was admitted), both ways.
    t4 = await TlsTransport.listen({ identity: r.identity, listen: { host: '127.0.0.1', port: 0 }, peers: r.members, logger: quiet });
    t1.setPeer('n4', t4.address());
    t1.serve('hello', async (from) => `hello ${from}`);
    t4.serve('hello', async (from) => `hello ${from}`);
    assert.equal(await t4.request(nodeId('n1'), 'hello', {}), 'hello n4');
    assert.equal(await t1.request(nodeId('n4'), 'hello', {}), 'hello n1');
    assert.throws(() => decodeJoinToken('stormo-join-1.garbage'), /damaged/);
  } finally {
    await t4?.close();
    await join.close();
    await t1.close();
  }
});

test('a node without the CA key cannot run the join service', async () => {
  const ca = await createCa('x', new Date());
  const n2 = await issueIdentity(ca, 'n2', new Date(), false);
  await assert.rejects(JoinService.listen({ identity: n2, listen: { host: '127.0.0.1', port: 0 }, members: () => [], admit: async () => {} }), (e: JoinError) => e.code === 'CANNOT_ISSUE');
});
