// AUTH [mechanism [initial-response]] (RFC 5034): SASL PLAIN (RFC 4616), with or without an initial
// response; AUTH alone lists the mechanisms usable now. Must not log the response (it holds the password).

import { decodeBase64Strict, decodePlain, saslCancel, saslEmptyInitialResponse } from '../../net/sasl-plain.ts';
import { pop3SaslResponseLineBytesMax } from '../limits.ts';
import { login } from '../login.ts';
import { splitArgs } from '../proto/command-line.ts';
import * as replies from '../proto/replies.ts';
import { type CommandContext, type CommandSpec, requireAuthorization } from './spec.ts';

export interface AuthArgs {
  /** Upper-cased (SASL mechanism names are case-insensitive); undefined for the bare listing form. */
  readonly mechanism: string | undefined;
  /** The initial response as sent ("=" means empty, RFC 5034 §4); undefined when absent. */
  readonly initialResponse: string | undefined;
}

/** SASL mechanisms usable now: PLAIN only where plaintext passwords may travel (RFC 4616 §5, RFC 2595 §2.3). */
export function saslMechanisms(plaintextAuthAllowed: boolean): readonly string[] {
  return plaintextAuthAllowed ? ['PLAIN'] : [];
}

/** The client's response text, or why there is none: the connection closed, or the line was too long. */
type ClientResponse = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'closed' } | { readonly kind: 'too-long' };

async function clientResponse(ctx: CommandContext, initialResponse: string | undefined): Promise<ClientResponse> {
  if (initialResponse !== undefined) return { kind: 'text', text: initialResponse === saslEmptyInitialResponse ? '' : initialResponse };
  // PLAIN is client-first: without an initial response the server sends an empty challenge (RFC 5034 §4).
  await ctx.continuation('');
  const ev = await ctx.readLine(pop3SaslResponseLineBytesMax);
  if (ev === undefined) return { kind: 'closed' };
  if (ev.kind === 'too-long') return { kind: 'too-long' };
  return { kind: 'text', text: new TextDecoder('latin1').decode(ev.bytes) };
}

export const auth: CommandSpec<AuthArgs> = {
  rfc: 'RFC 5034 §4',
  states: ['AUTHORIZATION'],
  parse(rest) {
    const args = splitArgs(rest, 0, 2);
    if (args === undefined) return { ok: false, reply: replies.syntax('AUTH [mechanism [initial-response]]') };
    return { ok: true, args: { mechanism: args[0]?.toUpperCase(), initialResponse: args[1] } };
  },
  async handle(ctx, { mechanism, initialResponse }) {
    requireAuthorization(ctx);
    if (mechanism === undefined) {
      await ctx.replyListing(replies.saslMechanismsFollow, saslMechanisms(ctx.plaintextAuthAllowed));
      return;
    }
    if (mechanism !== 'PLAIN') {
      await ctx.reply(replies.saslUnsupportedMechanism);
      return;
    }
    if (!ctx.plaintextAuthAllowed) {
      await ctx.reply(replies.plaintextDisallowed);
      return;
    }
    const response = await clientResponse(ctx, initialResponse);
    if (response.kind === 'closed' || !ctx.open) return;
    if (response.kind === 'text' && response.text === saslCancel) {
      await ctx.reply(replies.saslCancelled);
      return;
    }
    const bytes = response.kind === 'text' ? decodeBase64Strict(response.text) : undefined;
    const decoded = bytes === undefined ? undefined : decodePlain(bytes);
    if (decoded === undefined || !decoded.ok) {
      await ctx.reply(replies.saslMalformed);
      return;
    }
    const { authzid, authcid, password } = decoded.credentials;
    if (authzid !== '' && authzid !== authcid) {
      ctx.log.warn({ event: 'auth-authzid-refused', user: authcid, authzid }, 'PLAIN authorization identity differs from the authentication identity');
      await ctx.reply(replies.saslAuthzidRefused);
      return;
    }
    await login(ctx, authcid, password, 'PLAIN');
  },
};
