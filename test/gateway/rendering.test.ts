import { parse } from "yaml";
import {
  buildGatewayCloudConfig,
  conntrackMaxFor,
  gatewayFiles,
  gatewayUnits,
  renderBootstrapScript,
  renderGatewayCloudInit,
  renderGatewayRuleset,
  renderSteeringAgentScript,
  renderSysctlConf,
  renderSystemdUnit,
  renderUplinkConfig,
  udpTimeoutFor,
  STEERING_TARGETS_JQ,
} from "../../infra/gateway";
import { CONCENTRATOR_PUBLIC_KEY, KILO_PRIVATE_KEY, KUBECONFIG, UPLINK_PRIVATE_KEY, GATEWAY_SECRETS, gatewayPlan } from "./support/plan";

const DOWNLINK_PORTS = [...Array.from({ length: 256 }, (_, i) => 20255 - i), 5683, 5683];
const options = gatewayPlan({ downlinkPorts: DOWNLINK_PORTS });

const FILTER_TABLE_HEAD = `#!/usr/sbin/nft -f

add table inet iot_gateway_filter
delete table inet iot_gateway_filter
add table ip iot_gateway_nat
delete table ip iot_gateway_nat

table inet iot_gateway_filter {
	counter steered_datagrams {
		comment "device datagrams forwarded to an ingress node"
	}

	counter drop_invalid {
		comment "forward drops: conntrack state invalid"
	}

	counter drop_from_uplink {
		comment "forward drops: from the device uplink, not steered"
	}

	counter drop_from_cluster {
		comment "forward drops: from the Kilo mesh, not allowed"
	}

	counter drop_other {
		comment "forward drops: any other interface"
	}

	set device_subnets {
		type ipv4_addr
		flags interval
		auto-merge
		elements = { 10.128.0.0/14, 10.200.0.0/16 }
	}

	set concentrators {
		type ipv4_addr
		flags interval
		auto-merge
		elements = { 198.51.100.0/28 }
	}

	set admin_cidrs {
		type ipv4_addr
		flags interval
		auto-merge
		elements = { 203.0.113.0/24 }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		ct state invalid drop
		udp dport 51820 accept comment "Kilo mesh WireGuard"
		ip saddr @concentrators udp dport 51821 accept comment "device uplink WireGuard, from the concentrators only"
		ip saddr @admin_cidrs tcp dport 22 accept comment "SSH from the admin CIDRs only"
		iifname "kilo0" tcp dport 9100 accept comment "node exporter, from the cluster through the Kilo mesh only"
		udp sport 67 udp dport 68 accept comment "DHCP replies for the instance's own address"
		icmp type { echo-request, destination-unreachable, time-exceeded } limit rate 10/second burst 20 packets accept
		icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, echo-request, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } limit rate 10/second burst 20 packets accept
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state invalid counter name "drop_invalid" drop
		iifname "wg-uplink" oifname "kilo0" ip saddr @device_subnets meta l4proto udp ct status dnat ct original ip daddr 10.5.1.1 ct original proto-dst 5683 counter name "steered_datagrams" accept comment "device datagrams the steering DNAT rewrote, and nothing else"
		iifname "kilo0" oifname "wg-uplink" ip daddr @device_subnets meta l4proto udp ct direction reply ct status dnat ct original ip daddr 10.5.1.1 ct original proto-dst 5683 accept comment "replies of steered flows"
		iifname "kilo0" oifname "wg-uplink" ip saddr 100.64.0.0/15 ip daddr @device_subnets udp dport { 5683, 20000-20255 } ct direction original accept comment "downlinks from pods to the devices' downlink ports"
		iifname "wg-uplink" oifname "kilo0" ct state related icmp type { destination-unreachable, time-exceeded, parameter-problem } accept comment "ICMP errors about allowed flows"
		iifname "kilo0" oifname "wg-uplink" ct state related icmp type { destination-unreachable, time-exceeded, parameter-problem } accept comment "ICMP errors about allowed flows"
		iifname "wg-uplink" counter name "drop_from_uplink" drop comment "not a steered device datagram"
		iifname "kilo0" counter name "drop_from_cluster" drop comment "not a reply, downlink or ICMP error"
		counter name "drop_other" drop
	}
`;

