// The data the MIME library hands out: ENVELOPE and BODYSTRUCTURE facts with byte offsets.
// Plain data only: no IMAP syntax (quoting, NIL, literals belong to src/imap).

/** An address as IMAP ENVELOPE needs it (RFC 9051 §7.5.2). Group syntax: a start marker
 *  {name:null, adl:null, mailbox: groupName, host: null} and an end marker {all null}. */
export interface EnvelopeAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** RFC 9051 ENVELOPE fields. Strings are the raw header values as they appear (unfolded, not
 *  decoded: encoded-words stay encoded, 8-bit UTF-8 stays as is), null when absent. Sender and
 *  reply-to already default to from (RFC 9051 §7.5.2), so a server serializes them as they are. */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  sender: EnvelopeAddress[] | null;
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

export interface Disposition {
  type: string;
  params: [string, string][];
}

/** One node of the MIME tree with byte offsets into the whole message. */
export interface BodyPart {
  /** IMAP part number: '' for a multipart top-level, '1', '1.2', ... (RFC 9051 §6.4.5: a non-multipart
   *  top-level body is part '1'; a message/rfc822 part's own body is numbered inside it, so its child
   *  is numbered like the parent when multipart and parent + '.1' otherwise). */
  part: string;
  /** Lower case, e.g. 'text', 'plain'; defaults text/plain (RFC 2045), message/rfc822 in a digest. */
  type: string;
  subtype: string;
  /** Content-Type parameters, names lower case, values raw (RFC 2231 continuations joined). */
  params: [string, string][];
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding, lower case, default '7bit'. */
  encoding: string;
  /** Offsets in the message: header start, body start (after the blank line), body end (exclusive). */
  headerStart: number;
  bodyStart: number;
  end: number;
  /** Body size in bytes and lines (LF count; text/* and message/rfc822 only, else null). */
  size: number;
  lines: number | null;
  /** Content-MD5 as written, or null (Dovecot leaves it NIL when absent). */
  md5: string | null;
  disposition: Disposition | null;
  language: string[] | null;
  location: string | null;
  /** multipart: children; message/rfc822: exactly one child, the encapsulated message (with `envelope`). */
  children: BodyPart[];
  /** message/rfc822 parts only: the encapsulated message's envelope. */
  envelope: Envelope | null;
}

/** What is computed once at delivery and stored with the message (MessageExtras.summary). */
export interface MessageSummary {
  version: 1;
  size: number;
  envelope: Envelope;
  /** The top-level part tree. */
  body: BodyPart;
  /** RFC 5256 base subject of the decoded (RFC 2047, UTF-8) Subject, for SORT SUBJECT and THREAD. */
  sortSubject: string;
  /** The Subject had a reply/forward marker (RFC 5256 §2.1), for THREAD=REFERENCES step 5. */
  replyOrForward: boolean;
  /** Date header as ms since epoch, null if missing/invalid. */
  sentDate: number | null;
  /** Message-ids from References (then In-Reply-To when References has none), for THREAD. */
  references: string[];
  /** Normalized <id> from Message-ID, or null. */
  messageId: string | null;
  /** RFC 5256 SORT FROM/TO/CC: addr-mailbox of the first address; RFC 5957 DISPLAYFROM/DISPLAYTO:
   *  decoded display name of the first address, else its addr-spec. '' when absent. */
  firstFrom: string;
  firstTo: string;
  firstCc: string;
  displayFrom: string;
  displayTo: string;
}

/** IMAP section spec, already parsed by the IMAP parser (RFC 9051 §6.4.5 FETCH BODY[...]). */
export interface SectionSpec {
  /** [] = whole message, [1,2] = part 1.2 */
  part: number[];
  kind: '' | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** For HEADER.FIELDS(.NOT), any case. */
  fields?: string[];
}

/** RFC 5256 THREAD input, one per message. */
export interface ThreadInput {
  id: number;
  messageId: string | null;
  references: string[];
  sortSubject: string;
  sentDate: number | null;
  internalDate: number;
  /** MessageSummary.replyOrForward; absent counts as false. */
  replyOrForward?: boolean;
}

/** A thread tree node; id null = dummy (a referenced message that is not in the set). */
export type ThreadNode = { id: number | null; children: ThreadNode[] };
