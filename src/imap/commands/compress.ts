// COMPRESS DEFLATE (RFC 4978): raw DEFLATE both ways from the octet after the tagged OK.
// Once only per session; the connection does the switching.

import type { Reader } from '../proto/reader.ts';
import { type CommandSpec, no, ok } from './spec.ts';

const authed = ['authenticated', 'selected'] as const;

export const compress: CommandSpec<string> = {
  rfc: 'RFC 4978',
  states: authed,
  parse(r: Reader) {
    r.sp();
    const m = r.keyword();
    r.end();
    return m;
  },
  async handle(s, mechanism) {
    if (mechanism !== 'DEFLATE') return no(`Unknown compression mechanism ${mechanism.slice(0, 20)}`, 'CANNOT');
    if (s.compressed) return no('Compression is already active', 'COMPRESSIONACTIVE');
    s.afterReply('compress');
    return ok('DEFLATE active');
  },
};
