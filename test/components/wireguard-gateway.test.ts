import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { parse } from "yaml";
import { resolveGatewayPlan } from "../../infra/gateway";
import { keyPairFromRandomBytes } from "../../infra/wireguard";
import { GATEWAY_ARGS } from "./support/gateway-args";
import { kiloPeerProblems } from "../support/kilo-peer-schema";
import { hasKubernetesSchema, validateAgainstKubernetesSchema, withSecretsRevealed } from "../support/kubernetes-schema";
import {
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

let recorded: RecordedResource[];
import { inputErrorsOf } from "../support/input-errors";

let components: typeof import("../../components");
/** The component's module, for what is not part of the public API. */
let gatewayModule: typeof import("../../components/wireguard-gateway");
let gateway: import("../../components").WireguardGateway;

/** The key pair the mocks' RandomBytes named `name` yields (see test/support/pulumi-mocks.ts). */
function expectedKeys(name: string) {
  return keyPairFromRandomBytes(createHash("sha256").update(name).digest());
}

const ARGS = GATEWAY_ARGS;

/** The `propertyPath: reason` lines of the InputPropertiesError the component throws for `args`, or none. */
function argProblems(args: import("../../components").WireguardGatewayArgs, name = "gwbad"): string[] {
  return inputErrorsOf(() => new components.WireguardGateway(name, args)).errors;
}

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
  gatewayModule = await import("../../components/wireguard-gateway");
  gateway = new components.WireguardGateway("gw", ARGS);
  await settle();
  await valueOf(gateway.cloudInit);
  await settle();
});

