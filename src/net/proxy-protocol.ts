// Parses the PROXY protocol header an L4 balancer sends first on a connection: version 1 (text) and
// version 2 (binary), per HAProxy's proxy-protocol.txt. Pure: bytes in, a header or a verdict out; no sockets.

import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip-address.ts';
import { proxyV1HeaderBytesMax, proxyV2FixedBytes, proxyV2PayloadBytesMax } from './limits.ts';

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  | {
      readonly version: 1 | 2;
      readonly kind: 'proxied';
      readonly family: 'IPv4' | 'IPv6';
      readonly source: ProxyEndpoint;
      readonly destination: ProxyEndpoint;
    }
  /** v2 LOCAL (the balancer's own health check), v1 UNKNOWN, or v2 with an UNSPEC/UNIX family: use the socket's addresses. */
  | { readonly version: 1 | 2; readonly kind: 'local' };

export type ProxyParseResult =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: string }
  | { readonly status: 'complete'; readonly header: ProxyHeader; /** Octets the header occupies; what follows is the client's. */ readonly headerBytes: number };

/** §2.2: the v2 signature; it contains "QUIT\n" so that a server not expecting it drops the connection. */
export const proxyV2Signature: Uint8Array = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const v1Prefix = new TextEncoder().encode('PROXY ');

/** The longest header this parser accepts; a reader never needs to buffer more. */
export const proxyHeaderBytesMax = Math.max(proxyV1HeaderBytesMax, proxyV2FixedBytes + proxyV2PayloadBytesMax);

function startsWithPartial(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

const incomplete: ProxyParseResult = { status: 'incomplete' };
const invalid = (reason: string): ProxyParseResult => ({ status: 'invalid', reason });

/** Parses the header at the start of `buf` (the connection's first octets so far). */
export function parseProxyHeader(buf: Uint8Array): ProxyParseResult {
  if (buf.length === 0) return incomplete;
  if (startsWithPartial(buf, proxyV2Signature)) return buf.length < proxyV2FixedBytes ? incomplete : parseV2(buf);
  if (startsWithPartial(buf, v1Prefix)) return parseV1(buf);
  return invalid('no PROXY header');
}

// ---- version 1 (§2.1) ----

const port = (text: string): number | undefined => (/^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535 ? Number(text) : undefined);

function parseV1(buf: Uint8Array): ProxyParseResult {
  const lf = buf.subarray(0, proxyV1HeaderBytesMax).indexOf(0x0a);
  if (lf < 0) return buf.length >= proxyV1HeaderBytesMax ? invalid('v1 header longer than 107 octets') : incomplete;
  if (lf < 1 || buf[lf - 1] !== 0x0d) return invalid('v1 header not ended by CRLF');
  const bytes = buf.subarray(0, lf - 1);
  if (bytes.some((b) => b < 0x20 || b > 0x7e)) return invalid('v1 header has non-printable octets');
  const fields = new TextDecoder('latin1').decode(bytes).split(' ');
  const headerBytes = lf + 1;
  // "PROXY UNKNOWN" may carry anything up to CRLF; the receiver ignores it.
  if (fields[1] === 'UNKNOWN') return { status: 'complete', header: { version: 1, kind: 'local' }, headerBytes };
  if (fields.length !== 6) return invalid('v1 header needs protocol, two addresses and two ports');
  const [, proto, src, dst, sport, dport] = fields as [string, string, string, string, string, string];
  const parse = proto === 'TCP4' ? parseIPv4 : proto === 'TCP6' ? parseIPv6 : undefined;
  if (parse === undefined) return invalid(`v1 protocol ${JSON.stringify(proto)} is not TCP4, TCP6 or UNKNOWN`);
  const format = proto === 'TCP4' ? formatIPv4 : formatIPv6;
  const s = parse(src);
  const d = parse(dst);
  const sp = port(sport);
  const dp = port(dport);
  if (s === undefined || d === undefined) return invalid(`v1 address not ${proto}`);
  if (sp === undefined || dp === undefined) return invalid('v1 port not in 0..65535');
  const family = proto === 'TCP4' ? 'IPv4' : 'IPv6';
  return {
    status: 'complete',
    header: { version: 1, kind: 'proxied', family, source: { address: format(s), port: sp }, destination: { address: format(d), port: dp } },
    headerBytes,
  };
}

// ---- version 2 (§2.2) ----

const cmdLocal = 0x0;
const cmdProxy = 0x1;
const famUnspec = 0x00;
const famTcp4 = 0x11;
const famTcp6 = 0x21;
const famUnixStream = 0x31;

function parseV2(buf: Uint8Array): ProxyParseResult {
  const verCmd = buf[12] ?? 0;
  const fam = buf[13] ?? 0;
  const length = ((buf[14] ?? 0) << 8) | (buf[15] ?? 0);
  if (verCmd >> 4 !== 2) return invalid(`v2 version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd !== cmdLocal && cmd !== cmdProxy) return invalid(`v2 command ${cmd}`);
  if (length > proxyV2PayloadBytesMax) return invalid(`v2 payload of ${length} octets exceeds ${proxyV2PayloadBytesMax}`);
  const headerBytes = proxyV2FixedBytes + length;
  if (buf.length < headerBytes) return incomplete;
  // LOCAL: the balancer speaks for itself; the address block (if any) is ignored (§2.2).
  if (cmd === cmdLocal) return { status: 'complete', header: { version: 2, kind: 'local' }, headerBytes };
  const body = buf.subarray(proxyV2FixedBytes, headerBytes);
  const u16 = (at: number): number => ((body[at] ?? 0) << 8) | (body[at + 1] ?? 0);
  if (fam === famTcp4) {
    if (length < 12) return invalid('v2 TCP4 address block shorter than 12 octets');
    return {
      status: 'complete',
      header: {
        version: 2,
        kind: 'proxied',
        family: 'IPv4',
        source: { address: formatIPv4(body.subarray(0, 4)), port: u16(8) },
        destination: { address: formatIPv4(body.subarray(4, 8)), port: u16(10) },
      },
      headerBytes,
    };
  }
  if (fam === famTcp6) {
    if (length < 36) return invalid('v2 TCP6 address block shorter than 36 octets');
    return {
      status: 'complete',
      header: {
        version: 2,
        kind: 'proxied',
        family: 'IPv6',
        source: { address: formatIPv6(body.subarray(0, 16)), port: u16(32) },
        destination: { address: formatIPv6(body.subarray(16, 32)), port: u16(34) },
      },
      headerBytes,
    };
  }
  // §2.2: UNSPEC and UNIX carry no usable client address; the receiver uses the real connection's.
  if (fam === famUnspec || fam === famUnixStream) return { status: 'complete', header: { version: 2, kind: 'local' }, headerBytes };
  return invalid(`v2 family/transport 0x${fam.toString(16).padStart(2, '0')} is not a stream`);
}
