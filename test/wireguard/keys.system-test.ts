import { randomBytes } from "crypto";
import { run } from "../../harness/commands";
import { encodeKey, generateKeyPair, keyPairFromRandomBytes, publicKeyFromPrivateKey } from "../../infra/wireguard";

// The key derivation against WireGuard's own `wg pubkey`.

describe("key pairs", () => {
  it("agrees with `wg pubkey` on generated keys", () => {
    const pairs = [generateKeyPair(), generateKeyPair(), generateKeyPair(), keyPairFromRandomBytes(randomBytes(32))];
    for (const pair of pairs) {
      const wg = run("wg", ["pubkey"], `${pair.privateKey}\n`);
      expect(wg.stderr).toBe("");
      expect(wg.status).toBe(0);
      expect(wg.stdout.trim()).toBe(pair.publicKey);
    }
  });

  it("agrees with `wg pubkey` on an unclamped private key (WireGuard clamps before use)", () => {
    const raw = encodeKey(Buffer.alloc(32, 0xff));
    expect(run("wg", ["pubkey"], raw).stdout.trim()).toBe(publicKeyFromPrivateKey(raw));
  });
});
