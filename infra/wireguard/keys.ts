import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from "crypto";

/** Length in bytes of every Curve25519 key WireGuard uses. */
export const WIREGUARD_KEY_LENGTH = 32;

/** A WireGuard key pair, both halves base64 encoded as `wg` prints them. */
export interface WireguardKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

export class WireguardKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireguardKeyError";
  }
}

// DER headers of the PKCS#8 and SPKI encodings of an X25519 key (RFC 8410); the raw 32 bytes follow them.
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519_PREFIX = Buffer.from("302a300506032b656e032100", "hex");
// Standard base64 of 32 bytes: 43 characters and one '=' whose preceding character carries only 4 bits.
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Encodes a 32-byte key as standard base64 (the format of `wg genkey`, `wg pubkey` and Kilo's `publicKey`). */
export function encodeKey(key: Uint8Array): string {
  assertKeyLength(key, "key");
  return Buffer.from(key).toString("base64");
}

/**
 * Decodes a base64 WireGuard key, rejecting anything that is not exactly the canonical encoding of 32 bytes
 * (Node's decoder silently skips bad characters, so the text is checked first).
 */
export function decodeKey(text: string): Buffer {
  if (!KEY_BASE64.test(text)) {
    throw new WireguardKeyError(
      `not a WireGuard key: expected the base64 encoding of ${WIREGUARD_KEY_LENGTH} bytes (44 characters ending in '='), got ${describe(text)}`,
    );
  }
  const key = Buffer.from(text, "base64");
  assertKeyLength(key, "decoded key");
  return key;
}

/** Applies the X25519 scalar clamping (RFC 7748 section 5) that `wg genkey` applies to its random bytes. */
export function clampPrivateKey(bytes: Uint8Array): Buffer {
  assertKeyLength(bytes, "private key material");
  const key = Buffer.from(bytes);
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
}

/** X25519(scalar, u) of RFC 7748, with Node's OpenSSL implementation; both inputs and the result are 32 bytes. */
export function x25519(scalar: Uint8Array, uCoordinate: Uint8Array): Buffer {
  assertKeyLength(scalar, "scalar");
  assertKeyLength(uCoordinate, "u-coordinate");
  return diffieHellman({ privateKey: privateKeyObject(scalar), publicKey: publicKeyObject(uCoordinate) });
}

/** The public key (X25519 of the base point) for a raw 32-byte private key. */
export function derivePublicKey(privateKey: Uint8Array): Buffer {
  assertKeyLength(privateKey, "private key");
  const spki = createPublicKey(privateKeyObject(privateKey)).export({ format: "der", type: "spki" });
  return Buffer.from(spki.subarray(spki.length - WIREGUARD_KEY_LENGTH));
}

/** `wg pubkey`: the base64 public key for a base64 private key. */
export function publicKeyFromPrivateKey(privateKeyBase64: string): string {
  return encodeKey(derivePublicKey(decodeKey(privateKeyBase64)));
}

/**
 * Builds a key pair from 32 random bytes (for example the base64 output of a Pulumi `RandomBytes`), clamped as
 * `wg genkey` does so the stored private key is the one WireGuard itself would use.
 */
export function keyPairFromRandomBytes(randomMaterial: Uint8Array): WireguardKeyPair {
  const privateKey = clampPrivateKey(randomMaterial);
  return { privateKey: encodeKey(privateKey), publicKey: encodeKey(derivePublicKey(privateKey)) };
}

/** Same as `keyPairFromRandomBytes` for random bytes given in base64. */
export function keyPairFromRandomBase64(randomBase64: string): WireguardKeyPair {
  return keyPairFromRandomBytes(decodeKey(randomBase64));
}

/** A fresh key pair from the operating system's random source. */
export function generateKeyPair(): WireguardKeyPair {
  return keyPairFromRandomBytes(randomBytes(WIREGUARD_KEY_LENGTH));
}

function privateKeyObject(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: "der", type: "pkcs8" });
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: "der", type: "spki" });
}

function assertKeyLength(key: Uint8Array, what: string): void {
  if (key.length !== WIREGUARD_KEY_LENGTH) {
    throw new WireguardKeyError(`${what} must be ${WIREGUARD_KEY_LENGTH} bytes, got ${key.length}`);
  }
}

// Never echo a value that may be a private key.
function describe(text: string): string {
  return `${text.length} characters`;
}
