// CAPA (RFC 2449 §5): the capabilities valid in the current state and security. No APOP (we keep only
// argon2id hashes), so no greeting timestamp and no APOP here. Must not advertise what would be refused.

import * as replies from '../proto/replies.ts';
import type { Pop3State } from '../session-state.ts';
import { saslMechanisms } from './auth.ts';
import { type CommandSpec, parseNoArgs } from './spec.ts';

export interface CapabilityFacts {
  readonly state: Pop3State;
  readonly tlsAvailable: boolean;
  readonly plaintextAuthAllowed: boolean;
}

/** Pure: the CAPA lines for these facts. */
export function capabilities(f: CapabilityFacts): string[] {
  const lines = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
  if (f.state === 'AUTHORIZATION') {
    // RFC 2449 §6 USER and SASL, RFC 2595 §4 STLS: only where they can succeed.
    if (f.plaintextAuthAllowed) lines.push('USER');
    const mechanisms = saslMechanisms(f.plaintextAuthAllowed);
    if (mechanisms.length > 0) lines.push(`SASL ${mechanisms.join(' ')}`);
    if (f.tlsAvailable) lines.push('STLS');
  }
  return lines;
}

export const capa: CommandSpec<null> = {
  rfc: 'RFC 2449 §5',
  states: ['AUTHORIZATION', 'TRANSACTION'],
  parse: parseNoArgs('CAPA'),
  async handle(ctx) {
    const state = ctx.state.name === 'TRANSACTION' ? 'TRANSACTION' : 'AUTHORIZATION';
    await ctx.replyListing(replies.capabilitiesFollow, capabilities({ state, tlsAvailable: ctx.tlsAvailable, plaintextAuthAllowed: ctx.plaintextAuthAllowed }));
  },
};
