import { parse } from "yaml";
import {
  DEFAULT_GATEWAY_PATHS,
  DEFAULT_LEADERSHIP_PATHS,
  DEFAULT_ROLE_PATHS,
  GATEWAY_HOST,
  bootstrapParameters,
  buildGatewayCloudConfig,
  gatewayFiles,
  gatewayPairLeadershipOptions,
  gatewayPairRoleOptions,
  gatewayPairUnits,
  gatewayUnits,
  renderBootstrapScript,
  renderGatewayCloudInit,
  renderGatewayRoleScript,
  renderLeadershipAgentScript,
  renderPairBootstrapScript,
  renderSystemdUnit,
  resolveGatewayLeadership,
} from "../../infra/gateway";
import { PlanError } from "../../infra/problems";
import { GATEWAY_SECRETS, PAIR_MEMBER, PAIR_SECRETS, gatewayPlan } from "./support/plan";

// A gateway of an active/standby pair: what its cloud-init adds to the single gateway's, as rendered. The system tier
// (checkers.system-test.ts) runs cloud-init, systemd-analyze and shellcheck on it.

const options = gatewayPlan();
const pair = { member: PAIR_MEMBER, secrets: PAIR_SECRETS };
const leadership = resolveGatewayLeadership(gatewayPairLeadershipOptions(PAIR_MEMBER));

describe("pair paths", () => {
  it("are the leadership agent's and the role hook's own defaults", () => {
    expect(DEFAULT_GATEWAY_PATHS.leadershipStateDir).toBe(DEFAULT_LEADERSHIP_PATHS.leadershipStateDir);
    expect(DEFAULT_GATEWAY_PATHS.ip).toBe(DEFAULT_ROLE_PATHS.ip);
    expect(DEFAULT_GATEWAY_PATHS.jq).toBe(DEFAULT_ROLE_PATHS.jq);
    expect(GATEWAY_HOST.publicInterface).toBe("ens2");
  });
});

describe("pair options", () => {
  it("run the role hook as both leadership hooks, with client-go's default timings", () => {
    expect(leadership).toEqual({
      leaseName: "iot-gateway-leader",
      namespace: "iot-ingress",
      identity: "iot-gateway-a",
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      onActive: ["/usr/local/sbin/iot-gateway-role", "active"],
      onStandby: ["/usr/local/sbin/iot-gateway-role", "standby"],
    });
  });

  it("start and stop the uplink's and kgctl's units, and put the shared address on the image's interface", () => {
    expect(gatewayPairRoleOptions(options, PAIR_MEMBER)).toEqual({
      zone: "fr-par-2",
      sharedIpId: "11111111-2222-4333-8444-555555555555",
      sharedAddress: "51.15.20.30",
      publicInterface: "ens2",
      startForwarding: ["/usr/bin/systemctl", "start", "wg-quick@wg-uplink.service", "kilo-connect.service"],
      stopForwarding: ["/usr/bin/systemctl", "stop", "wg-quick@wg-uplink.service", "kilo-connect.service"],
    });
    expect(gatewayPairRoleOptions(options, { ...PAIR_MEMBER, publicInterface: "eth0" }).publicInterface).toBe("eth0");
  });
});

