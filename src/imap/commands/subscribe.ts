// SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7-§6.3.8): the folder's subscribed mark in the store.
// The two differ only in the mark they set; unsubscribing a name that is gone is not an error.

import { StoreError } from '../../store/index.ts';
import { oneMailbox } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';
import { storeFailure } from './util.ts';

const authed = ['authenticated', 'selected'] as const;

function subscription(subscribed: boolean): CommandSpec<string> {
  return {
    rfc: subscribed ? 'RFC 9051 §6.3.7' : 'RFC 9051 §6.3.8',
    states: authed,
    parse: oneMailbox,
    async handle(s, name) {
      try {
        await s.store.execute({ type: 'subscribe', accountId: s.account!.id, name, subscribed });
      } catch (e) {
        // Unsubscribing a name that no longer exists is not an error worth reporting.
        if (!subscribed && e instanceof StoreError && e.code === 'NOT_FOUND') return ok('UNSUBSCRIBE completed');
        return storeFailure(s, e, subscribed ? 'SUBSCRIBE' : 'UNSUBSCRIBE');
      }
      return ok(`${subscribed ? 'SUBSCRIBE' : 'UNSUBSCRIBE'} completed`);
    },
  };
}

export const subscribe = subscription(true);
export const unsubscribe = subscription(false);
