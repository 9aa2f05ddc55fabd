// Typed hooks the IMAP server calls so that policy (the washer's spam learning) plugs in from outside.
// Hooks run after the change is committed; they must not throw into the session (errors are logged).

import type { SpecialUse } from '../store/index.ts';

export interface MessagesMovedEvent {
  readonly accountId: string;
  readonly from: SpecialUse | null;
  readonly to: SpecialUse | null;
  readonly blobIds: readonly string[];
}

export interface ImapHooks {
  /** After a successful COPY/MOVE (and UID forms) whose source or destination is \Junk. */
  onMessagesMoved?(event: MessagesMovedEvent): void;
}
