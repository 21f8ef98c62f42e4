export {
  WIREGUARD_KEY_LENGTH,
  WireguardKeyError,
  clampPrivateKey,
  decodeKey,
  derivePublicKey,
  encodeKey,
  generateKeyPair,
  keyPairFromRandomBase64,
  keyPairFromRandomBytes,
  publicKeyFromPrivateKey,
  x25519,
} from "./keys";
export type { WireguardKeyPair } from "./keys";
export { WireguardConfigError, formatEndpoint, renderWireguardConfig, validateWireguardConfig } from "./config";
export type { WireguardConfig, WireguardEndpoint, WireguardInterfaceConfig, WireguardPeerConfig } from "./config";
