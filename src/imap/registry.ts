// Which sessions watch which folder, and how many sessions each account has open: routes the store's
// change feed to the sessions that need it. Bounded by the connection limits; holds no mail data.

import type { AccountId, FolderChange } from '../store/index.ts';

export interface ChangeListener {
  onFolderChange(c: FolderChange): void;
}

export class SessionRegistry {
  private readonly byFolder = new Map<string, Set<ChangeListener>>();
  private readonly perAccount = new Map<string, number>();

  private static key(accountId: string, folderId: number): string {
    return `${accountId}\u0000${folderId}`;
  }

  watch(l: ChangeListener, accountId: AccountId, folderId: number): void {
    const k = SessionRegistry.key(accountId, folderId);
    let set = this.byFolder.get(k);
    if (!set) this.byFolder.set(k, (set = new Set()));
    set.add(l);
  }

  unwatch(l: ChangeListener, accountId: AccountId, folderId: number): void {
    const k = SessionRegistry.key(accountId, folderId);
    const set = this.byFolder.get(k);
    if (!set) return;
    set.delete(l);
    if (set.size === 0) this.byFolder.delete(k);
  }

  dispatch(changes: readonly FolderChange[]): void {
    for (const c of changes) {
      const set = this.byFolder.get(SessionRegistry.key(c.accountId, c.folderId));
      if (set) for (const l of set) l.onFolderChange(c);
    }
  }

  /** Counts a session for `accountId` unless `max` are open; false when refused. */
  openAccount(accountId: string, max: number): boolean {
    const n = this.perAccount.get(accountId) ?? 0;
    if (n >= max) return false;
    this.perAccount.set(accountId, n + 1);
    return true;
  }

  closeAccount(accountId: string): void {
    const n = this.perAccount.get(accountId) ?? 0;
    if (n <= 1) this.perAccount.delete(accountId);
    else this.perAccount.set(accountId, n - 1);
  }
}
