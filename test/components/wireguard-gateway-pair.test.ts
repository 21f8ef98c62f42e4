import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { parse } from "yaml";
import { DEFAULT_ROLE_PATHS, leadershipRbacRules, renderGatewayCloudInit, resolveGatewayPlan } from "../../infra/gateway";
import { keyPairFromRandomBytes } from "../../infra/wireguard";
import { GATEWAY_ARGS } from "./support/gateway-args";
import { inputErrorsOf } from "../support/input-errors";
import { hasKubernetesSchema, validateAgainstKubernetesSchema, withSecretsRevealed } from "../support/kubernetes-schema";
import {
  MOCK_PROJECT_ID,
  isSecret,
  isSecretInput,
  mockId,
  mockIpAddress,
  onlyResource,
  plainStrings,
  recordResources,
  resourcesOfType,
  settle,
  unwrapSecret,
  valueOf,
  type RecordedResource,
} from "../support/pulumi-mocks";

/* WireguardGateway with `highAvailability`: an active/standby pair of VMs sharing the flexible IP. */

let recorded: RecordedResource[];
let components: typeof import("../../components");
let servers: typeof import("../../components/gateway-servers");
let gateway: import("../../components").WireguardGateway;
/** The resource options the component gave each child, by name (mocks do not see options). */
const optionsByName = new Map<string, pulumi.CustomResourceOptions>();

const ARGS: import("../../components").WireguardGatewayArgs = { ...GATEWAY_ARGS, highAvailability: true };
const IP = "scaleway:instance/ip:Ip";
const SERVER = "scaleway:instance/server:Server";
/** The mocks' ApiKey secret key of the pair (test/support/pulumi-mocks.ts). */
const SECRET_KEY = `00000000-0000-4000-8000-${createHash("sha256").update("gwha-pair-api-key").digest("hex").slice(0, 12)}`;
const SHARED_IP_ID = mockId(IP, "gwha-ip", { zone: "fr-par-2" });
const OWN_ADDRESSES = [mockIpAddress("gwha-ip-a"), mockIpAddress("gwha-ip-b")];

function expectedKeys(name: string) {
  return keyPairFromRandomBytes(createHash("sha256").update(name).digest());
}

function argProblems(args: import("../../components").WireguardGatewayArgs, name = "gwbad"): string[] {
  return inputErrorsOf(() => new components.WireguardGateway(name, args)).errors;
}

function ofGateway(prefix: string): RecordedResource[] {
  return recorded.filter((resource) => resource.name === prefix || resource.name.startsWith(`${prefix}-`));
}

/** The cloud-init a server was created with, revealed. */
function cloudInitOf(server: RecordedResource): string {
  const userData = server.inputs.userData as Record<string, unknown>;
  expect(isSecretInput(userData["cloud-init"]) || isSecretInput(userData)).toBe(true);
  return String(unwrapSecret((withSecretsRevealed(userData) as Record<string, unknown>)["cloud-init"]));
}

/** The files of a cloud-init, by path. */
function filesOf(cloudInit: string): Map<string, { content: string; permissions: string }> {
  const config = parse(cloudInit) as { write_files: Array<{ path: string; content: string; permissions: string }> };
  return new Map(config.write_files.map((file) => [file.path, { content: file.content, permissions: file.permissions }]));
}

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
  servers = await import("../../components/gateway-servers");
  gateway = new components.WireguardGateway("gwha", ARGS, {
    transformations: [
      (args) => {
        optionsByName.set(args.name, args.opts);
        return undefined;
      },
    ],
  });
  await settle();
  await valueOf(gateway.cloudInits);
  await settle();
});

