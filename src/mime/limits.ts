// Every limit of the MIME library, with its unit in the name. Going over one has a defined outcome
// (documented per limit), never unbounded work or growth. Constants only: no logic, no imports.

export const mimeLimits = {
  /**
   * Body parts in one message tree (multipart containers and leaves, message/rfc822 included).
   * Over it, no further part is split off: the rest of the bytes stay in the body of the part being
   * read, as Dovecot does with its 10 000-part limit. Kept lower than Dovecot's so the encoded
   * summary fits the store's 256 KiB extras bound.
   */
  partsMax: 1_000,
  /**
   * Nesting depth of multipart and message/rfc822 containers. At the limit a container is kept as
   * an opaque leaf (its body is not parsed further); Dovecot's limit is 100.
   */
  depthMax: 100,
  /**
   * Bytes of one header block interpreted for fields. The block still ends at its blank line; fields
   * starting past this many bytes are kept in the bytes but ignored for ENVELOPE/BODYSTRUCTURE.
   */
  headerBytesMax: 256 * 1024,
  /** Header fields interpreted per header block; later fields are ignored as above. */
  headerFieldsMax: 1_000,
  /** Bytes of one stored string (a header value, a parameter value); longer ones are cut at this. */
  valueBytesMax: 4_096,
  /** Content-Type/Disposition parameters kept per part; later ones are dropped. */
  paramsMax: 32,
  /** Content-Language tags kept per part. */
  languagesMax: 16,
  /** Addresses (group markers included) kept per address header; later ones are dropped. */
  addressesMax: 256,
  /** Message-ids kept from References: the first (the thread root) and the most recent (RFC 5256 §3 uses the tail). */
  referencesMax: 64,
  /**
   * Budget for one summary: the strings kept (values, parameters, addresses, part numbers) plus a
   * fixed cost per part. Once spent, no further part is split off (the same outcome as partsMax).
   * The last part may overshoot by its own header (about 60 KiB at worst), so an encoded summary
   * stays under about 180 KiB, inside the store's 256 KiB extras beside the washer record.
   */
  summaryStringBytesMax: 96 * 1024,
  /** Encoded bytes of one summary accepted by decodeSummary. */
  summaryEncodedBytesMax: 256 * 1024,
  /** Bytes of a boundary parameter (RFC 2046 §5.1.1 allows 70; lenient parsers accept more). */
  boundaryBytesMax: 200,
  /** Decoded bytes searched per text part in SEARCH BODY/TEXT; the rest of a larger part is not searched. */
  searchPartBytesMax: 8 * 1024 * 1024,
  /** Messages one THREAD call accepts (the caller splits or refuses larger mailboxes). */
  threadMessagesMax: 1_000_000,
} as const;

export type MimeLimits = typeof mimeLimits;
