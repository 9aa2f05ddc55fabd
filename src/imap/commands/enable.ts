// ENABLE (RFC 5161): CONDSTORE, QRESYNC (which implies CONDSTORE), IMAP4rev2, UTF8=ACCEPT.
// Unknown capabilities are ignored, as the RFC asks.

import { atoms } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';

const authed = ['authenticated', 'selected'] as const;
const enableable = new Set(['CONDSTORE', 'QRESYNC', 'IMAP4REV2', 'UTF8=ACCEPT']);

export const enable: CommandSpec<string[]> = {
  rfc: 'RFC 5161',
  states: authed,
  parse: atoms,
  async handle(s, caps) {
    const now: string[] = [];
    for (const c of caps) {
      if (!enableable.has(c) || s.enabled.has(c)) continue;
      s.enabled.add(c);
      now.push(c === 'IMAP4REV2' ? 'IMAP4rev2' : c);
      // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
      if (c === 'QRESYNC' && !s.enabled.has('CONDSTORE')) s.enabled.add('CONDSTORE');
    }
    await s.send(`* ENABLED${now.map((c) => ` ${c}`).join('')}\r\n`);
    return ok('ENABLE completed');
  },
};