describe("WireguardGateway with highAvailability", () => {
  it("creates the single gateway's resources with a second VM, a placement group, own IPs, IAM and the Lease's RBAC", () => {
    expect(ofGateway("gwha").map((resource) => `${resource.type} ${resource.name}`).sort()).toEqual([
      "iot-udp-ingress:index:WireguardGateway gwha",
      "kubernetes:core/v1:Secret gwha-token",
      "kubernetes:core/v1:Service gwha-metrics",
      "kubernetes:core/v1:ServiceAccount gwha-sa",
      "kubernetes:discovery.k8s.io/v1:EndpointSlice gwha-metrics",
      "kubernetes:kilo.squat.ai/v1alpha1:Peer gwha-peer",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole gwha-clusterrole",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding gwha-clusterrolebinding",
      "kubernetes:rbac.authorization.k8s.io/v1:Role gwha-role-decoder",
      "kubernetes:rbac.authorization.k8s.io/v1:Role gwha-role-envoy",
      "kubernetes:rbac.authorization.k8s.io/v1:Role gwha-role-leadership",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding gwha-rolebinding-decoder",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding gwha-rolebinding-envoy",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding gwha-rolebinding-leadership",
      "random:index/randomBytes:RandomBytes gwha-kilo-key",
      "random:index/randomBytes:RandomBytes gwha-uplink-key",
      "scaleway:iam/apiKey:ApiKey gwha-pair-api-key",
      "scaleway:iam/application:Application gwha-pair-application",
      "scaleway:iam/policy:Policy gwha-pair-policy",
      "scaleway:instance/ip:Ip gwha-ip",
      "scaleway:instance/ip:Ip gwha-ip-a",
      "scaleway:instance/ip:Ip gwha-ip-b",
      "scaleway:instance/placementGroup:PlacementGroup gwha-pg",
      "scaleway:instance/securityGroup:SecurityGroup gwha-sg",
      "scaleway:instance/server:Server gwha-vm-a",
      "scaleway:instance/server:Server gwha-vm-b",
    ]);
  });

  it("keeps the shared flexible IP unattached and protected, and gives each server a routed IP of its own", () => {
    for (const name of ["gwha-ip", "gwha-ip-a", "gwha-ip-b"]) {
      // No serverId: it is computed only (internal/services/instance/ip.go); the role hook moves the IP.
      expect(onlyResource(recorded, IP, name).inputs).toEqual({ type: "routed_ipv4", zone: "fr-par-2", tags: ["project=iot"] });
    }
    expect(optionsByName.get("gwha-ip")?.protect).toBe(true);
    expect(optionsByName.get("gwha-ip-a")?.protect).toBeUndefined();
  });

  it("places both servers in one zone on different hypervisors, each with its own IP and no reference to the shared one", () => {
    expect(onlyResource(recorded, "scaleway:instance/placementGroup:PlacementGroup").inputs).toEqual({
      name: "gwha-pair",
      zone: "fr-par-2",
      policyType: "max_availability",
      policyMode: "enforced",
      tags: ["project=iot"],
    });
    for (const member of ["a", "b"]) {
      const server = onlyResource(recorded, SERVER, `gwha-vm-${member}`);
      expect(server.inputs).toMatchObject({
        name: `gwha-${member}`,
        zone: "fr-par-2",
        type: "PRO2-S",
        image: "debian_bookworm",
        ipId: mockId(IP, `gwha-ip-${member}`, { zone: "fr-par-2" }),
        placementGroupId: "gwha-pg-id",
        securityGroupId: "gwha-sg-id",
        tags: ["project=iot"],
      });
      expect(server.inputs.ipIds).toBeUndefined();
      expect(plainStrings(server.inputs).map(({ text }) => text)).not.toContain(SHARED_IP_ID);
    }
    expect(resourcesOfType(recorded, "scaleway:instance/securityGroup:SecurityGroup")).toHaveLength(1);
  });

  it("replaces each server on a change of its own cloud-init, deleting first; the first one takes over the single VM", async () => {
    const [a, b] = ["gwha-vm-a", "gwha-vm-b"].map((name) => optionsByName.get(name) ?? {});
    // Besides the provider's own alias of its old type token.
    expect(a.aliases).toContainEqual({ name: "gwha-vm" });
    expect(b.aliases ?? []).not.toContainEqual(expect.objectContaining({ name: expect.anything() }));
    for (const [options, server] of [
      [a, "gwha-vm-a"],
      [b, "gwha-vm-b"],
    ] as const) {
      expect(options.deleteBeforeReplace).toBe(true);
      const text = cloudInitOf(onlyResource(recorded, SERVER, server));
      expect(await valueOf(options.replacementTrigger)).toBe(createHash("sha256").update(text).digest("hex"));
    }
  });

  it("gives the pair an IAM application allowed to change Instances of the IP's Project, from the servers' own IPs only", () => {
    expect(onlyResource(recorded, "scaleway:iam/application:Application").inputs).toEqual({
      name: "gwha-pair",
      description: "Moves the flexible IP of the gateway pair gwha between its two servers; managed by Pulumi (iot-udp-ingress)",
      tags: ["project=iot"],
    });
    const policy = onlyResource(recorded, "scaleway:iam/policy:Policy").inputs;
    expect(policy).toMatchObject({ name: "gwha-pair-ip-failover", applicationId: "gwha-pair-application-id", tags: ["project=iot"] });
    expect(policy.rules).toEqual([
      {
        projectIds: [MOCK_PROJECT_ID],
        permissionSetNames: ["InstancesFullAccess"],
        condition: `request.ip == "${OWN_ADDRESSES[0]}" || request.ip == "${OWN_ADDRESSES[1]}"`,
      },
    ]);
    expect(OWN_ADDRESSES[0]).not.toBe(OWN_ADDRESSES[1]);
    expect(onlyResource(recorded, "scaleway:iam/apiKey:ApiKey").inputs).toEqual({
      applicationId: "gwha-pair-application-id",
      description: "Flexible IP failover key of the gateway pair gwha; managed by Pulumi",
    });
    expect(optionsByName.get("gwha-pair-api-key")?.additionalSecretOutputs).toContain("secretKey");
    for (const server of ["gwha-vm-a", "gwha-vm-b"]) {
      expect((optionsByName.get(server)?.dependsOn as pulumi.Resource[] | undefined)?.length).toBe(1);
    }
  });

  it("lets the gateway's ServiceAccount get and update the pair's Lease, and create Leases, in its namespace", () => {
    const role = onlyResource(recorded, "kubernetes:rbac.authorization.k8s.io/v1:Role", "gwha-role-leadership").inputs as any;
    expect(role.metadata).toMatchObject({ name: "gwha-gateway-leadership", namespace: "iot-ingress" });
    expect(role.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["gwha-leader"], verbs: ["get", "update"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    ]);
    expect(role.rules).toEqual(
      leadershipRbacRules({ leaseName: "gwha-leader", namespace: "iot-ingress", identity: "gwha-a", onActive: ["x"], onStandby: ["y"] }),
    );
    const binding = onlyResource(recorded, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "gwha-rolebinding-leadership").inputs as any;
    expect(binding).toMatchObject({
      metadata: { name: "gwha-gateway-leadership", namespace: "iot-ingress" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "gwha-gateway-leadership" },
      subjects: [{ kind: "ServiceAccount", name: "gwha-gateway", namespace: "iot-ingress" }],
    });
    for (const resource of ofGateway("gwha").filter((candidate) => hasKubernetesSchema(candidate.type))) validateAgainstKubernetesSchema(resource);
  });

  it("boots each server with its own cloud-init: the same plan and secrets, a leadership identity of its own", () => {
    const [a, b] = ["gwha-vm-a", "gwha-vm-b"].map((name) => cloudInitOf(onlyResource(recorded, SERVER, name)));
    expect(a).not.toBe(b);
    // The identity is the one difference.
    expect(a.replace(/gwha-a/g, "gwha-b")).toBe(b);
    for (const [text, identity] of [
      [a, "gwha-a"],
      [b, "gwha-b"],
    ] as const) {
      const files = filesOf(text);
      const agent = files.get("/usr/local/sbin/iot-gateway-leadership");
      expect(agent?.permissions).toBe("0755");
      expect(agent?.content).toContain(
        `readonly LEASE_NAME=gwha-leader\nreadonly LEASE_NAMESPACE=iot-ingress\nreadonly IDENTITY=${identity}\n`,
      );
      expect(agent?.content).toContain("readonly ON_ACTIVE=(/usr/local/sbin/iot-gateway-role active)\nreadonly ON_STANDBY=(/usr/local/sbin/iot-gateway-role standby)\n");
      const role = files.get("/usr/local/sbin/iot-gateway-role");
      expect(role?.permissions).toBe("0755");
      expect(role?.content).toContain(
        [
          "readonly ZONE=fr-par-2",
          `readonly SHARED_IP_ID=${SHARED_IP_ID.split("/")[1]}`,
          `readonly SHARED_ADDRESS=${mockIpAddress("gwha-ip")}`,
          "readonly PUBLIC_INTERFACE=ens2",
          "readonly SERVER_ID_FILE=/var/lib/cloud/data/instance-id",
          "readonly SECRET_KEY_FILE=/etc/iot-gateway/scaleway-secret-key",
          "readonly RUN_DIR=/run/iot-gateway-role",
          "readonly START_FORWARDING=(/usr/bin/systemctl start wg-quick@wg-uplink.service kilo-connect.service)",
          "readonly STOP_FORWARDING=(/usr/bin/systemctl stop wg-quick@wg-uplink.service kilo-connect.service)",
          "",
        ].join("\n"),
      );
      expect(files.get(DEFAULT_ROLE_PATHS.secretKeyFile)).toEqual({ content: SECRET_KEY, permissions: "0600" });
      // The forwarding units are not enabled at boot: the leadership agent starts them, on the active only.
      expect(files.get("/usr/local/sbin/iot-gateway-bootstrap")?.content).toContain(
        "readonly UNITS=(chrony.service nftables.service iot-steering-agent.timer iot-gateway-leadership.timer)\n",
      );
      expect([...files.keys()].filter((path) => path.startsWith("/etc/systemd/system/"))).toEqual([
        "/etc/systemd/system/kilo-connect.service",
        "/etc/systemd/system/iot-steering-agent.service",
        "/etc/systemd/system/iot-steering-agent.timer",
        "/etc/systemd/system/iot-gateway-leadership.service",
        "/etc/systemd/system/iot-gateway-leadership.timer",
      ]);
      expect(files.get("/etc/systemd/system/kilo-connect.service")?.content).toContain("ExecStopPost=-/usr/sbin/ip link set dev kilo0 down\n");
      expect(text).toContain(expectedKeys("gwha-kilo-key").privateKey);
      expect(text).toContain(expectedKeys("gwha-uplink-key").privateKey);
    }
  });

  it("points the Kilo Peer at the shared flexible IP and exports the pair's servers, Lease and application", async () => {
    const peer = onlyResource(recorded, "kubernetes:kilo.squat.ai/v1alpha1:Peer", "gwha-peer").inputs as any;
    expect(peer.spec.endpoint).toEqual({ dnsOrIP: { ip: mockIpAddress("gwha-ip") }, port: 51820 });
    expect(await valueOf(gateway.publicIp)).toBe(mockIpAddress("gwha-ip"));
    expect(await valueOf(gateway.serverIds)).toEqual(["gwha-vm-a-id", "gwha-vm-b-id"]);
    expect(await valueOf(gateway.serverPublicIps)).toEqual(OWN_ADDRESSES);
    expect([gateway.leaseName, gateway.leaseNamespace, gateway.leaseIdentities]).toEqual(["gwha-leader", "iot-ingress", ["gwha-a", "gwha-b"]]);
    expect(gateway.pairApplicationId).toBeDefined();
    expect(await valueOf(gateway.pairApplicationId as pulumi.Output<string>)).toBe("gwha-pair-application-id");
    expect(await isSecret(gateway.pairApplicationId as pulumi.Output<string>)).toBe(false);
    const [a] = await valueOf(gateway.cloudInits);
    expect(await valueOf(gateway.cloudInit)).toBe(a);
  });

  it("keeps the API key's secret key secret: in the cloud-inits only, never in a plain input or output", async () => {
    expect(await isSecret(gateway.cloudInits)).toBe(true);
    expect(await isSecret(gateway.cloudInit)).toBe(true);
    for (const resource of recorded) {
      for (const { path, text } of plainStrings(resource.inputs)) expect(`${resource.name}.${path}: ${text}`).not.toContain(SECRET_KEY);
    }
    const outputs: Record<string, unknown> = {
      publicIp: gateway.publicIp,
      kiloPublicKey: gateway.kiloPublicKey,
      uplinkPublicKey: gateway.uplinkPublicKey,
      tunnelAddress: gateway.tunnelAddress,
      peerName: gateway.peerName,
      kubeconfig: gateway.kubeconfig,
      concentratorPeers: gateway.concentratorPeers,
      metricsServiceName: gateway.metricsServiceName,
      serverIds: gateway.serverIds,
      serverPublicIps: gateway.serverPublicIps,
      pairApplicationId: gateway.pairApplicationId,
    };
    for (const [key, output] of Object.entries(outputs)) {
      const text = JSON.stringify(await valueOf(output as pulumi.Output<unknown>));
      if (!(await isSecret(output as pulumi.Output<unknown>))) expect(`${key}: ${text}`).not.toContain(SECRET_KEY);
    }
    const [a, b] = await valueOf(gateway.cloudInits);
    expect(a).toContain(SECRET_KEY);
    expect(b).toContain(SECRET_KEY);
  });
});