describe("WireguardGateway", () => {
  it("creates exactly the gateway's resources", () => {
    const children = recorded.filter((resource) => resource.type !== "iot-udp-ingress:index:WireguardGateway");
    expect(children.map((resource) => `${resource.type} ${resource.name}`).sort()).toEqual([
      "kubernetes:core/v1:Secret gw-token",
      "kubernetes:core/v1:Service gw-metrics",
      "kubernetes:core/v1:ServiceAccount gw-sa",
      "kubernetes:discovery.k8s.io/v1:EndpointSlice gw-metrics",
      "kubernetes:kilo.squat.ai/v1alpha1:Peer gw-peer",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole gw-clusterrole",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding gw-clusterrolebinding",
      "kubernetes:rbac.authorization.k8s.io/v1:Role gw-role-decoder",
      "kubernetes:rbac.authorization.k8s.io/v1:Role gw-role-envoy",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding gw-rolebinding-decoder",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding gw-rolebinding-envoy",
      "random:index/randomBytes:RandomBytes gw-kilo-key",
      "random:index/randomBytes:RandomBytes gw-uplink-key",
      "scaleway:instance/ip:Ip gw-ip",
      "scaleway:instance/securityGroup:SecurityGroup gw-sg",
      "scaleway:instance/server:Server gw-vm",
    ]);
  });

  it("takes a routed flexible IP and 32 random bytes per key", () => {
    expect(onlyResource(recorded, "scaleway:instance/ip:Ip").inputs).toEqual({ type: "routed_ipv4", zone: "fr-par-2", tags: ["project=iot"] });
    for (const key of resourcesOfType(recorded, "random:index/randomBytes:RandomBytes")) expect(key.inputs).toEqual({ length: 32 });
  });

  it("drops all inbound traffic but the Kilo mesh, the concentrators' uplink and admin SSH", () => {
    expect(onlyResource(recorded, "scaleway:instance/securityGroup:SecurityGroup").inputs).toMatchObject({
      zone: "fr-par-2",
      inboundDefaultPolicy: "drop",
      outboundDefaultPolicy: "accept",
      stateful: true,
      inboundRules: [
        { action: "accept", protocol: "UDP", port: 51820, ipRange: "0.0.0.0/0" },
        { action: "accept", protocol: "UDP", port: 51821, ipRange: "203.0.113.20/32" },
        { action: "accept", protocol: "UDP", port: 51821, ipRange: "203.0.113.21/32" },
        { action: "accept", protocol: "UDP", port: 51821, ipRange: "203.0.113.22/32" },
        { action: "accept", protocol: "TCP", port: 22, ipRange: "198.51.100.0/28" },
      ],
    });
  });

  it("exports the firewall's rules, the security group's, and closes SSH entirely without admin networks", () => {
    const securityGroup = onlyResource(recorded, "scaleway:instance/securityGroup:SecurityGroup");
    expect(gateway.inboundRules).toEqual(securityGroup.inputs.inboundRules);
    const closed = gatewayModule.gatewayInboundRules(
      resolveGatewayPlan({ ...ARGS, adminCidrs: undefined, peerName: "gw", cluster: { podCidr: ARGS.cluster.podCidr } }),
    );
    expect(closed.filter((rule) => rule.port === 22)).toEqual([]);
    expect(closed).toHaveLength(4);
  });

  it("boots the VM with the cloud-init as a secret input", () => {
    const server = onlyResource(recorded, "scaleway:instance/server:Server");
    expect(server.inputs).toMatchObject({ zone: "fr-par-2", type: "PRO2-S", image: "debian_bookworm", ipId: mockId("scaleway:instance/ip:Ip", "gw-ip", { zone: "fr-par-2" }), securityGroupId: "gw-sg-id" });
    const userData = server.inputs.userData as Record<string, unknown>;
    expect(isSecretInput(userData["cloud-init"]) || isSecretInput(userData)).toBe(true);
    const cloudInit = String(unwrapSecret((withSecretsRevealed(userData) as Record<string, unknown>)["cloud-init"]));
    expect(cloudInit.startsWith("#cloud-config\n")).toBe(true);
    expect(cloudInit.length).toBeLessThan(127998);
    expect(cloudInit).toContain(expectedKeys("gw-kilo-key").privateKey);
    expect(cloudInit).toContain(expectedKeys("gw-uplink-key").privateKey);
  });

  it("registers a valid, cluster-scoped Kilo Peer with the device subnets and the flexible IP", () => {
    const peer = onlyResource(recorded, "kubernetes:kilo.squat.ai/v1alpha1:Peer");
    expect(peer.inputs).toEqual({
      apiVersion: "kilo.squat.ai/v1alpha1",
      kind: "Peer",
      metadata: {
        name: "gw",
        labels: {
          "app.kubernetes.io/name": "wireguard-gateway",
          "app.kubernetes.io/component": "gateway",
          "app.kubernetes.io/part-of": "iot-udp-ingress",
          "app.kubernetes.io/managed-by": "pulumi",
        },
      },
      spec: {
        allowedIPs: ["10.5.0.1/32", "10.128.0.0/14", "10.160.0.0/16"],
        publicKey: expectedKeys("gw-kilo-key").publicKey,
        persistentKeepalive: 25,
        endpoint: { dnsOrIP: { ip: mockIpAddress("gw-ip") }, port: 51820 },
      },
    });
    expect(kiloPeerProblems(peer.inputs)).toEqual([]);
  });

  it("Peer check rejects bare IPs, short keys and a flat endpoint (the check can fail)", () => {
    const peer = withSecretsRevealed(onlyResource(recorded, "kubernetes:kilo.squat.ai/v1alpha1:Peer").inputs) as any;
    expect(kiloPeerProblems({ ...peer, spec: { ...peer.spec, allowedIPs: ["10.5.0.1"] } })).toEqual([
      "spec.allowedIPs[0]: 10.5.0.1 is not in CIDR form",
    ]);
    expect(kiloPeerProblems({ ...peer, spec: { ...peer.spec, publicKey: "c2hvcnQ=" } })).toEqual([
      "spec.publicKey must be base64 of exactly 32 bytes",
    ]);
    expect(kiloPeerProblems({ ...peer, spec: { ...peer.spec, endpoint: { ip: "51.15.0.10", port: 51820 } } })).toEqual([
      "spec.endpoint.ip is not a field",
      "spec.endpoint.dnsOrIP is required",
    ]);
  });

  it("grants the gateway read access to exactly what kgctl and the steering agent watch", () => {
    expect(onlyResource(recorded, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").inputs.rules).toEqual([
      { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"] },
      { apiGroups: ["kilo.squat.ai"], resources: ["peers"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["apiextensions.k8s.io"], resources: ["customresourcedefinitions"], resourceNames: ["peers.kilo.squat.ai"], verbs: ["get"] },
    ]);
    const envoyRole = onlyResource(recorded, "kubernetes:rbac.authorization.k8s.io/v1:Role", "gw-role-envoy").inputs as any;
    expect(envoyRole.metadata.namespace).toBe("iot-ingress");
    expect(envoyRole.rules).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] }]);
    const decoderRole = onlyResource(recorded, "kubernetes:rbac.authorization.k8s.io/v1:Role", "gw-role-decoder").inputs as any;
    expect(decoderRole.metadata.namespace).toBe("iot-decoder");
    expect(decoderRole.rules).toEqual([{ apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] }]);
    const verbs = recorded
      .filter((resource) => /:(Cluster)?Role$/.test(resource.type))
      .flatMap((resource) => (resource.inputs.rules as Array<{ verbs: string[] }>).flatMap((rule) => rule.verbs));
    expect([...new Set(verbs)].sort()).toEqual(["get", "list", "watch"]);
  });

  it("gets a long-lived ServiceAccount token and a kubeconfig for the VM, both secret", async () => {
    const secret = onlyResource(recorded, "kubernetes:core/v1:Secret").inputs as any;
    expect(secret.type).toBe("kubernetes.io/service-account-token");
    expect(secret.metadata.annotations).toEqual({ "kubernetes.io/service-account.name": "gw-gateway" });
    expect(await isSecret(gateway.kubeconfig)).toBe(true);
    const kubeconfig = parse(await valueOf(gateway.kubeconfig));
    expect(kubeconfig.clusters[0].cluster).toEqual({
      server: "https://cluster.api.k8s.fr-par.scw.cloud:6443",
      "certificate-authority-data": "Q0EtREFUQQ==",
    });
    expect(kubeconfig.users[0].user).toEqual({ token: "sa-token-of-gw-token" });
  });

  it("publishes public keys and the address in plain, and nothing secret in plain inputs", async () => {
    expect(await valueOf(gateway.kiloPublicKey)).toBe(expectedKeys("gw-kilo-key").publicKey);
    expect(await isSecret(gateway.kiloPublicKey)).toBe(false);
    expect(await valueOf(gateway.uplinkPublicKey)).toBe(expectedKeys("gw-uplink-key").publicKey);
    expect(await valueOf(gateway.publicIp)).toBe(mockIpAddress("gw-ip"));
    expect(await isSecret(gateway.cloudInit)).toBe(true);
    const secrets = [expectedKeys("gw-kilo-key").privateKey, expectedKeys("gw-uplink-key").privateKey, "sa-token-of-gw-token"];
    for (const resource of recorded) {
      for (const { path, text } of plainStrings(resource.inputs)) {
        for (const secret of secrets) expect(`${resource.name}.${path}: ${text}`).not.toContain(secret);
      }
    }
  });

  it("produces Kubernetes objects that pass the Kubernetes schema", () => {
    const objects = recorded.filter((resource) => hasKubernetesSchema(resource.type));
    expect(objects).toHaveLength(10);
    objects.forEach(validateAgainstKubernetesSchema);
  });

  it("makes the node exporter a scrape target at the tunnel address: a headless Service without selector and our own EndpointSlice", () => {
    const service = onlyResource(recorded, "kubernetes:core/v1:Service", "gw-metrics").inputs as any;
    expect(service.metadata).toMatchObject({
      name: "gw-metrics",
      namespace: "iot-ingress",
      labels: { "app.kubernetes.io/name": "wireguard-gateway", "app.kubernetes.io/component": "metrics" },
      annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "/metrics" },
    });
    expect(service.spec).toEqual({ clusterIP: "None", ports: [{ name: "metrics", port: 9100, protocol: "TCP", targetPort: 9100 }] });
    const slice = onlyResource(recorded, "kubernetes:discovery.k8s.io/v1:EndpointSlice", "gw-metrics").inputs as any;
    expect(slice.metadata.labels).toMatchObject({
      "kubernetes.io/service-name": "gw-metrics",
      "endpointslice.kubernetes.io/managed-by": gatewayModule.GATEWAY_ENDPOINTSLICE_MANAGER,
    });
    expect(slice.metadata.labels["endpointslice.kubernetes.io/managed-by"]).not.toBe("endpointslice-controller.k8s.io");
    expect(slice).toMatchObject({
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.5.0.1"], conditions: { ready: true } }],
      ports: [{ name: "metrics", port: 9100, protocol: "TCP" }],
    });
    expect(recorded.some((resource) => resource.type === "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")).toBe(false);
  });

  it("opens the node exporter's port only on the Kilo interface, the same port the Service names", async () => {
    const cloudInit = await valueOf(gateway.cloudInit);
    expect(cloudInit).toContain(`iifname "kilo0" tcp dport ${gateway.metricsPort} accept`);
    expect(gateway.metricsPort).toBe(9100);
    expect(await valueOf(gateway.metricsServiceName)).toBe("gw-metrics");
    expect([gateway.steeringIntervalSeconds, gateway.uplinkInterface]).toEqual([5, "wg-uplink"]);
  });
});

