// ClamAV's clamd INSTREAM client: streams the message in length-prefixed chunks, reads `stream: OK` or `... FOUND`.
// A client only: one connection per scan, bounded by its timeout; it decides nothing about the message.

import { FilterError } from './errors.ts';
import { filterLimits } from './limits.ts';
import { exchange, write } from './socket.ts';

export interface ClamdOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly connectTimeoutMs?: number;
}

export type ClamdVerdict = { readonly infected: false } | { readonly infected: true; readonly name: string };

export class ClamdClient {
  private readonly o: ClamdOptions;

  constructor(o: ClamdOptions) {
    this.o = o;
  }

  /** INSTREAM (clamd(8)): `zINSTREAM\0`, chunks of <uint32 BE length><bytes>, a zero length to end. */
  async scan(message: AsyncIterable<Uint8Array> | Uint8Array, signal?: AbortSignal): Promise<ClamdVerdict> {
    const o = this.o;
    const opts = { host: o.host, port: o.port, timeoutMs: o.timeoutMs, connectTimeoutMs: o.connectTimeoutMs ?? filterLimits.scannerConnectTimeoutMs, replyBytesMax: 64 * 1024, signal };
    const reply = await exchange('clamd', opts, async (s) => {
      await write(s, 'zINSTREAM\0');
      const source = message instanceof Uint8Array ? [message] : message;
      for await (const chunk of source) {
        for (let i = 0; i < chunk.length; i += filterLimits.clamdChunkBytes) {
          const part = chunk.subarray(i, i + filterLimits.clamdChunkBytes);
          const len = Buffer.alloc(4);
          len.writeUInt32BE(part.length);
          await write(s, len);
          await write(s, part);
        }
      }
      await write(s, Buffer.alloc(4));
    });
    return parseClamdReply(reply.toString('latin1'));
  }

  async ping(signal?: AbortSignal): Promise<boolean> {
    const o = this.o;
    const opts = { host: o.host, port: o.port, timeoutMs: o.timeoutMs, connectTimeoutMs: o.connectTimeoutMs ?? filterLimits.scannerConnectTimeoutMs, replyBytesMax: 1024, signal };
    const reply = await exchange('clamd', opts, async (s) => write(s, 'zPING\0'));
    return reply.toString('latin1').startsWith('PONG');
  }
}

/** `stream: OK`, `stream: <Name> FOUND`, or `... ERROR` (size limit exceeded and the like). */
export function parseClamdReply(text: string): ClamdVerdict {
  const t = text.replace(/\0+$/, '').trim();
  if (t === '') throw new FilterError('clamd', 'UNAVAILABLE', 'closed without a reply');
  if (/^stream: OK$/.test(t)) return { infected: false };
  const found = /^stream: (.+) FOUND$/.exec(t);
  if (found !== null) return { infected: true, name: (found[1] ?? '').replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 100) };
  throw new FilterError('clamd', 'PROTOCOL', `clamd says: ${t.slice(0, 100)}`);
}
