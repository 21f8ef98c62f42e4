import { WireguardConfigError, renderWireguardConfig, type WireguardConfig } from "../../infra/wireguard";
import { config, peerA, peerB, privateKey, psk } from "./support/config";

describe("renderWireguardConfig", () => {
  it("renders interface and peers", () => {
    expect(renderWireguardConfig(config)).toBe(
      [
        "[Interface]",
        `PrivateKey = ${privateKey}`,
        "Address = 172.30.0.1/30, 172.30.1.1/32",
        "ListenPort = 51821",
        "MTU = 1420",
        "",
        "# concentrator-a",
        "[Peer]",
        `PublicKey = ${peerA}`,
        `PresharedKey = ${psk}`,
        "AllowedIPs = 10.128.0.0/14, 10.132.0.0/16",
        "Endpoint = 198.51.100.7:51821",
        "PersistentKeepalive = 25",
        "",
        "[Peer]",
        `PublicKey = ${peerB}`,
        "AllowedIPs = 10.200.0.0/16",
        "Endpoint = [2001:db8::7]:4500",
        "",
      ].join("\n"),
    );
  });

  it("lists every problem", () => {
    const broken: WireguardConfig = {
      interface: { privateKey: "short", addresses: ["172.30.0.1"], listenPort: 70000 },
      peers: [
        { publicKey: peerA, allowedIps: [], endpoint: { host: "bad host", port: 0 }, persistentKeepalive: -1 },
        { publicKey: peerA, allowedIps: ["10.0.0.0/33"] },
      ],
    };
    let error: unknown;
    try {
      renderWireguardConfig(broken);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(WireguardConfigError);
    expect((error as WireguardConfigError).problems).toEqual([
      "interface.privateKey: not a WireGuard key: expected the base64 encoding of 32 bytes (44 characters ending in '='), got 5 characters",
      "interface.addresses[0]: not a CIDR",
      "interface.listenPort: must be an integer from 1 to 65535",
      "peers[0].allowedIps: must not be empty",
      "peers[0].endpoint.host: not an IP address or DNS name",
      "peers[0].endpoint.port: must be an integer from 1 to 65535",
      "peers[0].persistentKeepalive: must be an integer from 0 to 65535",
      "peers[1].publicKey: used by another peer",
      "peers[1].allowedIps[0]: not a CIDR",
    ]);
  });
});
