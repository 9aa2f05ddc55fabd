// Splits a client's byte stream into command lines and literal octets, bounded: a line longer than the
// caller's limit is reported once and discarded up to its LF. Pure: bytes in, lines and octets out.

const LF = 0x0a;
const CR = 0x0d;

export type LineEvent = { readonly kind: 'line'; /** Without CRLF (or bare LF). */ readonly bytes: Buffer } | { readonly kind: 'too-long' };

export class InputBuffer {
  private chunks: Buffer[] = [];
  private total = 0;
  private discarding = false;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  get buffered(): number {
    return this.total;
  }

  discard(): void {
    this.chunks = [];
    this.total = 0;
    this.discarding = false;
  }

  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.total -= n;
    return out;
  }

  private indexOfLf(): number {
    let base = 0;
    for (const c of this.chunks) {
      const i = c.indexOf(LF);
      if (i >= 0) return base + i;
      base += c.length;
    }
    return -1;
  }

  /** The next line, a too-long report, or undefined when more input is needed. `maxBytes` counts the CRLF. */
  line(maxBytes: number): LineEvent | undefined {
    for (;;) {
      const lf = this.indexOfLf();
      if (this.discarding) {
        if (lf < 0) {
          this.discard();
          this.discarding = true;
          return undefined;
        }
        this.take(lf + 1);
        this.discarding = false;
        continue;
      }
      if (lf < 0) {
        if (this.total >= maxBytes) {
          this.discard();
          this.discarding = true;
          return { kind: 'too-long' };
        }
        return undefined;
      }
      const line = this.take(lf + 1);
      if (lf + 1 > maxBytes) return { kind: 'too-long' };
      const end = lf > 0 && line[lf - 1] === CR ? lf - 1 : lf;
      return { kind: 'line', bytes: line.subarray(0, end) };
    }
  }

  /** Exactly `n` octets (a literal), or undefined until they have all arrived. */
  bytes(n: number): Buffer | undefined {
    if (this.total < n) return undefined;
    return this.take(n);
  }
}

/** A literal announced at the end of a line: `{n}`, `{n+}` (LITERAL+, RFC 7888) or `~{n}` (literal8). */
export function literalAtEnd(line: Buffer): { readonly size: number; readonly sync: boolean } | undefined {
  if (line.length < 3 || line[line.length - 1] !== 0x7d) return undefined;
  const open = line.lastIndexOf(0x7b);
  if (open < 0) return undefined;
  let inner = line.toString('latin1', open + 1, line.length - 1);
  const sync = !inner.endsWith('+');
  if (!sync) inner = inner.slice(0, -1);
  if (!/^\d{1,10}$/.test(inner)) return undefined;
  return { size: Number(inner), sync };
}
