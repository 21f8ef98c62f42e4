import { encodeKey, type WireguardConfig } from "../../../infra/wireguard";

/** A wg-quick config with two peers (one with a preshared key, name and keepalive; one at an IPv6 endpoint). */
export const privateKey = encodeKey(Buffer.alloc(32, 0x48));
export const peerA = encodeKey(Buffer.alloc(32, 0x11));
export const peerB = encodeKey(Buffer.alloc(32, 0x22));
export const psk = encodeKey(Buffer.alloc(32, 0x33));

export const config: WireguardConfig = {
  interface: { privateKey, addresses: ["172.30.0.1/30", "172.30.1.1/32"], listenPort: 51821, mtu: 1420 },
  peers: [
    {
      name: "concentrator-a",
      publicKey: peerA,
      presharedKey: psk,
      allowedIps: ["10.128.0.0/14", "10.132.0.0/16"],
      endpoint: { host: "198.51.100.7", port: 51821 },
      persistentKeepalive: 25,
    },
    { publicKey: peerB, allowedIps: ["10.200.0.0/16"], endpoint: { host: "2001:db8::7", port: 4500 } },
  ],
};
