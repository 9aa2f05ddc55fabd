// Public entry of the pure MIME library: parse once at delivery, answer FETCH/SEARCH/SORT/THREAD questions.
// Must not import store, network or IMAP code, nor read clocks; IMAP syntax belongs to src/imap.

export type { BodyPart, Disposition, Envelope, EnvelopeAddress, MessageSummary, SectionSpec, ThreadInput, ThreadNode } from './types.ts';
export { MimeError, isMimeError, type MimeErrorCode } from './errors.ts';
export { mimeLimits, type MimeLimits } from './limits.ts';
export { summarize, decodeWords, messageIds } from './summary.ts';
export { parseRfc5322Date } from './date.ts';
export { encodeSummary, decodeSummary } from './codec.ts';
export { extractSection, decodeBinarySection, resolvePart } from './section.ts';
export { baseSubject, extractBaseSubject, type BaseSubject } from './subject.ts';
export { headerMatches, bodyMatches, textMatches, unicodeCasemap } from './search.ts';
export { threadReferences, threadOrderedSubject } from './thread.ts';
