// Pure tests of the PROXY protocol parser (v1 text, v2 binary), address canonicalization and the per-address
// limiters. Reference: HAProxy proxy-protocol.txt §2.1, §2.2; RFC 5952 §4.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp, formatIPv6, ipLimitKey, parseIPv4, parseIPv6 } from '../../src/net/ip-address.ts';
import { AuthFailureTracker, ConnectionCounter } from '../../src/net/limiters.ts';
import { parseProxyHeader, proxyV2Signature } from '../../src/net/proxy-protocol.ts';
import { proxyV2 } from '../pop3/helpers/harness.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

const v4Block = [192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x00, 0x6e]; // 192.0.2.1:56324 -> 198.51.100.7:110

test('v1 TCP4: addresses and ports; the client address is the source', () => {
  const r = parseProxyHeader(enc('PROXY TCP4 192.0.2.1 198.51.100.7 56324 110\r\nCAPA\r\n'));
  assert.deepEqual(r, {
    status: 'complete',
    header: { version: 1, kind: 'proxied', family: 'IPv4', source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.7', port: 110 } },
    headerBytes: 45,
  });
});

test('v1 TCP6 is canonicalized (RFC 5952); UNKNOWN means "use the socket address"', () => {
  const r = parseProxyHeader(enc('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 995\r\n'));
  assert.equal(r.status, 'complete');
  assert.ok(r.status === 'complete' && r.header.kind === 'proxied');
  assert.equal(r.header.source.address, '2001:db8::1');
  assert.deepEqual(parseProxyHeader(enc('PROXY UNKNOWN\r\n')), { status: 'complete', header: { version: 1, kind: 'local' }, headerBytes: 15 });
  assert.equal(parseProxyHeader(enc('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')).status, 'complete');
});

test('v1: incomplete until CRLF, invalid past 107 octets or with bad fields', () => {
  assert.deepEqual(parseProxyHeader(enc('PROX')), { status: 'incomplete' });
  assert.deepEqual(parseProxyHeader(enc('PROXY TCP4 192.0.2.1')), { status: 'incomplete' });
  assert.equal(parseProxyHeader(enc(`PROXY TCP4 ${'1'.repeat(120)}`)).status, 'invalid');
  for (const bad of [
    'PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n',
    'PROXY TCP4 192.0.2.256 198.51.100.7 1 2\r\n',
    'PROXY TCP4 ::1 198.51.100.7 1 2\r\n',
    'PROXY TCP6 192.0.2.1 ::1 1 2\r\n',
    'PROXY TCP4 192.0.2.1 198.51.100.7 1 65536\r\n',
    'PROXY TCP4 192.0.2.1 198.51.100.7 -1 2\r\n',
    'PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n',
    'PROXY TCP4  192.0.2.1 198.51.100.7 1 2\r\n',
    'PROXY TCP4 192.0.2.1 198.51.100.7 1 2\n',
  ])
    assert.equal(parseProxyHeader(enc(bad)).status, 'invalid', bad);
  assert.deepEqual(parseProxyHeader(enc('USER alice\r\n')), { status: 'invalid', reason: 'no PROXY header' });
});

test('v2 PROXY TCP4 and TCP6, with TLVs skipped; what follows is the client’s', () => {
  const h4 = proxyV2(0x1, 0x11, v4Block, [0x04, 0x00, 0x01, 0x00]); // a NOOP TLV
  const r4 = parseProxyHeader(Uint8Array.from([...h4, 0x43]));
  assert.deepEqual(r4, {
    status: 'complete',
    header: { version: 2, kind: 'proxied', family: 'IPv4', source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.7', port: 110 } },
    headerBytes: h4.length,
  });
  const src6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 0x05];
  const dst6 = [...new Array<number>(15).fill(0), 1];
  const r6 = parseProxyHeader(proxyV2(0x1, 0x21, [...src6, ...dst6, 0x30, 0x39, 0x03, 0xe3]));
  assert.ok(r6.status === 'complete' && r6.header.kind === 'proxied');
  assert.deepEqual(r6.header.source, { address: '2001:db8::5', port: 12345 });
  assert.deepEqual(r6.header.destination, { address: '::1', port: 995 });
});

test('v2 LOCAL (health checks), UNSPEC and UNIX: no client address', () => {
  assert.deepEqual(parseProxyHeader(proxyV2(0x0, 0x00, [])), { status: 'complete', header: { version: 2, kind: 'local' }, headerBytes: 16 });
  assert.equal(parseProxyHeader(proxyV2(0x0, 0x11, v4Block)).status, 'complete');
  const unix = parseProxyHeader(proxyV2(0x1, 0x31, new Array<number>(216).fill(0)));
  assert.ok(unix.status === 'complete' && unix.header.kind === 'local');
});

test('v2: incomplete until the announced length; invalid version, command, family, length or short blocks', () => {
  const h = proxyV2(0x1, 0x11, v4Block);
  for (let n = 1; n < h.length; n++) assert.deepEqual(parseProxyHeader(h.subarray(0, n)), { status: 'incomplete' }, `${n} octets`);
  const withVersion = (b: number): Uint8Array => Uint8Array.from([...proxyV2Signature, b, 0x11, 0, 12, ...v4Block]);
  assert.equal(parseProxyHeader(withVersion(0x11)).status, 'invalid');
  assert.equal(parseProxyHeader(withVersion(0x22)).status, 'invalid');
  assert.equal(parseProxyHeader(proxyV2(0x1, 0x12, v4Block)).status, 'invalid'); // UDP
  assert.equal(parseProxyHeader(proxyV2(0x1, 0x11, v4Block.slice(0, 8))).status, 'invalid');
  assert.equal(parseProxyHeader(proxyV2(0x1, 0x21, v4Block)).status, 'invalid');
  assert.equal(parseProxyHeader(Uint8Array.from([...proxyV2Signature, 0x21, 0x11, 0xff, 0xff])).status, 'invalid'); // 65535 > limit
  const garbled = Uint8Array.from(proxyV2Signature);
  garbled[11] = 0x0b;
  assert.equal(parseProxyHeader(garbled).status, 'invalid');
});

test('IP addresses: parse and RFC 5952 canonical text', () => {
  assert.deepEqual(parseIPv4('10.0.0.255'), Uint8Array.from([10, 0, 0, 255]));
  for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', '', 'a.b.c.d']) assert.equal(parseIPv4(bad), undefined, bad);
  for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7', ':::']) assert.equal(parseIPv6(bad), undefined, bad);
  const v6 = (s: string): string => formatIPv6(parseIPv6(s) ?? new Uint8Array(16));
  assert.equal(v6('2001:0DB8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.equal(v6('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  assert.equal(v6('::'), '::');
  assert.equal(v6('1::'), '1::');
  assert.equal(v6('::ffff:192.0.2.1'), '::ffff:c000:201');
  assert.equal(canonicalIp('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalIp('fe80::1%eth0'), 'fe80::1');
  assert.equal(canonicalIp('127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalIp('not an address'), 'not an address');
});

test('ipLimitKey: IPv4 per address, IPv6 per /64', () => {
  assert.equal(ipLimitKey('192.0.2.1'), '192.0.2.1');
  assert.equal(ipLimitKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(ipLimitKey('2001:db8:1:2:bbbb::2'), ipLimitKey('2001:db8:1:2:aaaa::1'));
});

test('ConnectionCounter: totals and per-key counts never go negative', () => {
  const c = new ConnectionCounter();
  c.openTotal();
  c.openFor('a');
  c.openFor('a');
  assert.equal(c.countFor('a'), 2);
  c.closeFor('a');
  c.closeFor('a');
  assert.equal(c.countFor('a'), 0);
  assert.throws(() => c.closeFor('a'));
  c.closeTotal();
  assert.throws(() => c.closeTotal());
});

test('AuthFailureTracker: blocks at the limit within the window, forgets after it, bounds its memory', () => {
  let now = 0;
  const t = new AuthFailureTracker({ failuresMax: 3, windowMs: 1_000, keysMax: 2 }, () => now);
  t.recordFailure('a');
  now = 100;
  t.recordFailure('a');
  assert.equal(t.isBlocked('a'), false);
  t.recordFailure('a');
  assert.equal(t.isBlocked('a'), true);
  now = 1_001;
  assert.equal(t.isBlocked('a'), false, 'the first failure left the window');
  t.recordFailure('b');
  t.recordFailure('c');
  assert.equal(t.trackedKeys, 2);
  now = 5_000;
  assert.equal(t.isBlocked('b'), false);
});
