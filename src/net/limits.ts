// Limits of the protocol-neutral connection plumbing (PROXY header, SASL PLAIN, login-failure memory), named
// with their units. Constants only: no logic and no imports, so every front end can share them freely.

// ---- PROXY protocol (HAProxy's proxy-protocol.txt) ----

/** Version 1 (text): at most 107 octets including CRLF (§2.1). */
export const proxyV1HeaderBytesMax = 107;
/** Version 2 (binary): the fixed part, signature + version/command + family + length (§2.2). */
export const proxyV2FixedBytes = 16;
/** Version 2: address and TLV octets accepted after the fixed part (the format allows 65 535; an L4 balancer sends < 300). */
export const proxyV2PayloadBytesMax = 2_048;

// ---- SASL ----

/** RFC 4616 §2: authzid, authcid and passwd are each at most 255 octets of UTF-8. */
export const saslPlainFieldBytesMax = 255;

// ---- Login failures ----

/** Client addresses whose failures are remembered; the least recently failing is forgotten first. */
export const authFailureIpsTrackedMax = 100_000;
