// This node's libp2p key for gossip, derived from its cluster identity: the same node always has the same
// peer id, and nothing new is stored. Must not be used for anything but gossip (the TLS key stays the TLS key).

import { createPrivateKey, hkdfSync } from 'node:crypto';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey } from '@libp2p/interface';
import type { NodeIdentity } from './identity.ts';

const salt = 'stormo-gossip-key';

/**
 * An Ed25519 key whose seed is HKDF-SHA256 (RFC 5869) of the node's private TLS key, bound to its node
 * id. One-way: the gossip key reveals nothing of the TLS key; only the holder of the TLS key can derive it.
 */
export async function gossipPrivateKey(identity: Pick<NodeIdentity, 'keyPem' | 'nodeId'>): Promise<Ed25519PrivateKey> {
  const der = createPrivateKey(identity.keyPem).export({ type: 'pkcs8', format: 'der' });
  const seed = new Uint8Array(hkdfSync('sha256', der, salt, `node:${identity.nodeId}`, 32));
  return generateKeyPairFromSeed('Ed25519', seed);
}