describe("WireguardGateway metrics for the Prometheus Operator", () => {
  beforeAll(async () => {
    new components.WireguardGateway("gwm", { ...ARGS, metrics: { scrape: "serviceMonitor" } });
    await settle();
  });

  it("creates a ServiceMonitor for the metrics Service instead of annotations", () => {
    const monitor = onlyResource(recorded, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor").inputs as any;
    expect(monitor).toMatchObject({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "gwm-metrics", namespace: "iot-ingress" },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": "wireguard-gateway", "app.kubernetes.io/component": "metrics" } },
        endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
      },
    });
    const service = onlyResource(recorded, "kubernetes:core/v1:Service", "gwm-metrics").inputs as any;
    expect(service.metadata.annotations).toEqual({});
    // The monitor's selector matches the metrics Service's labels, and no other Service of the gateway.
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels[key]).toBe(value);
  });

  it("rejects an unknown scrape mode with its property path", () => {
    expect(argProblems({ ...ARGS, metrics: { scrape: "podMonitor" as "serviceMonitor" } })).toEqual([
      'metrics.scrape: must be one of annotations, serviceMonitor, got "podMonitor"',
    ]);
  });
});

describe("WireguardGateway secret rotation and VM replacement", () => {
  let rotated: import("../../components").WireguardGateway;
  beforeAll(async () => {
    rotated = new components.WireguardGateway("gwr", { ...ARGS, rotation: { kiloKey: "2026-12", token: "t2" } });
    await settle();
    await valueOf(rotated.cloudInit);
    await settle();
  });

  const named = (type: string, name: string) => recorded.filter((r) => r.type === type && r.name === name).map((r) => r.inputs);

  it("puts a rotation label into the keepers of that key's random bytes only", () => {
    expect(named("random:index/randomBytes:RandomBytes", "gwr-kilo-key")).toEqual([{ length: 32, keepers: { generation: "2026-12" } }]);
    expect(named("random:index/randomBytes:RandomBytes", "gwr-uplink-key")).toEqual([{ length: 32 }]);
  });

  it("renames the token Secret with the token label, so a new token replaces the old one", () => {
    const [secret] = named("kubernetes:core/v1:Secret", "gwr-token") as Array<{ metadata: { name: string } }>;
    expect(secret.metadata.name).toBe("gwr-gateway-token-t2");
    const [plain] = named("kubernetes:core/v1:Secret", "gw-token") as Array<{ metadata: { name: string } }>;
    expect(plain.metadata.name).toBe("gw-gateway-token");
  });

  it("rejects rotation labels that cannot be part of a Secret name", () => {
    expect(argProblems({ ...ARGS, rotation: { token: "Not_OK" } })).toEqual([
      'rotation.token: "Not_OK" must be 1-20 lowercase letters, digits or dashes (not at the ends)',
    ]);
    expect(argProblems({ ...ARGS, rotation: { kiloKey: "x".repeat(21) } })).toEqual([expect.stringMatching(/^rotation\.kiloKey: /)]);
    expect(gatewayModule.rotationProblems({ kiloKey: "2026-12", uplinkKey: "2027-01" })).toEqual([]);
  });

  it("replaces the VM on a change of our cloud-init only, never on other user-data keys", async () => {
    const options = gatewayModule.gatewayServerOptions("#cloud-config\na: 1\n");
    expect(options.replaceOnChanges).toBeUndefined();
    expect(options.deleteBeforeReplace).toBe(true);
    expect(options.additionalSecretOutputs).toEqual(["userData", "cloudInit"]);
    expect(await valueOf(options.replacementTrigger)).toBe(createHash("sha256").update("#cloud-config\na: 1\n").digest("hex"));
    // A secret cloud-init still gives a plain trigger: the CLI's preview display cannot mask a secret one.
    const fromSecret = gatewayModule.gatewayServerOptions(pulumi.secret("#cloud-config\na: 1\n"));
    expect(await isSecret(fromSecret.replacementTrigger as pulumi.Output<string>)).toBe(false);
    expect(await valueOf(fromSecret.replacementTrigger)).toBe(await valueOf(options.replacementTrigger));
    const other = gatewayModule.gatewayServerOptions("#cloud-config\na: 2\n");
    expect(await valueOf(other.replacementTrigger)).not.toBe(await valueOf(options.replacementTrigger));
  });

  it("exports what each concentrator must configure toward the gateway", async () => {
    expect(await valueOf(rotated.concentratorPeers)).toEqual([
      { concentrator: "apn-primary", allowedIps: { rewriteOn: ["10.5.1.1/32"], rewriteOff: ["10.5.1.1/32", "100.64.0.0/15"], current: ["10.5.1.1/32", "100.64.0.0/15"] } },
      { concentrator: "apn-secondary", allowedIps: { rewriteOn: ["10.5.1.1/32"], rewriteOff: ["10.5.1.1/32", "100.64.0.0/15"], current: ["10.5.1.1/32", "100.64.0.0/15"] } },
    ]);
  });
});

