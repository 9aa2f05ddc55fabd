// Streams a stored message onto the wire: TOP's cut after the header and n body lines (RFC 1939 §7), bare LF
// normalized to CRLF, dot-stuffing and the terminator (RFC 1939 §3). Pure byte transforms, chunk by chunk.

import { multilineTerminator } from './reply.ts';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/**
 * Byte-stuffs a multi-line body: a line starting with "." gets one more; a bare LF becomes CRLF; the body
 * is closed with CRLF when it does not end with one, then ".\r\n". State carries across chunk boundaries.
 */
export class DotStuffer {
  private atLineStart = true;
  private lastWasCR = false;

  encode(chunk: Uint8Array): Uint8Array {
    // Worst case every octet doubles ("\n" -> "\r\n", "." at a line start -> "..").
    const out = new Uint8Array(chunk.length * 2);
    let o = 0;
    for (const b of chunk) {
      if (b === LF) {
        if (!this.lastWasCR) out[o++] = CR;
        out[o++] = LF;
        this.atLineStart = true;
      } else {
        if (b === DOT && this.atLineStart) out[o++] = DOT;
        out[o++] = b;
        this.atLineStart = false;
      }
      this.lastWasCR = b === CR;
    }
    return out.subarray(0, o);
  }

  /** The end of the response: a CRLF if the body's last line is open, then the terminator. */
  finish(): Uint8Array {
    if (this.atLineStart) return multilineTerminator;
    const tail = this.lastWasCR ? [LF] : [CR, LF];
    const out = new Uint8Array(tail.length + multilineTerminator.length);
    out.set(tail, 0);
    out.set(multilineTerminator, tail.length);
    return out;
  }
}

/**
 * RFC 1939 §7 TOP: the header, the blank line that ends it, then at most `bodyLines` body lines. A message
 * without a blank line is all header and is sent whole. Works on raw octets, before dot-stuffing.
 */
export class TopCutter {
  private inHeader = true;
  private bodyLinesLeft: number;
  /** Octets of the current line seen so far, and whether the only one is a CR (to spot "\r\n"). */
  private lineBytes = 0;
  private lineIsCR = false;
  private finished = false;

  constructor(bodyLines: number) {
    this.bodyLinesLeft = bodyLines;
  }

  /** True once everything TOP sends has been taken: the caller stops reading the message. */
  get done(): boolean {
    return this.finished;
  }

  take(chunk: Uint8Array): Uint8Array {
    if (this.finished) return chunk.subarray(0, 0);
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== LF) {
        this.lineIsCR = this.lineBytes === 0 && b === CR;
        this.lineBytes++;
        continue;
      }
      const blank = this.lineBytes === 0 || (this.lineBytes === 1 && this.lineIsCR);
      this.lineBytes = 0;
      this.lineIsCR = false;
      if (this.inHeader) {
        if (blank) this.inHeader = false;
      } else {
        this.bodyLinesLeft--;
      }
      if (!this.inHeader && this.bodyLinesLeft === 0) {
        this.finished = true;
        return chunk.subarray(0, i + 1);
      }
    }
    return chunk;
  }
}