const NAT_TABLE_TEXT = `
table ip iot_gateway_nat {
	counter steered_flows {
		comment "device flows steered (first datagram of each)"
	}

	map steer_buckets {
		typeof numgen inc mod 256 : ip daddr
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wg-uplink" ip daddr 10.5.1.1 udp dport 5683 counter name "steered_flows" jump steer comment "device datagrams to the ingress address; no source NAT anywhere"
	}

	chain steer {
	}
}
`;

describe("nftables ruleset", () => {
  it("renders the default ruleset: no source rewriting, no masquerade", () => {
    const text = renderGatewayRuleset(options);
    expect(text).toBe(`${FILTER_TABLE_HEAD}}\n${NAT_TABLE_TEXT}`);
    expect(text).not.toMatch(/masquerade|snat/);
  });

  it("adds only the cluster -> device source rewrite with downlinkSourceRewrite", () => {
    const text = renderGatewayRuleset(gatewayPlan({ downlinkSourceRewrite: true, downlinkPorts: DOWNLINK_PORTS }));
    expect(text).toBe(
      `${FILTER_TABLE_HEAD}
	chain downlink_source {
		type filter hook postrouting priority srcnat; policy accept;
		oifname "wg-uplink" ip saddr 100.64.0.0/15 ip daddr @device_subnets udp sport set 5683 ip saddr set 10.5.1.1 comment "cluster to device only: source becomes the ingress address and port"
	}
}
${NAT_TABLE_TEXT}`,
    );
    expect(text).not.toMatch(/masquerade|snat to/);
  });

  it("forwards no downlinks without downlink ports, only replies of steered flows", () => {
    const text = renderGatewayRuleset(gatewayPlan());
    expect(text).not.toContain("downlinks from pods");
    expect(text).toContain('comment "replies of steered flows"');
  });

  it("declares an empty admin set (SSH closed) and a dedicated ingress address", () => {
    const text = renderGatewayRuleset(
      gatewayPlan({ adminCidrs: [], ingress: { address: "10.5.2.1", port: 7000 } }),
    );
    expect(text).toContain("\tset admin_cidrs {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t}\n");
    expect(text).toContain('iifname "wg-uplink" ip daddr 10.5.2.1 udp dport 7000 counter name "steered_flows" jump steer');
  });
});

describe("sysctls", () => {
  it("sizes connection tracking from the device count", () => {
    expect(conntrackMaxFor(1)).toBe(65536);
    expect(conntrackMaxFor(32768)).toBe(65536);
    expect(conntrackMaxFor(32769)).toBe(131072);
    expect(conntrackMaxFor(250_000)).toBe(524288);
    expect(conntrackMaxFor(300_000)).toBe(1048576);
  });

  it("derives the UDP timeout from the report interval", () => {
    expect(udpTimeoutFor(5)).toBe(10);
    expect(udpTimeoutFor(45)).toBe(23);
    expect(udpTimeoutFor(300)).toBe(60);
  });

  it("renders the sysctl.d file", () => {
    expect(renderSysctlConf(options)).toBe(`# IoT UDP ingress gateway
# route device traffic between the uplink and the Kilo mesh
net.ipv4.ip_forward = 1
# loose reverse-path filter: device and pod ranges are reached through two WireGuard interfaces
net.ipv4.conf.all.rp_filter = 2
# same for interfaces created later (kilo0, the uplink)
net.ipv4.conf.default.rp_filter = 2
# 250000 devices x 2 flows, at least 65536, rounded up to a power of two
net.netfilter.nf_conntrack_max = 524288
# half the 300 s report interval (10-60 s): each report follows the current steering map
net.netfilter.nf_conntrack_udp_timeout = 60
# same for flows that saw a reply
net.netfilter.nf_conntrack_udp_timeout_stream = 60
# room for bursts of small datagrams
net.core.rmem_max = 26214400
# room for bursts of small datagrams
net.core.wmem_max = 26214400
# WireGuard's kernel sockets use the defaults
net.core.rmem_default = 1048576
# WireGuard's kernel sockets use the defaults
net.core.wmem_default = 1048576
# queue bursts instead of dropping them
net.core.netdev_max_backlog = 16384
`);
  });
});

