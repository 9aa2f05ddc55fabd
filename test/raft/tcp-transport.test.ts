// TcpTransport on loopback: frames round trip with their bytes intact, limits disconnect bad peers, links reconnect.
// Every wait is bounded; transports are closed after each test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { TcpTransport, type PeerAddress } from '../../src/cluster/tcp-transport.ts';
import { FrameReader, WireError, decodeMessage, encodeHello, encodeMessage, frame } from '../../src/cluster/raft-wire.ts';
import { type Message, type NodeId, index, message, nodeId, term } from '../../src/raft/types.ts';

const a = nodeId('a');
const b = nodeId('b');
const loopback: PeerAddress = { host: '127.0.0.1', port: 0 };
const quiet = { warn: () => {} };

async function pair(t: { after(fn: () => Promise<void>): void }, frameBytesMax = 1 << 20) {
  const tb = await TcpTransport.listen({ id: b, listen: loopback, peers: [], limits: { frameBytesMax }, logger: quiet });
  const ta = await TcpTransport.listen({ id: a, listen: loopback, peers: [[b, tb.address()]], limits: { frameBytesMax }, logger: quiet });
  tb.setPeer(a, ta.address());
  t.after(async () => {
    await ta.close();
    await tb.close();
  });
  return { ta, tb };
}

function inbox(tr: TcpTransport): Message[] {
  const got: Message[] = [];
  tr.onMessage((m) => got.push(m));
  return got;
}

async function waitFor(what: string, f: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);

function appendMessage(from: NodeId, to: NodeId): Message {
  return message({
    type: 'app',
    from,
    to,
    term: term(3),
    logTerm: term(2),
    index: index(41),
    commit: index(40),
    entries: [
      { term: term(3), index: index(42), kind: 'normal', data: bytes(1, 2, 3, 255) },
      { term: term(3), index: index(43), kind: 'conf', data: new TextEncoder().encode('{"type":"addNode","node":"c"}') },
      { term: term(3), index: index(44), kind: 'normal', data: new Uint8Array(0) },
    ],
  });
}

test('wire: messages survive encode/decode with Uint8Array fields intact', () => {
  const snap = message({
    type: 'snap',
    from: a,
    to: b,
    term: term(5),
    snapshot: { meta: { index: index(9), term: term(4), conf: { voters: [a, b], learners: [nodeId('c')] } }, data: bytes(9, 8, 7) },
    context: bytes(0xde, 0xad),
  });
  for (const m of [appendMessage(a, b), snap, message({ type: 'appResp', from: b, to: a, term: term(1), reject: true, rejectHint: index(7) })]) {
    const back = decodeMessage(encodeMessage(m));
    assert.deepStrictEqual(back, m);
    for (const e of back.entries) assert.equal(e.data.constructor, Uint8Array);
  }
  assert.throws(() => decodeMessage(encodeHello(a)), WireError);
});

test('wire: the frame reader reassembles split frames and refuses oversized ones', () => {
  const r = new FrameReader(100);
  const f1 = frame(bytes(1, 2, 3));
  const f2 = frame(new Uint8Array(50).fill(7));
  const all = Buffer.concat([f1, f2]);
  const got: Buffer[] = [];
  for (let i = 0; i < all.length; i += 3) got.push(...r.push(all.subarray(i, i + 3)));
  assert.deepEqual(got.map((x) => x.length), [3, 50]);
  assert.equal(r.buffered(), 0);
  assert.throws(() => r.push(frame(new Uint8Array(101))), WireError);
});

test('tcp: frames round trip between two transports with Uint8Array data intact', async (t) => {
  const { ta, tb } = await pair(t);
  const got = inbox(tb);
  const sent = [appendMessage(a, b), message({ type: 'heartbeat', from: a, to: b, term: term(3), context: bytes(1, 2) })];
  ta.send(sent);
  await waitFor('two messages', () => got.length === 2);
  assert.deepStrictEqual(got, sent);
  assert.ok(got[0]!.entries[0]!.data instanceof Uint8Array);
  // and back the other way, on b's own outbound link
  const back = inbox(ta);
  tb.send([message({ type: 'appResp', from: b, to: a, term: term(3), index: index(44) })]);
  await waitFor('the answer', () => back.length === 1);
  assert.equal(back[0]!.index, 44);
});

test('tcp: a peer sending an oversized frame is disconnected', async (t) => {
  const { ta, tb } = await pair(t, 1024);
  const got = inbox(tb);
  const sock = net.createConnection(tb.address());
  await new Promise((r) => sock.once('connect', r));
  const closed = new Promise((r) => sock.once('close', r));
  sock.on('error', () => {});
  sock.write(frame(encodeHello(a)));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  sock.write(header); // the header alone is enough to be refused
  await closed;
  assert.equal(tb.stats.protocolErrors, 1);
  // the transport keeps serving well-behaved peers
  ta.send([appendMessage(a, b)]);
  await waitFor('a normal message', () => got.length === 1);
});

test('tcp: a message too large for the frame limit is not sent and the peer is reported unreachable', async (t) => {
  const { ta, tb } = await pair(t, 1024);
  const got = inbox(tb);
  const unreachable: NodeId[] = [];
  ta.onUnreachable((p) => unreachable.push(p));
  const big = message({ type: 'app', from: a, to: b, term: term(1), entries: [{ term: term(1), index: index(1), kind: 'normal', data: new Uint8Array(2000) }] });
  ta.send([big, appendMessage(a, b)]);
  await waitFor('the small message', () => got.length === 1);
  assert.deepEqual(unreachable, [b]);
  assert.equal(got[0]!.entries.length, 3);
});

test('tcp: a link reconnects after the peer restarts on the same port', async (t) => {
  const { ta, tb } = await pair(t);
  const first = inbox(tb);
  ta.send([appendMessage(a, b)]);
  await waitFor('first delivery', () => first.length === 1);
  const port = tb.address().port;
  const unreachable: NodeId[] = [];
  ta.onUnreachable((p) => unreachable.push(p));
  await tb.close();
  await waitFor('the link to notice', () => unreachable.length > 0);
  const tb2 = await TcpTransport.listen({ id: b, listen: { host: '127.0.0.1', port }, peers: [[a, ta.address()]], logger: quiet });
  t.after(() => tb2.close());
  const second = inbox(tb2);
  // Messages sent while the link is down are dropped (Raft resends): keep sending, as a leader's heartbeats do.
  const deadline = Date.now() + 3_000;
  while (second.length === 0 && Date.now() < deadline) {
    ta.send([message({ type: 'heartbeat', from: a, to: b, term: term(3) })]);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(second.length > 0, 'no message after the peer restarted');
  assert.equal(second[0]!.type, 'heartbeat');
});

test('tcp: an inbound link speaking for another node is closed', async (t) => {
  const { tb } = await pair(t);
  const got = inbox(tb);
  const sock = net.createConnection(tb.address());
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  const closed = new Promise((r) => sock.once('close', r));
  sock.write(Buffer.concat([frame(encodeHello(a)), frame(encodeMessage(appendMessage(nodeId('mallory'), b)))]));
  await closed;
  assert.equal(got.length, 0);
});