describe("pair units", () => {
  const [kilo, steeringService, steeringTimer, service, timer] = gatewayPairUnits(options, leadership).map(renderSystemdUnit);

  it("take the Kilo link down with kgctl, and leave kgctl to the leadership agent (no [Install])", () => {
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
ExecStopPost=-/usr/sbin/ip link set dev kilo0 down
`);
  });

  it("keep the steering agent's units as the single gateway has them", () => {
    const [, singleService, singleTimer] = gatewayUnits(options).map(renderSystemdUnit);
    expect([steeringService, steeringTimer]).toEqual([singleService, singleTimer]);
    expect(steeringService).toContain("ExecStart=/usr/local/sbin/iot-steering-agent sync\n");
  });

  it("run one leadership step every retry period, stopped at the renew deadline", () => {
    expect(service).toBe(`[Unit]
Description=IoT gateway pair: one leadership step on the pair's Lease (the holder forwards, the other stands by)
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target nftables.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/iot-gateway-leadership step
TimeoutStartSec=10s
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes
StateDirectory=iot-gateway-leadership
CacheDirectory=iot-gateway-leadership
`);
    expect(timer).toBe(`[Unit]
Description=Run the IoT gateway pair's leadership step every retry period

[Timer]
OnBootSec=10s
OnUnitActiveSec=2s
AccuracySec=100ms
Unit=iot-gateway-leadership.service

[Install]
WantedBy=timers.target
`);
  });
});

describe("pair first boot", () => {
  it("enables the leadership timer instead of the forwarding units; every other parameter is the single gateway's", () => {
    const script = renderPairBootstrapScript(options);
    expect(script).toContain("readonly UNITS=(chrony.service nftables.service iot-steering-agent.timer iot-gateway-leadership.timer)\n");
    expect(script).not.toContain("wg-quick@");
    const single = renderBootstrapScript(options);
    const units = bootstrapParameters(options).find((parameter) => parameter.name === "UNITS");
    expect(units?.value).toEqual(["chrony.service", "nftables.service", "wg-quick@wg-uplink.service", "kilo-connect.service", "iot-steering-agent.timer"]);
    const withoutUnits = (text: string) => text.split("\n").filter((line) => !line.startsWith("readonly UNITS="));
    expect(withoutUnits(script)).toEqual(withoutUnits(single));
  });
});

describe("pair cloud-init", () => {
  const config = buildGatewayCloudConfig(options, GATEWAY_SECRETS, DEFAULT_GATEWAY_PATHS, pair);

  it("writes the single gateway's files, the API key 0600, the leadership agent and role hook, and the pair's units", () => {
    expect(config.write_files.map((f) => [f.path, f.permissions])).toEqual([
      ["/etc/iot-gateway/kubeconfig", "0600"],
      ["/etc/iot-gateway/kilo.key", "0600"],
      ["/etc/iot-gateway/scaleway-secret-key", "0600"],
      ["/etc/wireguard/wg-uplink.conf", "0600"],
      ["/etc/nftables.conf", "0755"],
      ["/etc/sysctl.d/90-iot-gateway.conf", "0644"],
      ["/etc/modprobe.d/iot-gateway-conntrack.conf", "0644"],
      ["/etc/modules-load.d/iot-gateway.conf", "0644"],
      ["/usr/local/lib/iot-gateway/steering-targets.jq", "0644"],
      ["/usr/local/sbin/iot-steering-agent", "0755"],
      ["/usr/local/sbin/iot-gateway-leadership", "0755"],
      ["/usr/local/sbin/iot-gateway-role", "0755"],
      ["/usr/local/sbin/iot-gateway-bootstrap", "0755"],
      ["/etc/default/prometheus-node-exporter", "0644"],
      ["/etc/systemd/system/kilo-connect.service", "0644"],
      ["/etc/systemd/system/iot-steering-agent.service", "0644"],
      ["/etc/systemd/system/iot-steering-agent.timer", "0644"],
      ["/etc/systemd/system/iot-gateway-leadership.service", "0644"],
      ["/etc/systemd/system/iot-gateway-leadership.timer", "0644"],
    ]);
    const content = new Map(config.write_files.map((f) => [f.path, f.content]));
    expect(content.get(DEFAULT_ROLE_PATHS.secretKeyFile)).toBe(PAIR_SECRETS.scalewaySecretKey);
    expect(content.get("/usr/local/sbin/iot-gateway-leadership")).toBe(renderLeadershipAgentScript(gatewayPairLeadershipOptions(PAIR_MEMBER), DEFAULT_GATEWAY_PATHS));
    expect(content.get("/usr/local/sbin/iot-gateway-role")).toBe(renderGatewayRoleScript(gatewayPairRoleOptions(options, PAIR_MEMBER)));
    expect(content.get("/usr/local/sbin/iot-gateway-bootstrap")).toBe(renderPairBootstrapScript(options));
    // Everything the single gateway has, the pair member has as it is, but its bootstrap and kgctl's unit.
    const single = new Map(gatewayFiles(options, GATEWAY_SECRETS).map((f) => [f.path, f.content]));
    const changed = [...single.keys()].filter((path) => content.get(path) !== single.get(path));
    expect(changed).toEqual(["/usr/local/sbin/iot-gateway-bootstrap", "/etc/systemd/system/kilo-connect.service"]);
  });

  it("differs between the two members in the leadership identity only", () => {
    const a = renderGatewayCloudInit(options, GATEWAY_SECRETS, pair);
    const b = renderGatewayCloudInit(options, GATEWAY_SECRETS, { member: { ...PAIR_MEMBER, identity: "iot-gateway-b" }, secrets: PAIR_SECRETS });
    expect(a).not.toBe(b);
    expect(a.replace("readonly IDENTITY=iot-gateway-a\n", "readonly IDENTITY=iot-gateway-b\n")).toBe(b);
    expect(parse(a)).toEqual(JSON.parse(JSON.stringify(config)));
    expect(a.length).toBeLessThan(127_998);
  });

  it("is the single gateway's without a pair", () => {
    expect(renderGatewayCloudInit(options, GATEWAY_SECRETS)).not.toContain("iot-gateway-leadership");
    expect(buildGatewayCloudConfig(options, GATEWAY_SECRETS)).toEqual(buildGatewayCloudConfig(options, GATEWAY_SECRETS, DEFAULT_GATEWAY_PATHS, undefined));
  });

  it("refuses an API key that is not a Scaleway secret key, without repeating it, and bad pair options by their names", () => {
    const thrown = (render: () => unknown): PlanError => {
      try {
        render();
      } catch (error) {
        if (error instanceof PlanError) return error;
        throw error;
      }
      throw new Error("rendered");
    };
    const secret = thrown(() => renderGatewayCloudInit(options, GATEWAY_SECRETS, { member: PAIR_MEMBER, secrets: { scalewaySecretKey: "SCW-not-a-key" } }));
    expect(secret.problems).toEqual([{ path: "scalewaySecretKey", message: "is not a Scaleway secret key (a lower case UUID)" }]);
    expect(secret.message).not.toContain("SCW-not-a-key");
    const role = thrown(() => renderGatewayCloudInit(options, GATEWAY_SECRETS, { member: { ...PAIR_MEMBER, sharedIpId: "fr-par-2/11111111-2222-4333-8444-555555555555" }, secrets: PAIR_SECRETS }));
    expect(role.problems.map((problem) => problem.path)).toEqual(["sharedIpId"]);
    const lease = thrown(() => renderGatewayCloudInit(options, GATEWAY_SECRETS, { member: { ...PAIR_MEMBER, leaseName: "Leader" }, secrets: PAIR_SECRETS }));
    expect(lease.problems.map((problem) => problem.path)).toEqual(["leaseName"]);
  });
});
