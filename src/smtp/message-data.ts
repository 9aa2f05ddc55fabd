// Message data as it streams in after DATA: bare LF made CRLF, the longest line measured, bytes counted.
// Pure and incremental (chunks in, chunks out); it never refuses anything itself: the DATA handler decides.
//
// Bare LF. RFC 5321 §2.3.8: lines end in CRLF, and clients MUST NOT send a bare CR or LF;
// plenty still do (scripts, old MUAs, broken gateways). Rejecting them (Postfix's
// smtpd_forbid_bare_newline = yes, which hangs up) loses real mail. We do what Postfix
// 3.9 does by default (= normalize): the end of DATA is recognised only as
// <CRLF>.<CRLF> (smtp-server already does this, which closes the SMTP-smuggling hole of
// CVE-2023-51764), and a bare LF inside the message is stored as CRLF. The stored message
// is then canonical, so no later relay can see a line end the sender did not mean.

const LF = 0x0a;
const CR = 0x0d;

export class DataNormalizer {
  /** Bytes of the current (unterminated) line so far, line ending excluded. */
  private lineBytes = 0;
  /** The last byte seen was CR (it may be the first half of a CRLF split across chunks). */
  private pendingCr = false;
  /** Longest complete or partial line seen, line ending excluded. */
  longestLineBytes = 0;
  /** Bare LFs turned into CRLF. */
  bareLfCount = 0;
  /** Bytes returned by push() so far. */
  outputBytes = 0;

  /** Returns the chunk with every bare LF preceded by CR (the same buffer when there was none). */
  push(chunk: Uint8Array): Uint8Array {
    const crBefore = this.pendingCr;
    let bare = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === LF) {
        if (!this.pendingCr) bare++;
        this.noteLine(this.lineBytes);
        this.lineBytes = 0;
        this.pendingCr = false;
        continue;
      }
      // A CR is content until we know no LF follows it.
      if (this.pendingCr) this.lineBytes++;
      this.pendingCr = b === CR;
      if (b !== CR) this.lineBytes++;
    }
    this.noteLine(this.lineBytes);
    const out = bare === 0 ? chunk : insertCr(chunk, bare, crBefore);
    this.bareLfCount += bare;
    this.outputBytes += out.length;
    return out;
  }

  private noteLine(n: number): void {
    if (n > this.longestLineBytes) this.longestLineBytes = n;
  }
}

function insertCr(chunk: Uint8Array, bare: number, crBefore: boolean): Uint8Array {
  const out = new Uint8Array(chunk.length + bare);
  let o = 0;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i] as number;
    const afterCr = i === 0 ? crBefore : chunk[i - 1] === CR;
    if (b === LF && !afterCr) out[o++] = CR;
    out[o++] = b;
  }
  if (o !== out.length) throw new Error(`smtp: bare LF count mismatch (${o} != ${out.length})`);
  return out;
}
