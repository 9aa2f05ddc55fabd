// The mutual-TLS transport over loopback: Raft and RPC round trips, who is refused (other CA, self-signed,
// plain TCP, a certificate that does not match its claim, a non-member), large payloads beside heartbeats, restarts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Message, index, message, nodeId, term } from '../../src/raft/types.ts';
import { PeerError } from '../../src/cluster/peer.ts';
import { encodeHello } from '../../src/cluster/peer-wire.ts';
import { encodeMessage, frame } from '../../src/cluster/raft-wire.ts';
import { TlsTransport } from '../../src/cluster/tls-transport.ts';
import { closeAll, makeCluster, quiet, selfSigned, startTransports, until } from './fixtures.ts';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const n3 = nodeId('n3');
const beat = (from: string, to: string, commit = 0): Message => message({ type: 'heartbeat', from: nodeId(from), to: nodeId(to), term: term(3), commit: index(commit) });

test('Raft messages and RPC round trips between three nodes', async () => {
  const { identities } = await makeCluster(['n1', 'n2', 'n3']);
  const ts = await startTransports(identities);
  try {
    const got = new Map<string, Message[]>();
    for (const [id, t] of ts) t.onMessage((m) => got.set(id, [...(got.get(id) ?? []), m]));
    const entry = { term: term(3), index: index(7), kind: 'normal' as const, data: new Uint8Array([1, 2, 3]) };
    ts.get('n1')!.send([beat('n1', 'n2', 5), message({ type: 'app', from: n1, to: n3, term: term(3), entries: [entry] })]);
    await until(() => got.has('n2') && got.has('n3'), 5_000, 'raft delivery');
    assert.equal(got.get('n2')![0]!.commit, 5);
    assert.deepEqual(got.get('n3')![0]!.entries, [entry]);

    ts.get('n2')!.serve('echo', async (from, body) => ({ from, body }));
    ts.get('n2')!.serve('fails', async () => {
      throw Object.assign(new Error('no such blob'), { code: 'NOT_FOUND' });
    });
    const bytes = new Uint8Array([9, 8, 7]);
    const answer = (await ts.get('n1')!.request(n2, 'echo', { blob: bytes, n: 1 })) as { from: string; body: { blob: Uint8Array } };
    assert.equal(answer.from, 'n1');
    assert.equal(answer.body.blob.constructor, Uint8Array, 'binary arrives as a plain Uint8Array');
    assert.deepEqual([...answer.body.blob], [9, 8, 7]);
    await assert.rejects(ts.get('n1')!.request(n2, 'nope', {}), (e: PeerError) => e.code === 'NO_SERVICE');
    await assert.rejects(ts.get('n3')!.request(n2, 'fails', {}), (e: PeerError) => e.code === 'REMOTE' && e.remoteCode === 'NOT_FOUND' && /no such blob/.test(e.message));
    await assert.rejects(ts.get('n1')!.request(nodeId('n7'), 'echo', {}), (e: PeerError) => e.code === 'UNREACHABLE');
    // Concurrent requests are answered by id, out of order.
    ts.get('n3')!.serve('slow', async (_f, body) => {
      await sleep(body as number);
      return body;
    });
    const answers = await Promise.all([50, 1, 20].map((ms) => ts.get('n1')!.request(n3, 'slow', ms)));
    assert.deepEqual(answers, [50, 1, 20]);
  } finally {
    await closeAll(ts.values());
  }
});

test('deadlines, aborts and the frame limit give typed errors; the server sees the cancel', async () => {
  const { identities } = await makeCluster(['n1', 'n2']);
  const ts = await startTransports(identities, { rpcFrameBytesMax: 64 * 1024 });
  try {
    let aborted = 0;
    ts.get('n2')!.serve('hang', (_f, _b, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => (aborted++, reject(new Error('aborted'))))));
    const t0 = Date.now();
    await assert.rejects(ts.get('n1')!.request(n2, 'hang', {}, { timeoutMs: 100 }), (e: PeerError) => e.code === 'TIMEOUT');
    assert.ok(Date.now() - t0 < 1_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(ts.get('n1')!.request(n2, 'hang', {}, { signal: ac.signal }), (e: PeerError) => e.code === 'ABORTED');
    await until(() => aborted === 2, 2_000, 'the handler to be aborted twice');
    await assert.rejects(ts.get('n1')!.request(n2, 'hang', new Uint8Array(100 * 1024)), (e: PeerError) => e.code === 'TOO_LARGE');
    ts.get('n2')!.serve('big', async () => new Uint8Array(100 * 1024));
    await assert.rejects(ts.get('n1')!.request(n2, 'big', {}), (e: PeerError) => e.code === 'TOO_LARGE');
  } finally {
    await closeAll(ts.values());
  }
});