describe("WireguardGateway with highAvailability false", () => {
  let single: import("../../components").WireguardGateway;
  beforeAll(async () => {
    single = new components.WireguardGateway("gwone", { ...GATEWAY_ARGS, highAvailability: false });
    await settle();
    await valueOf(single.cloudInit);
    await settle();
  });

  it("is the single VM: its resources, and the single gateway's cloud-init to the byte", async () => {
    expect(ofGateway("gwone").filter((resource) => resource.type.startsWith("scaleway:")).map((resource) => `${resource.type} ${resource.name}`).sort()).toEqual([
      "scaleway:instance/ip:Ip gwone-ip",
      "scaleway:instance/securityGroup:SecurityGroup gwone-sg",
      "scaleway:instance/server:Server gwone-vm",
    ]);
    expect(ofGateway("gwone").some((resource) => resource.name === "gwone-role-leadership")).toBe(false);
    const plan = resolveGatewayPlan({ ...GATEWAY_ARGS, peerName: "gwone", cluster: { podCidr: GATEWAY_ARGS.cluster.podCidr } });
    const expected = renderGatewayCloudInit(plan, {
      kiloPrivateKey: expectedKeys("gwone-kilo-key").privateKey,
      uplinkPrivateKey: expectedKeys("gwone-uplink-key").privateKey,
      kubeconfig: await valueOf(single.kubeconfig),
    });
    expect(await valueOf(single.cloudInit)).toBe(expected);
    expect(cloudInitOf(onlyResource(recorded, SERVER, "gwone-vm"))).toBe(expected);
    expect(expected).not.toContain("iot-gateway-leadership");
    expect(await valueOf(single.serverIds)).toEqual(["gwone-vm-id"]);
    expect(await valueOf(single.serverPublicIps)).toEqual([mockIpAddress("gwone-ip")]);
    expect([single.leaseName, single.leaseIdentities, single.pairApplicationId]).toEqual([undefined, [], undefined]);
  });
});

