import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { run } from "../../harness/commands";
import { renderWireguardConfig } from "../../infra/wireguard";
import { config, peerB } from "./support/config";

describe("renderWireguardConfig", () => {
  it("is parsed by `wg-quick strip`", () => {
    const dir = mkdtempSync(join(tmpdir(), "wgconf-"));
    try {
      // `wg-quick strip` only reads the file; the stripped output is what `wg setconf` consumes.
      const file = join(dir, "wgtest0.conf");
      writeFileSync(file, renderWireguardConfig(config), { mode: 0o600 });
      const stripped = run("wg-quick", ["strip", file]);
      expect(stripped.stderr).toBe("");
      expect(stripped.status).toBe(0);
      expect(stripped.stdout).not.toContain("Address");
      expect(stripped.stdout).toContain(`PublicKey = ${peerB}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