describe("device uplink", () => {
  it("routes the device subnets to the concentrator", () => {
    expect(renderUplinkConfig(options, UPLINK_PRIVATE_KEY)).toBe(`[Interface]
PrivateKey = ${UPLINK_PRIVATE_KEY}
Address = 10.5.1.1/32
ListenPort = 51821
MTU = 1420

# operator-vpn
[Peer]
PublicKey = ${CONCENTRATOR_PUBLIC_KEY}
AllowedIPs = 10.128.0.0/14, 10.200.0.0/16
Endpoint = 198.51.100.7:51821
PersistentKeepalive = 25
`);
  });

  it("owns a dedicated ingress address too", () => {
    const text = renderUplinkConfig(gatewayPlan({ ingress: { address: "10.5.2.1", port: 5683 } }), UPLINK_PRIVATE_KEY);
    expect(text).toContain("Address = 10.5.1.1/32, 10.5.2.1/32\n");
  });
});

describe("systemd units", () => {
  it("renders kgctl connect with the Peer's key and address, no clean-up, restarted always", () => {
    const [kilo, service, timer] = gatewayUnits(options).map(renderSystemdUnit);
    expect(kilo).toBe(`[Unit]
Description=Kilo peer connection of the IoT gateway (kgctl connect)
Documentation=https://kilo.squat.ai/docs/kgctl
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target nftables.service

[Service]
Type=simple
ExecStart=/usr/local/bin/kgctl connect iot-gateway --kubeconfig /etc/iot-gateway/kubeconfig --private-key /etc/iot-gateway/kilo.key --allowed-ip 10.5.0.1/32 --interface kilo0 --port 51820 --mtu 1420 --resync-period 30s --clean-up=false
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
`);
    expect(service).toBe(`[Unit]
Description=IoT gateway steering: point the nftables steering map at the ready ingress nodes
Wants=network-online.target
After=network-online.target nftables.service kilo-connect.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/iot-steering-agent sync
TimeoutStartSec=60s
CapabilityBoundingSet=CAP_NET_ADMIN
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
StateDirectory=iot-steering
RuntimeDirectory=iot-steering
RuntimeDirectoryPreserve=yes
CacheDirectory=iot-steering
ReadWritePaths=-/var/lib/prometheus/node-exporter
`);
    expect(timer).toBe(`[Unit]
Description=Refresh the IoT gateway steering map

[Timer]
OnBootSec=10s
OnUnitActiveSec=5s
AccuracySec=1s
Unit=iot-steering-agent.service

[Install]
WantedBy=timers.target
`);
  });
});

describe("scripts", () => {
  it("bootstrap gets the pinned downloads, the hash size, its paths and the units as parameters", () => {
    const script = renderBootstrapScript(options);
    expect(script).toContain(`# kgctl 0.7.0
readonly KGCTL_URL=https://github.com/squat/kilo/releases/download/0.7.0/kgctl-linux-amd64
readonly KGCTL_SHA256=${"1".repeat(64)}
readonly KGCTL=/usr/local/bin/kgctl
# kubectl v1.34.2
readonly KUBECTL_URL=https://dl.k8s.io/release/v1.34.2/bin/linux/amd64/kubectl
readonly KUBECTL_SHA256=${"2".repeat(64)}
readonly KUBECTL=/usr/local/bin/kubectl
readonly CONNTRACK_HASHSIZE=131072
readonly SYSCTL_CONF=/etc/sysctl.d/90-iot-gateway.conf
readonly NFT=/usr/sbin/nft
readonly NFTABLES_CONF=/etc/nftables.conf
readonly UNITS=(chrony.service nftables.service wg-quick@wg-uplink.service kilo-connect.service iot-steering-agent.timer)
readonly TEXTFILE_DIR=/var/lib/prometheus/node-exporter
readonly RESTART_UNITS=(prometheus-node-exporter.service)
`);
    expect(script).toContain('install_verified "$KGCTL_URL" "$KGCTL_SHA256" "$KGCTL"\ninstall_verified "$KUBECTL_URL" "$KUBECTL_SHA256" "$KUBECTL"\n');
  });

  it("steering agent carries the options as constants", () => {
    const script = renderSteeringAgentScript(options);
    expect(script).toContain(`readonly LABEL_KEY=iot-udp-ingress/role
readonly LABEL_VALUE=ingress
readonly ENVOY_NAMESPACE=iot-ingress
readonly ENVOY_SELECTOR=app.kubernetes.io/name=envoy-udp-ingress
readonly DECODER_NAMESPACE=iot-decoder
readonly DECODER_SERVICE=decoder
readonly BUCKETS=256
readonly SEED=0
readonly INGRESS_ADDRESS=10.5.1.1
readonly INGRESS_PORT=5683
readonly NFT_TABLE=iot_gateway_nat
readonly NFT_CHAIN=steer
readonly NFT_MAP=steer_buckets
`);
    expect(script).toContain('"$CONNTRACK" -D -p udp --orig-dst "$INGRESS_ADDRESS" --dport "$INGRESS_PORT" --reply-src "$target"');
  });
});

