// SpamAssassin's spamd over the SPAMC/1.5 protocol: SYMBOLS to score a message, TELL to learn it.
// A client only: one connection per request, bounded by its timeout; it decides nothing about the message.

import { FilterError } from './errors.ts';
import { filterLimits } from './limits.ts';
import { exchange, write } from './socket.ts';

export interface SpamdOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly connectTimeoutMs?: number;
}

export interface SpamdScore {
  readonly isSpam: boolean;
  readonly score: number;
  readonly required: number;
  readonly rules: readonly string[];
}

export class SpamdClient {
  private readonly o: SpamdOptions;

  constructor(o: SpamdOptions) {
    this.o = o;
  }

  private request(head: string, message: Uint8Array, signal?: AbortSignal): Promise<string> {
    const o = this.o;
    const opts = { host: o.host, port: o.port, timeoutMs: o.timeoutMs, connectTimeoutMs: o.connectTimeoutMs ?? filterLimits.scannerConnectTimeoutMs, replyBytesMax: filterLimits.scannerReplyBytesMax, signal };
    return exchange('spamd', opts, async (s) => {
      await write(s, `${head}Content-length: ${message.length}\r\n\r\n`);
      await write(s, message);
      s.end(); // spamd reads Content-length bytes; half-closing tells it we are done
    }).then((b) => b.toString('latin1'));
  }

  /** SYMBOLS: score and rule names. `user` selects per-user settings when spamd allows them. */
  async check(message: Uint8Array, signal?: AbortSignal): Promise<SpamdScore> {
    const reply = parseResponse(await this.request('SYMBOLS SPAMC/1.5\r\n', message, signal));
    const m = /^(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*\/\s*(-?[\d.]+)/i.exec(reply.headers.get('spam') ?? '');
    if (m === null) throw new FilterError('spamd', 'PROTOCOL', 'reply without a Spam header');
    const rules = reply.body.trim() === '' ? [] : reply.body.trim().split(',').map((r) => r.trim()).filter((r) => r !== '');
    return { isSpam: /^(true|yes)$/i.test(m[1] ?? ''), score: Number(m[2]), required: Number(m[3]), rules };
  }

  /**
   * TELL: learn the message as spam or ham into the local Bayes database (spamd needs
   * --allow-tell). Resolves true when the database changed, false when it already knew.
   */
  async learn(message: Uint8Array, as: 'spam' | 'ham', signal?: AbortSignal): Promise<boolean> {
    const reply = parseResponse(await this.request(`TELL SPAMC/1.5\r\nMessage-class: ${as}\r\nSet: local\r\n`, message, signal));
    return (reply.headers.get('didset') ?? '').includes('local');
  }
}

interface SpamdResponse {
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** `SPAMD/1.x 0 EX_OK` then headers, a blank line and a body; any other status code is a PROTOCOL error. */
export function parseResponse(text: string): SpamdResponse {
  const end = text.indexOf('\r\n');
  if (end < 0) throw new FilterError('spamd', text === '' ? 'UNAVAILABLE' : 'PROTOCOL', text === '' ? 'closed without a reply' : 'truncated reply');
  const status = /^SPAMD\/\d\.\d+ (\d+) (.*)$/.exec(text.slice(0, end));
  if (status === null) throw new FilterError('spamd', 'PROTOCOL', 'not a SPAMD reply');
  if (status[1] !== '0') throw new FilterError('spamd', 'PROTOCOL', `spamd error ${status[1]} ${status[2] ?? ''}`.trim());
  const blank = text.indexOf('\r\n\r\n', end);
  const head = blank < 0 ? text.slice(end + 2) : text.slice(end + 2, blank);
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: blank < 0 ? '' : text.slice(blank + 4) };
}
