// Checking a login against the directory, shared by every front end (SMTP AUTH, POP3, IMAP).
// Reads only; the argon2id work happens here, outside apply.

import { randomBytes } from 'node:crypto';
import { hashPassword, verifyPassword } from './password.ts';
import type { StoreQueries } from './queries.ts';
import type { AccountRecord } from './types.ts';

/** A hash nobody's password matches, to spend the same time on unknown users as on known ones. */
let decoy: Promise<string> | undefined;

/** The account when the password is right; null for a wrong password or an unknown user alike. */
export async function checkLogin(queries: StoreQueries, username: string, password: string): Promise<AccountRecord | null> {
  const account = await queries.accountByAddress(username);
  if (!account) {
    decoy ??= hashPassword(randomBytes(16).toString('hex'));
    await verifyPassword(password, await decoy);
    return null;
  }
  return (await verifyPassword(password, account.passwordHash)) ? account : null;
}
