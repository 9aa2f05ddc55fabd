// Splits a POP3 client's byte stream into lines, bounded: a line longer than the caller's limit is reported once
// and discarded up to its LF. Pure: bytes in, events out; no sockets, timers or store.

export type LineEvent =
  | { readonly kind: 'line'; /** Without the CRLF (or bare LF). */ readonly bytes: Uint8Array }
  | { readonly kind: 'too-long' };

const LF = 0x0a;
const CR = 0x0d;
const empty = new Uint8Array(0);

export class LineReader {
  private buffer: Uint8Array = empty;
  /** True after a too-long report until the LF that ends the offending line. */
  private discarding = false;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.buffer.length === 0) {
      this.buffer = chunk;
      return;
    }
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer, 0);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
  }

  /**
   * The next line, a too-long report, or undefined when more input is needed. `maxBytes` counts the line
   * terminator, as RFC 2449 §4 does. A line ended by a bare LF is accepted (lenient reading, RFC 1939 §3 asks CRLF).
   */
  next(maxBytes: number): LineEvent | undefined {
    for (;;) {
      const lf = this.buffer.indexOf(LF);
      if (this.discarding) {
        if (lf < 0) {
          this.buffer = empty;
          return undefined;
        }
        this.buffer = this.buffer.subarray(lf + 1);
        this.discarding = false;
        continue;
      }
      if (lf < 0) {
        // Even if the very next octet were LF the line would then be longer than maxBytes.
        if (this.buffer.length >= maxBytes) {
          this.buffer = empty;
          this.discarding = true;
          return { kind: 'too-long' };
        }
        return undefined;
      }
      const line = this.buffer.subarray(0, lf);
      this.buffer = this.buffer.subarray(lf + 1);
      if (lf + 1 > maxBytes) return { kind: 'too-long' };
      const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
      return { kind: 'line', bytes: line.subarray(0, end) };
    }
  }

  /** Forgets everything buffered. After STLS nothing sent before the handshake may be acted on (RFC 2595 §4, CVE-2011-0411). */
  discard(): void {
    this.buffer = empty;
    this.discarding = false;
  }

  get bufferedBytes(): number {
    return this.buffer.length;
  }
}
