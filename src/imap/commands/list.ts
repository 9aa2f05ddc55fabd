// LIST (RFC 9051 §6.3.9 with LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154, CHILDREN)
// and LSUB (RFC 3501 §6.3.9). Hierarchy delimiter "/"; parents that do not exist show as \NonExistent.

import type { FolderRecord } from '../../store/index.ts';
import { imapFoldersListedMax } from '../limits.ts';
import { type ListArgs, list as parseList } from '../proto/commands.ts';
import { astr } from '../proto/encode.ts';
import { ParseError, type Reader } from '../proto/reader.ts';
import type { ParseOptions } from '../proto/commands.ts';
import { decodeMutf7 } from '../proto/mutf7.ts';
import { checkStatusItems, statusLineFor } from './status.ts';
import { type CommandSpec, type Session, ok } from './spec.ts';
import { wireName } from './util.ts';

/**
 * LIST pattern matching (RFC 9051 §6.3.9): `*` matches any run, `%` any run without the delimiter "/".
 * Dynamic programming over (pattern, name) positions: linear in their product, never backtracking.
 */
export function patternMatches(pattern: string, name: string): boolean {
  let reach = new Uint8Array(name.length + 1);
  reach[0] = 1;
  // A run of wildcards matches what its widest member matches ("%*" = "*"): collapsing runs bounds the
  // steps by the name's length, since each literal step moves the reachable set one character on.
  const steps = pattern.replace(/[*%]{2,}/g, (w) => (w.includes('*') ? '*' : '%'));
  // By UTF-16 code unit, as name[i] below: a code-point loop never matched characters beyond the BMP (emoji).
  for (let k = 0; k < steps.length; k++) {
    const p = steps[k]!;
    const next = new Uint8Array(name.length + 1);
    let any = false;
    if (p === '*' || p === '%') {
      // Zero or more characters (for %: none of them the delimiter), in one forward sweep: a nested
      // loop here made `LIST "" "%%%…"` (60 KB) against a 250-character name take 18 s of CPU.
      let on = false;
      for (let i = 0; i <= name.length; i++) {
        on = reach[i] === 1 || (on && (p === '*' || name[i - 1] !== '/'));
        if (on) {
          next[i] = 1;
          any = true;
        }
      }
    } else {
      for (let i = 0; i < name.length; i++) {
        if (reach[i] && name[i] === p) {
          next[i + 1] = 1;
          any = true;
        }
      }
    }
    if (!any) return false;
    reach = next;
  }
  return reach[name.length] === 1;
}

function matches(name: string, pattern: string): boolean {
  if (patternMatches(pattern, name)) return true;
  // INBOX is case-insensitive: "inbox" and "Inbox/%" patterns find it and its children.
  if (name === 'INBOX' || name.startsWith('INBOX/')) return patternMatches(pattern.replace(/^inbox(?=$|\/)/i, 'INBOX'), name);
  return false;
}

interface Entry {
  readonly name: string;
  readonly folder: FolderRecord | undefined;
}

function entries(folders: readonly FolderRecord[]): Entry[] {
  const byName = new Map(folders.map((f) => [f.name, f]));
  const out = new Map<string, Entry>();
  for (const f of folders) {
    const levels = f.name.split('/');
    for (let i = 1; i < levels.length; i++) {
      const parent = levels.slice(0, i).join('/');
      if (!out.has(parent)) out.set(parent, { name: parent, folder: byName.get(parent) });
    }
    out.set(f.name, { name: f.name, folder: f });
  }
  return [...out.values()].sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function attributes(e: Entry, all: readonly Entry[], a: ListArgs, lsub: boolean): string[] {
  const attrs: string[] = [];
  const hasChildren = all.some((x) => x.name.startsWith(`${e.name}/`));
  if (!e.folder) attrs.push(a.extended ? '\\NonExistent' : '\\Noselect');
  if (!lsub) attrs.push(hasChildren ? '\\HasChildren' : '\\HasNoChildren');
  if (e.folder?.subscribed && (a.select.has('SUBSCRIBED') || a.returns.has('SUBSCRIBED'))) attrs.push('\\Subscribed');
  if (e.folder?.specialUse && !lsub) attrs.push(e.folder.specialUse);
  return attrs;
}

async function run(s: Session, a: ListArgs, lsub: boolean): Promise<void> {
  const word = lsub ? 'LSUB' : 'LIST';
  if (a.patterns.length === 1 && a.patterns[0] === '' && !a.extended) {
    await s.send(`* ${word} (\\Noselect) "/" ""\r\n`);
    return;
  }
  const folders = await s.store.queries.folders(s.account!.id, imapFoldersListedMax);
  const all = entries(folders);
  const patterns = a.patterns.map((p) => a.reference + p);
  const out: string[] = [];
  for (const e of all) {
    if (!patterns.some((p) => matches(e.name, p))) continue;
    let childInfo = '';
    if ((lsub || a.select.has('SUBSCRIBED')) && !e.folder?.subscribed) {
      // RFC 5258 §3.5: with RECURSIVEMATCH, a parent of subscribed names is listed with CHILDINFO.
      const subscribedChild = all.some((x) => x.folder?.subscribed && x.name.startsWith(`${e.name}/`));
      if (!a.select.has('RECURSIVEMATCH') || !subscribedChild) continue;
      childInfo = ' ("CHILDINFO" ("SUBSCRIBED"))';
    }
    if (a.select.has('SPECIAL-USE') && !e.folder?.specialUse) continue;
    const name = astr(wireName(s, e.name), s.encodeOptions).join('');
    out.push(`* ${word} (${attributes(e, all, a, lsub).join(' ')}) "/" ${name}${childInfo}\r\n`);
    if (a.statusItems && e.folder) out.push(await statusLineFor(s, e.folder, a.statusItems));
  }
  await s.send(out.join(''));
}

export const list: CommandSpec<ListArgs> = {
  rfc: 'RFC 9051 §6.3.9, RFC 5258, RFC 5819, RFC 6154',
  states: ['authenticated', 'selected'],
  parse(r: Reader, o: ParseOptions) {
    const a = parseList(r, o);
    if (a.statusItems) checkStatusItems(a.statusItems);
    for (const opt of a.select) if (!['SUBSCRIBED', 'REMOTE', 'RECURSIVEMATCH', 'SPECIAL-USE'].includes(opt)) throw new ParseError(`unknown selection option ${opt}`);
    if (a.select.has('RECURSIVEMATCH') && a.select.size === 1) throw new ParseError('RECURSIVEMATCH needs another selection option');
    for (const opt of a.returns) if (!['SUBSCRIBED', 'CHILDREN', 'SPECIAL-USE', 'STATUS'].includes(opt)) throw new ParseError(`unknown return option ${opt}`);
    return a;
  },
  async handle(s, a) {
    await run(s, a, false);
    return ok('LIST completed');
  },
};

export const lsub: CommandSpec<ListArgs> = {
  rfc: 'RFC 3501 §6.3.9',
  states: ['authenticated', 'selected'],
  parse(r, o) {
    r.sp();
    const reference = r.astring();
    r.sp();
    const pattern = r.listMailbox();
    r.end();
    const decode = (x: string): string => (o.utf8 ? x : decodeMutf7(x));
    return { reference: decode(reference), patterns: [decode(pattern)], select: new Set(), returns: new Set(), statusItems: null, extended: false };
  },
  async handle(s, a) {
    await run(s, a, true);
    return ok('LSUB completed');
  },
};