/** Connect with raw TLS as `n2`, send a hello and a heartbeat; resolve with the bytes read and how it ended. */
async function intrude(port: number, o: tls.ConnectionOptions, claim = 'n2'): Promise<{ bytes: number; err: string | undefined }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...o });
    let bytes = 0;
    let err: string | undefined;
    s.on('secureConnect', () => {
      s.write(frame(encodeHello({ from: claim, channel: 'raft' })));
      s.write(frame(encodeMessage(beat(claim, 'n1', 99))));
    });
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('error', (e) => (err = e.message));
    s.on('close', () => resolve({ bytes, err }));
    setTimeout(() => s.destroy(), 2_000);
  });
}

test('a certificate of another CA, a self-signed one, none at all, or plain TCP: refused, nothing read', async () => {
  const { identities } = await makeCluster(['n1', 'n2']);
  const other = await makeCluster(['n2']);
  const ts = await startTransports(identities);
  const t1 = ts.get('n1')!;
  const port = t1.address().port;
  try {
    const received: Message[] = [];
    t1.onMessage((m) => received.push(m));
    t1.serve('secret', async () => 'the data');
    const foreign = other.identities.get('n2')!;
    const self = await selfSigned('n2');
    for (const client of [{ key: foreign.keyPem, cert: foreign.certPem }, { key: self.keyPem, cert: self.certPem }, {}]) {
      const r = await intrude(port, client);
      assert.equal(r.bytes, 0, 'no application data reaches an unauthenticated client');
    }
    assert.ok(t1.stats.handshakesRefused >= 3, `handshakes refused: ${t1.stats.handshakesRefused}`);

    // Plain TCP speaking the frame protocol: the TLS server never takes it for a peer.
    const plain = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(frame(encodeHello({ from: 'n2', channel: 'raft' })));
        s.write(frame(encodeMessage(beat('n2', 'n1', 99))));
      });
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => resolve(text));
      setTimeout(() => s.destroy(), 2_000);
    });
    assert.doesNotMatch(plain, /the data|n1/);
    // A node of the foreign CA is refused when it dials us through the real transport, too.
    const intruder = await TlsTransport.listen({ identity: foreign, listen: { host: '127.0.0.1', port: 0 }, peers: [['n1', { host: '127.0.0.1', port }]], logger: quiet });
    try {
      await assert.rejects(intruder.request(n1, 'secret', {}), (e: PeerError) => e.code === 'UNREACHABLE');
      // And we refuse it as a server: the real n1 dialling a foreign "n2" does not complete.
      t1.setPeer('n2', intruder.address());
      await assert.rejects(t1.request(n2, 'secret', {}), (e: PeerError) => e.code === 'UNREACHABLE');
    } finally {
      await intruder.close();
    }
    await sleep(100);
    assert.equal(received.length, 0, 'no Raft message from an intruder was delivered');
  } finally {
    await closeAll(ts.values());
  }
});

test('a valid certificate claiming another node, or naming a non-member, is refused', async () => {
  const { identities, ca } = await makeCluster(['n1', 'n2', 'n3']);
  const { issueIdentity } = await import('../../src/cluster/identity.ts');
  const n9 = await issueIdentity(ca, 'n9', new Date(), false);
  const ts = await startTransports(new Map([...identities].filter(([id]) => id !== 'n3')));
  const t1 = ts.get('n1')!;
  try {
    const received: Message[] = [];
    t1.onMessage((m) => received.push(m));
    const n3id = identities.get('n3')!;
    // n3's genuine certificate, but the hello claims n2 (a member): the ids do not match.
    await intrude(t1.address().port, { key: n3id.keyPem, cert: n3id.certPem }, 'n2');
    // n9's genuine certificate, claiming itself: not a member.
    await intrude(t1.address().port, { key: n9.keyPem, cert: n9.certPem }, 'n9');
    assert.equal(t1.stats.identitiesRefused, 2);
    assert.equal(received.length, 0);
    // Dialling n2's address while expecting n3: the server's certificate names n2, so we refuse it.
    t1.setPeer('n3', ts.get('n2')!.address());
    ts.get('n2')!.serve('x', async () => 'x');
    await assert.rejects(t1.request(n3, 'x', {}), (e: PeerError) => e.code === 'UNREACHABLE' && /names n2, not n3/.test(e.message));
    // Removing a member closes its connections and refuses it afterwards.
    assert.equal(await ts.get('n2')!.request(n1, 'ping', {}).catch((e: PeerError) => e.code), 'NO_SERVICE');
    t1.removePeer('n2');
    await assert.rejects(ts.get('n2')!.request(n1, 'ping', {}), (e: PeerError) => e.code === 'UNREACHABLE');
  } finally {
    await closeAll(ts.values());
  }
});

