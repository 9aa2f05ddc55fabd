// Parses and formats IP addresses canonically (IPv6 per RFC 5952) so that every source of a client address
// (socket peer, PROXY v1 text, PROXY v2 bytes) yields the same string. Pure: no sockets, no DNS.

/** Dotted quad, each part 0..255 without leading zeros; undefined otherwise. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/** RFC 4291 §2.2 text forms, including "::" and an embedded IPv4 tail; no zone index. */
export function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (v4 === undefined) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function formatIPv4(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join('.');
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::", first on ties. */
export function formatIPv6(bytes: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

/**
 * The canonical form of an address as a socket reports it: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes plain
 * IPv4, IPv6 is RFC 5952 text without a zone index. Anything unparsable is returned unchanged.
 */
export function canonicalIp(text: string): string {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return formatIPv4(v4);
  const zoneless = text.split('%')[0] ?? text;
  const v6 = parseIPv6(zoneless);
  if (v6 === undefined) return text;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? formatIPv4(v6.subarray(12)) : formatIPv6(v6);
}

/**
 * The key under which per-address limits count a client: the IPv4 address, or the IPv6 /64 (one host
 * commonly holds a whole /64, so counting /128s would let it multiply its allowance).
 */
export function ipLimitKey(ip: string): string {
  const v6 = ip.includes(':') ? parseIPv6(ip) : undefined;
  if (v6 === undefined) return ip;
  const prefix = new Uint8Array(16);
  prefix.set(v6.subarray(0, 8), 0);
  return `${formatIPv6(prefix)}/64`;
}

/** '::ffff:127.0.0.2' -> '127.0.0.2', so an IPv4 address matches however the socket reports it. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
