import { randomBytes } from "crypto";
import {
  WireguardKeyError,
  clampPrivateKey,
  decodeKey,
  derivePublicKey,
  encodeKey,
  keyPairFromRandomBase64,
  keyPairFromRandomBytes,
  publicKeyFromPrivateKey,
  x25519,
} from "../../infra/wireguard";

const hex = (text: string): Buffer => Buffer.from(text, "hex");

describe("X25519 against RFC 7748", () => {
  // Section 5.2: scalar, input u-coordinate, output u-coordinate.
  it.each([
    [
      "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
      "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ],
    [
      "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
      "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
      "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ],
  ])("section 5.2 vector for scalar %s", (scalar, u, expected) => {
    expect(x25519(hex(scalar), hex(u)).toString("hex")).toBe(expected);
  });

  // Section 6.1: Alice and Bob.
  const alicePrivate = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const alicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
  const bobPrivate = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const bobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
  const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

  it("derives Alice's and Bob's public keys (section 6.1)", () => {
    expect(derivePublicKey(alicePrivate).toString("hex")).toBe(alicePublic);
    expect(derivePublicKey(bobPrivate).toString("hex")).toBe(bobPublic);
    expect(publicKeyFromPrivateKey(encodeKey(alicePrivate))).toBe(Buffer.from(alicePublic, "hex").toString("base64"));
  });

  it("computes the shared secret from both sides (section 6.1)", () => {
    expect(x25519(alicePrivate, hex(bobPublic)).toString("hex")).toBe(shared);
    expect(x25519(bobPrivate, hex(alicePublic)).toString("hex")).toBe(shared);
  });
});

describe("key pairs", () => {
  it("clamps as WireGuard does", () => {
    const clamped = clampPrivateKey(Buffer.alloc(32, 0xff));
    expect(clamped[0]).toBe(0xf8);
    expect(clamped[31]).toBe(0x7f);
    expect(clampPrivateKey(Buffer.alloc(32, 0))[31]).toBe(0x40);
    expect(clamped.subarray(1, 31).equals(Buffer.alloc(30, 0xff))).toBe(true);
  });

  it("builds the pair from given random bytes, clamping the stored private key", () => {
    const material = Buffer.alloc(32, 0xff);
    const pair = keyPairFromRandomBytes(material);
    expect(pair.privateKey).toBe(encodeKey(clampPrivateKey(material)));
    expect(pair.privateKey).toBe("+P///////////////////////////////////////38=");
    expect(pair.publicKey).toBe(publicKeyFromPrivateKey(pair.privateKey));
    expect(keyPairFromRandomBase64(material.toString("base64"))).toEqual(pair);
  });

  it("round-trips base64", () => {
    const bytes = randomBytes(32);
    expect(decodeKey(encodeKey(bytes)).equals(bytes)).toBe(true);
  });
});

describe("key validation", () => {
  it.each([
    ["empty", ""],
    ["31 bytes", randomBytes(31).toString("base64")],
    ["33 bytes", randomBytes(33).toString("base64")],
    ["missing padding", encodeKey(randomBytes(32)).slice(0, 43)],
    ["invalid character", `*${encodeKey(randomBytes(32)).slice(1)}`],
    ["url-safe alphabet", "-_" + encodeKey(Buffer.alloc(32, 0xfb)).slice(2)],
    ["non-canonical last character", `${"A".repeat(42)}B=`],
    ["trailing newline", `${encodeKey(randomBytes(32))}\n`],
  ])("rejects %s", (_what, text) => {
    expect(() => decodeKey(text)).toThrow(WireguardKeyError);
  });

  it("does not echo the rejected text", () => {
    const secret = `${encodeKey(randomBytes(32)).slice(0, 43)}`;
    expect(() => decodeKey(secret)).toThrow(/43 characters/);
    expect(() => decodeKey(secret)).not.toThrow(secret);
  });

  it.each([31, 33, 0])("rejects %i raw bytes", (length) => {
    expect(() => encodeKey(Buffer.alloc(length))).toThrow(WireguardKeyError);
    expect(() => derivePublicKey(Buffer.alloc(length))).toThrow(WireguardKeyError);
    expect(() => keyPairFromRandomBytes(Buffer.alloc(length))).toThrow(WireguardKeyError);
    expect(() => x25519(Buffer.alloc(32, 1), Buffer.alloc(length))).toThrow(WireguardKeyError);
  });
});