test('Raft heartbeats keep flowing while a 48 MiB RPC payload is in flight', async () => {
  const { identities } = await makeCluster(['n1', 'n2']);
  const ts = await startTransports(identities);
  const [t1, t2] = [ts.get('n1')!, ts.get('n2')!];
  try {
    t2.serve('blob.put', async (_f, body) => (body as Uint8Array).byteLength);
    const lat: number[] = [];
    const sentAt = new Map<number, number>();
    t2.onMessage((m) => lat.push(performance.now() - sentAt.get(m.commit)!));
    await t1.request(n2, 'blob.put', new Uint8Array(1)); // connections up
    let seq = 0;
    const send = (): void => {
      sentAt.set(++seq, performance.now());
      t1.send([beat('n1', 'n2', seq)]);
    };
    const timer = setInterval(send, 10);
    await sleep(50);
    const before = lat.length;
    const t0 = performance.now();
    const size = await t1.request(n2, 'blob.put', new Uint8Array(48 << 20));
    const transferMs = performance.now() - t0;
    const during = lat.length - before;
    await sleep(50);
    clearInterval(timer);
    assert.equal(size, 48 << 20);
    const max = Math.max(...lat);
    console.log(`# 48 MiB rpc took ${transferMs.toFixed(0)} ms; ${during} heartbeats arrived meanwhile, max latency ${max.toFixed(1)} ms`);
    // Behind the payload on one connection, a heartbeat would wait for the whole transfer. The timer
    // shares this process with both ends of the transfer, so counts vary with load; the bound does not.
    assert.ok(during >= 5, `heartbeats delivered during the transfer: ${during}`);
    assert.ok(max < transferMs / 2, `heartbeat latency ${max} ms during a ${transferMs} ms transfer`);
  } finally {
    await closeAll(ts.values());
  }
});

test('a restarted peer is reached again: Raft reconnects with backoff, RPC fails fast then recovers', async () => {
  const { identities } = await makeCluster(['n1', 'n2']);
  const ts = await startTransports(identities);
  const t1 = ts.get('n1')!;
  let t2 = ts.get('n2')!;
  try {
    const port = t2.address().port;
    const unreachable: string[] = [];
    t1.onUnreachable((p) => unreachable.push(p));
    t2.serve('ping', async () => 'pong');
    assert.equal(await t1.request(n2, 'ping', {}), 'pong');
    t1.send([beat('n1', 'n2')]);
    await t2.close();
    await until(() => unreachable.includes('n2'), 2_000, 'n2 reported unreachable');
    await assert.rejects(t1.request(n2, 'ping', {}), (e: PeerError) => e.code === 'UNREACHABLE');
    t1.send([beat('n1', 'n2')]);

    t2 = await TlsTransport.listen({ identity: identities.get('n2')!, listen: { host: '127.0.0.1', port }, peers: [['n1', t1.address()]], logger: quiet });
    ts.set('n2', t2);
    t2.serve('ping', async () => 'pong again');
    const got: Message[] = [];
    t2.onMessage((m) => got.push(m));
    const end = Date.now() + 5_000;
    while (got.length === 0 && Date.now() < end) {
      t1.send([beat('n1', 'n2')]);
      await sleep(20);
    }
    assert.ok(got.length > 0, 'raft reconnected');
    let answer: unknown;
    while (answer === undefined && Date.now() < end) answer = await t1.request(n2, 'ping', {}).catch(() => sleep(20));
    assert.equal(answer, 'pong again');
  } finally {
    await closeAll(ts.values());
  }
});

test('RPC throughput over loopback (4 MiB bodies)', async () => {
  const { identities } = await makeCluster(['n1', 'n2']);
  const ts = await startTransports(identities);
  try {
    ts.get('n2')!.serve('blob.put', async (_f, body) => (body as Uint8Array).byteLength);
    const body = new Uint8Array(4 << 20).fill(7);
    await ts.get('n1')!.request(n2, 'blob.put', body);
    const rounds = 64;
    const parallel = 4;
    const t0 = performance.now();
    for (let i = 0; i < rounds; i += parallel) {
      await Promise.all(Array.from({ length: parallel }, () => ts.get('n1')!.request(n2, 'blob.put', body)));
    }
    const s = (performance.now() - t0) / 1000;
    const mbps = (rounds * body.byteLength) / (1 << 20) / s;
    console.log(`# rpc throughput: ${rounds} x 4 MiB in ${s.toFixed(2)} s = ${mbps.toFixed(0)} MiB/s`);
    assert.ok(mbps > 20, `${mbps} MiB/s`);
  } finally {
    await closeAll(ts.values());
  }
});