describe("cloud-init", () => {
  const config = buildGatewayCloudConfig(options, GATEWAY_SECRETS);

  it("installs the packages, turns NTP on and runs the bootstrap", () => {
    expect(config.package_update).toBe(true);
    expect(config.packages).toEqual(["wireguard-tools", "nftables", "jq", "curl", "conntrack", "chrony", "prometheus-node-exporter"]);
    expect(config.ntp).toEqual({ enabled: true, ntp_client: "chrony" });
    expect(config.runcmd).toEqual([["/usr/local/sbin/iot-gateway-bootstrap"]]);
  });

  it("writes every file with its mode; secrets 0600", () => {
    expect(config.write_files.map((f) => [f.path, f.permissions])).toEqual([
      ["/etc/iot-gateway/kubeconfig", "0600"],
      ["/etc/iot-gateway/kilo.key", "0600"],
      ["/etc/wireguard/wg-uplink.conf", "0600"],
      ["/etc/nftables.conf", "0755"],
      ["/etc/sysctl.d/90-iot-gateway.conf", "0644"],
      ["/etc/modprobe.d/iot-gateway-conntrack.conf", "0644"],
      ["/etc/modules-load.d/iot-gateway.conf", "0644"],
      ["/usr/local/lib/iot-gateway/steering-targets.jq", "0644"],
      ["/usr/local/sbin/iot-steering-agent", "0755"],
      ["/usr/local/sbin/iot-gateway-bootstrap", "0755"],
      ["/etc/default/prometheus-node-exporter", "0644"],
      ["/etc/systemd/system/kilo-connect.service", "0644"],
      ["/etc/systemd/system/iot-steering-agent.service", "0644"],
      ["/etc/systemd/system/iot-steering-agent.timer", "0644"],
    ]);
    expect(config.write_files.every((f) => f.owner === "root:root" && f.defer)).toBe(true);
    const content = new Map(gatewayFiles(options, GATEWAY_SECRETS).map((f) => [f.path, f.content]));
    expect(content.get("/etc/iot-gateway/kubeconfig")).toBe(KUBECONFIG);
    // No trailing newline: kgctl parses the whole file as one key.
    expect(content.get("/etc/iot-gateway/kilo.key")).toBe(KILO_PRIVATE_KEY);
    expect(content.get("/etc/nftables.conf")).toBe(renderGatewayRuleset(options));
    expect(content.get("/usr/local/lib/iot-gateway/steering-targets.jq")).toBe(STEERING_TARGETS_JQ);
    expect(content.get("/etc/default/prometheus-node-exporter")).toBe(
      '# Written by iot-udp-ingress (cloud-init).\nARGS="--collector.textfile.directory=/var/lib/prometheus/node-exporter --web.listen-address=:9100"\n',
    );
  });

  it("serialises to #cloud-config YAML that parses back to the same object", () => {
    const text = renderGatewayCloudInit(gatewayPlan({ downlinkPorts: DOWNLINK_PORTS }), GATEWAY_SECRETS);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    // Scaleway's user data limit for the cloud-init key, with room for a large kubeconfig.
    expect(text.length).toBeLessThan(64_000);
    expect(parse(text)).toEqual(JSON.parse(JSON.stringify(config)));
  });
});