describe("WireguardGateway highAvailability args", () => {
  it("rejects it next to externalHost, by its property path", () => {
    const { zone: _zone, instanceType: _instanceType, protectPublicIp: _protect, ...rest } = GATEWAY_ARGS;
    expect(argProblems({ ...rest, externalHost: { publicIp: "192.0.2.10" }, highAvailability: true })).toEqual([
      "highAvailability: does not apply with externalHost: a pair is two Scaleway VMs sharing a flexible IP",
    ]);
    // false is the default: nothing to reject.
    expect(argProblems({ ...rest, externalHost: { publicIp: "192.0.2.10" }, highAvailability: false }, "gwext")).toEqual([]);
  });

  it("rejects a value that is not a boolean", () => {
    expect(argProblems({ ...ARGS, highAvailability: "yes" as unknown as boolean })).toEqual(['highAvailability: must be true or false, got "yes"']);
  });

  it("reports a component name too long for the Lease identities at `name`", () => {
    expect(argProblems(ARGS, "g".repeat(127))).toEqual([
      `name: must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting and ending with a letter or digit, got "${"g".repeat(127)}-a"`,
      `name: must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting and ending with a letter or digit, got "${"g".repeat(127)}-b"`,
    ]);
  });
});

describe("the pair's Lease, condition and Scaleway IDs", () => {
  it("take the UUID out of a zonal ID of the expected zone only", () => {
    expect(servers.zonalResourceUuid("fr-par-2/11111111-2222-4333-8444-555555555555", "fr-par-2")).toBe("11111111-2222-4333-8444-555555555555");
    expect(() => servers.zonalResourceUuid("fr-par-1/11111111-2222-4333-8444-555555555555", "fr-par-2")).toThrow(/in zone fr-par-2/);
    expect(() => servers.zonalResourceUuid("11111111-2222-4333-8444-555555555555", "fr-par-2")).toThrow(/<zone>\/<uuid>/);
    expect(() => servers.zonalResourceUuid("fr-par-2/gw-ip-id", "fr-par-2")).toThrow(/<zone>\/<uuid>/);
  });

  it("name the Lease after the Peer and write the condition as one request.ip comparison per address", () => {
    expect(servers.gatewayPairLease("prod-gateway", "iot-ingress")).toEqual({
      leaseName: "prod-gateway-leader",
      namespace: "iot-ingress",
      identities: ["prod-gateway-a", "prod-gateway-b"],
    });
    expect(servers.gatewayPairRequestCondition(["51.15.1.2", "51.15.3.4"])).toBe('request.ip == "51.15.1.2" || request.ip == "51.15.3.4"');
  });
});