describe("WireguardGateway args", () => {
  it("reports every problem of the plan and the resource args at once, at their property paths", () => {
    const concentrators = ARGS.uplink.concentrators;
    expect(
      argProblems({
        ...ARGS,
        tunnelAddress: "10.128.0.1",
        deviceSubnets: ["10.128.0.0/14", "100.64.0.0/16"],
        uplink: { ...ARGS.uplink, listenPort: 51820, concentrators: [concentrators[0], { ...concentrators[1], deviceSubnets: ["10.128.0.0/14"] }] },
        steering: { ...ARGS.steering, buckets: 5000 },
        rotation: { token: "_" },
      }),
    ).toEqual([
      "deviceSubnets[1]: 100.64.0.0/16 overlaps the pod CIDR (100.64.0.0/15)",
      "tunnelAddress: 10.128.0.1 is inside the device subnet 10.128.0.0/14",
      "uplink.listenPort: must differ from the Kilo listen port (51820)",
      "uplink.concentrators[1].deviceSubnets[0]: 10.128.0.0/14 is already routed to apn-primary",
      "deviceSubnets[1]: 100.64.0.0/16 is not routed to any concentrator",
      "steering.buckets: must be an integer from 1 to 4096",
      'rotation.token: "_" must be 1-20 lowercase letters, digits or dashes (not at the ends)',
    ]);
  });

  it("reports a component name that cannot name the Kilo Peer at `name`", () => {
    expect(argProblems(ARGS, "Gateway_1")).toEqual(["name: must be a Kubernetes object name (lowercase RFC 1123 subdomain)"]);
  });

  it("accepts the common arguments", () => {
    expect(argProblems(ARGS, "gwok")).toEqual([]);
  });
});
