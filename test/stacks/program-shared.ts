import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { kiloPeerProblems } from "../support/kilo-peer-schema";
import { hasKubernetesSchema, validateAgainstKubernetesSchema, withSecretsRevealed } from "../support/kubernetes-schema";
import { isSecret, isSecretInput, mockIpAddress, onlyResource, plainStrings, resourcesOfType, valueOf } from "../support/pulumi-mocks";
import { existingClusterKubeconfig } from "../support/kubeconfig-fixture";
import { runProgramWithStackConfig, type ProgramRun } from "../support/run-program";
import { onExistingCluster, pulumiConfigWithSections, rawConfigOfStack } from "../support/stack-files";

export interface Expectations {
  readonly clusterType: string;
  readonly ingressNodes: number;
  readonly pools: number;
  readonly protect: boolean;
  readonly decoderReplicas: number;
  readonly deviceSubnets: string[];
  /** Per concentrator, the AllowedIPs its peer for the gateway must hold with this stack's rewrite setting. */
  readonly concentratorAllowedIps: Record<string, string[]>;
  readonly maxConnections: number;
  /** `gateway.highAvailability`: a pair of gateway VMs instead of one. */
  readonly highAvailability: boolean;
}

/**
 * The resources every environment is made of, by type; the pool count differs per stack, and a gateway pair adds a
 * server, two own IPs, a placement group, its IAM application, policy and API key, and the Lease's Role and binding.
 */
export function expectedTypeCounts(pools: number, highAvailability = false): Record<string, number> {
  const pair = highAvailability ? 1 : 0;
  return {
    "pulumi:pulumi:Stack": 1,
    "iot-udp-ingress:index:KosmosCluster": 1,
    "iot-udp-ingress:index:DecoderService": 1,
    "iot-udp-ingress:index:DecoderDeployment": 1,
    "iot-udp-ingress:index:EnvoyUdpIngress": 1,
    "iot-udp-ingress:index:WireguardGateway": 1,
    // Renders the alert rules (the `alertRules` output); its PrometheusRule and dashboard ConfigMap are off by default.
    "iot-udp-ingress:index:IngressObservability": 1,
    "scaleway:kubernetes/cluster:Cluster": 1,
    "scaleway:kubernetes/pool:Pool": pools,
    "pulumi:providers:kubernetes": 1,
    "kubernetes:core/v1:Namespace": 2,
    // The headless decoder Service and the gateway's metrics Service (no selector) with its EndpointSlice.
    "kubernetes:core/v1:Service": 2,
    "kubernetes:discovery.k8s.io/v1:EndpointSlice": 1,
    "kubernetes:apps/v1:Deployment": 1,
    "kubernetes:policy/v1:PodDisruptionBudget": 1,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1,
    "kubernetes:core/v1:ConfigMap": 2,
    "kubernetes:core/v1:ServiceAccount": 2,
    "kubernetes:rbac.authorization.k8s.io/v1:Role": 3 + pair,
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 3 + pair,
    "kubernetes:scheduling.k8s.io/v1:PriorityClass": 1,
    "kubernetes:apps/v1:DaemonSet": 1,
    "random:index/randomBytes:RandomBytes": 2,
    "scaleway:instance/ip:Ip": 1 + 2 * pair,
    "scaleway:instance/securityGroup:SecurityGroup": 1,
    "scaleway:instance/server:Server": 1 + pair,
    ...(highAvailability ? { "scaleway:instance/placementGroup:PlacementGroup": 1 } : {}),
    "kubernetes:kilo.squat.ai/v1alpha1:Peer": 1,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": 1,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": 1,
    // The gateway's ServiceAccount token and the decoder image's registry credentials.
    "kubernetes:core/v1:Secret": 2,
    "iot-udp-ingress:index:RegistryPullSecret": 1,
    // The decoder's registry credentials, and the pair's key that moves the flexible IP.
    "scaleway:iam/application:Application": 1 + pair,
    "scaleway:iam/policy:Policy": 1 + pair,
    "scaleway:iam/apiKey:ApiKey": 1 + pair,
  };
}

/** A deep copy without the values a preview does not know yet (Pulumi's `Unknown` sentinels). */
function withoutUnknowns(value: unknown): unknown {
  const revealed = withSecretsRevealed(value);
  if (Array.isArray(revealed)) return revealed.map(withoutUnknowns);
  if (typeof revealed === "object" && revealed !== null) {
    return Object.fromEntries(
      Object.entries(revealed)
        .filter(([, item]) => !(typeof item === "object" && item !== null && (item as { __pulumiUnknown?: boolean }).__pulumiUnknown === true))
        .map(([key, item]) => [key, withoutUnknowns(item)]),
    );
  }
  return revealed;
}

/** The Scaleway project the stack programs run against (the provider reads SCW_DEFAULT_PROJECT_ID). */
const TEST_PROJECT_ID = "00000000-0000-4000-8000-0000000000aa";

/**
 * Runs the whole program under mocks (as a preview) in a beforeAll, with the committed stack file of `stack` or the
 * flat Pulumi config `config`, and the test Scaleway project; returns the run's getter. Call inside a describe.
 */
export function stackProgramRun(stack: string, config?: Record<string, string>): () => ProgramRun {
  let run: ProgramRun | undefined;
  let projectIdBefore: string | undefined;
  beforeAll(async () => {
    projectIdBefore = process.env.SCW_DEFAULT_PROJECT_ID;
    process.env.SCW_DEFAULT_PROJECT_ID = TEST_PROJECT_ID;
    run = await runProgramWithStackConfig(stack, config === undefined ? {} : { config });
  });
  afterAll(() => {
    if (projectIdBefore === undefined) delete process.env.SCW_DEFAULT_PROJECT_ID;
    else process.env.SCW_DEFAULT_PROJECT_ID = projectIdBefore;
  });
  return () => {
    if (run === undefined) throw new Error(`the ${stack} program has not run (stackProgramRun's beforeAll failed)`);
    return run;
  };
}

/** The preview stack file moved onto an existing cluster and an external gateway host (program-existing*.ts). */
export const EXISTING_CLUSTER = { kubeconfig: existingClusterKubeconfig(), ingressNodes: 2, gatewayPublicIp: "192.0.2.10" };

/** The flat Pulumi config of the preview stack file with EXISTING_CLUSTER's `cluster.existing` and `gateway.externalHost`. */
export function existingClusterConfig(): Record<string, string> {
  return pulumiConfigWithSections("preview", onExistingCluster(rawConfigOfStack("preview"), EXISTING_CLUSTER));
}

/** The Envoy bootstrap the program's EnvoyUdpIngress ships, parsed. */
export function envoyBootstrapOf(run: ProgramRun): any {
  const configMap = resourcesOfType(run.resources, "kubernetes:core/v1:ConfigMap").find((resource) => resource.name.endsWith("-bootstrap"));
  return parse((configMap?.inputs.data as Record<string, string>)["envoy.yaml"]);
}

/** Every gateway VM's cloud-init, revealed, by the servers' names (registration follows the outputs they wait for). */
export function gatewayCloudInitsOf(run: ProgramRun): string[] {
  const servers = [...resourcesOfType(run.resources, "scaleway:instance/server:Server")].sort((a, b) => a.name.localeCompare(b.name));
  return servers.map(
    (server) => (withSecretsRevealed(server.inputs.userData) as Record<string, string>)["cloud-init"],
  );
}

/** The preview stack file's expectations. 2,000 devices x min(1, 60 s / 60 s) / 2 nodes = 1,000 sessions per node, x 1.5 headroom. */
export const PREVIEW_EXPECTATIONS: Expectations = {
  clusterType: "multicloud",
  ingressNodes: 2,
  // The ingress pool and the untainted `system` pool for the cluster add-ons.
  pools: 2,
  protect: false,
  decoderReplicas: 2,
  deviceSubnets: ["10.200.0.0/20"],
  maxConnections: 1500,
  // downlinkSourceRewrite is on: every datagram to a device leaves with the ingress address (= the uplink address).
  concentratorAllowedIps: { "test-apn": ["10.5.1.1/32"] },
  highAvailability: false,
};

/** The prod stack file's expectations. 250,000 devices x min(1, 60 s / 300 s) / 4 nodes = 12,500 sessions per node, x 1.5 headroom. */
export const PROD_EXPECTATIONS: Expectations = {
  clusterType: "multicloud-dedicated-4",
  ingressNodes: 4,
  pools: 3,
  protect: true,
  decoderReplicas: 8,
  deviceSubnets: ["10.128.0.0/14", "10.160.0.0/16"],
  maxConnections: 18750,
  // downlinkSourceRewrite is off: downlinks leave with pod addresses, so the concentrators route the pod CIDR too.
  concentratorAllowedIps: {
    "apn-primary": ["10.5.1.1/32", "100.64.0.0/15"],
    "apn-secondary": ["10.5.1.1/32", "100.64.0.0/15"],
  },
  highAvailability: true,
};

/** The whole program, run under mocks (as a preview) with a committed stack file; the system tier's checks of it are in describeStackProgramArtifacts. */
export function describeStackProgram(stack: string, expected: Expectations): void {
  describe(`the ${stack} stack under mocks`, () => {
    const program = stackProgramRun(stack);
    let run: ProgramRun;
    beforeAll(() => {
      run = program();
    });

    it("plans exactly the environment's resources", () => {
      const counts: Record<string, number> = {};
      for (const resource of run.resources) counts[resource.type] = (counts[resource.type] ?? 0) + 1;
      expect(counts).toEqual(expectedTypeCounts(expected.pools, expected.highAvailability));
    });

    it("creates the Kosmos cluster from the stack file", () => {
      const cluster = onlyResource(run.resources, "scaleway:kubernetes/cluster:Cluster");
      expect(cluster.inputs).toMatchObject({ type: expected.clusterType, cni: "kilo", name: `iot-${stack}` });
      expect(cluster.inputs.tags).toContain(`environment=${stack}`);
      expect(onlyResource(run.resources, "scaleway:kubernetes/pool:Pool", `${stack}-pool-ingress`).inputs.size).toBe(expected.ingressNodes);
    });

    it(expected.protect ? "protects the cluster and the gateway's IP" : "leaves the cluster unprotected", () => {
      expect(run.protectedByName.get(stack)).toBe(expected.protect);
      expect(run.protectedByName.get(`${stack}-gateway-ip`)).toBe(expected.protect);
      expect(run.outputs.clusterProtected).toBe(expected.protect);
    });

    it("routes the device subnets to the gateway through its Kilo Peer", () => {
      const peer = onlyResource(run.resources, "kubernetes:kilo.squat.ai/v1alpha1:Peer");
      expect((peer.inputs.spec as { allowedIPs: string[] }).allowedIPs).toEqual(["10.5.0.1/32", ...expected.deviceSubnets]);
      expect(kiloPeerProblems(withSecretsRevealed(peer.inputs))).toEqual([]);
    });

    it("pulls the decoder image with read-only registry credentials of the provider's project", () => {
      const policy = onlyResource(run.resources, "scaleway:iam/policy:Policy", `${stack}-decoder-pull-policy`);
      expect(policy.inputs.rules).toEqual([{ projectIds: [TEST_PROJECT_ID], permissionSetNames: ["ContainerRegistryReadOnly"] }]);
      expect(policy.inputs.applicationId).toBe(`${stack}-decoder-pull-application-id`);
      expect(onlyResource(run.resources, "scaleway:iam/application:Application", `${stack}-decoder-pull-application`).inputs.name).toBe(`iot-${stack}-decoder-pull`);
      const secret = resourcesOfType(run.resources, "kubernetes:core/v1:Secret").find((resource) => resource.name === `${stack}-decoder-pull-secret`);
      expect(secret?.inputs).toMatchObject({ type: "kubernetes.io/dockerconfigjson", metadata: { name: "scaleway-registry", namespace: "iot-decoder" } });
      const podSpec = (onlyResource(run.resources, "kubernetes:apps/v1:Deployment").inputs as any).spec.template.spec;
      expect(podSpec.imagePullSecrets).toEqual([{ name: "scaleway-registry" }]);
    });

    it("has an untainted pool with nodes for the cluster add-ons", () => {
      const pools = resourcesOfType(run.resources, "scaleway:kubernetes/pool:Pool");
      const untaintedWithNodes = pools.filter(
        (pool) => pool.inputs.nodeType !== "external" && pool.inputs.taints === undefined && (pool.inputs.size as number) >= 1,
      );
      expect(untaintedWithNodes.length).toBeGreaterThanOrEqual(1);
      // External pools start empty; the provider rejects a max size below 1 (see kosmos-cluster.ts).
      for (const pool of pools.filter((candidate) => candidate.inputs.nodeType === "external")) {
        expect(pool.inputs).toMatchObject({ size: 0, minSize: 0, maxSize: 1 });
      }
    });

    it("runs as many decoders as configured behind a headless Service", () => {
      expect((onlyResource(run.resources, "kubernetes:apps/v1:Deployment").inputs as any).spec.replicas).toBe(expected.decoderReplicas);
      const decoderService = resourcesOfType(run.resources, "kubernetes:core/v1:Service").find((resource) => resource.name === `${stack}-decoder-service`);
      expect((decoderService?.inputs as any).spec.clusterIP).toBe("None");
    });

    it("sizes Envoy for the stack's fleet", () => {
      const bootstrap = envoyBootstrapOf(run);
      expect(bootstrap.static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections).toBe(expected.maxConnections);
      expect(run.outputs.envoyMaxConnectionsPerNode).toBe(expected.maxConnections);
    });

    it("produces Kubernetes objects that all pass the Kubernetes schema", () => {
      const objects = run.resources.filter((resource) => hasKubernetesSchema(resource.type));
      // The pair adds the Lease's Role and RoleBinding.
      expect(objects.length).toBe(expected.highAvailability ? 26 : 24);
      // Values known only after apply (the registry Secret's content in a preview) are left out, as the API
      // server would only see them at `pulumi up`.
      objects.forEach((resource) => validateAgainstKubernetesSchema({ ...resource, inputs: withoutUnknowns(resource.inputs) as Record<string, unknown> }));
    });

    it("exports the kubeconfig as a secret and the addresses users configure in plain", async () => {
      expect(await isSecret(run.outputs.kubeconfig as pulumi.Output<string>)).toBe(true);
      expect(await valueOf(run.outputs.clusterId as pulumi.Output<string>)).toBe(`${stack}-cluster-id`);
      expect(run.outputs.environmentName).toBe(stack);
      expect(run.outputs.deviceSubnets).toEqual(expected.deviceSubnets);
      expect(await valueOf(run.outputs.gatewayPublicIp as pulumi.Output<string>)).toBe(mockIpAddress(`${stack}-gateway-ip`));
      expect(await isSecret(run.outputs.gatewayKiloPublicKey as pulumi.Output<string>)).toBe(false);
      expect(await valueOf(run.outputs.gatewayTunnelAddress as pulumi.Output<string>)).toBe("10.5.0.1");
      expect(await valueOf(run.outputs.gatewayPeerName as pulumi.Output<string>)).toBe(`${stack}-gateway`);
      const peers = await valueOf(run.outputs.concentratorPeers as pulumi.Output<{ concentrator: string; allowedIps: { current: string[] } }[]>);
      expect(Object.fromEntries(peers.map((peer) => [peer.concentrator, peer.allowedIps.current]))).toEqual(expected.concentratorAllowedIps);
      expect(run.outputs.ingressAddress).toBe("10.5.1.1");
      expect(run.outputs.ingressPort).toBe(5683);
      expect(await valueOf(run.outputs.decoderServiceFqdn as pulumi.Output<string>)).toBe("decoder.iot-decoder.svc.cluster.local");
      expect(await valueOf(run.outputs.ingressNamespace as pulumi.Output<string>)).toBe("iot-ingress");
      expect(await valueOf(run.outputs.gatewayMetricsService as pulumi.Output<string>)).toBe(`${stack}-gateway-metrics`);
    });

    it("exports the alert rules rendered with this stack's session budget", () => {
      const rules = run.outputs.alertRules as string;
      expect(rules).toContain(`envoy_udp_downstream_sess_active{envoy_udp_prefix="iot_udp"} > ${0.8 * expected.maxConnections}`);
    });

    it("points the gateway's metrics EndpointSlice at the tunnel address in Envoy's namespace", () => {
      const slice = onlyResource(run.resources, "kubernetes:discovery.k8s.io/v1:EndpointSlice").inputs as any;
      expect(slice.metadata).toMatchObject({ namespace: "iot-ingress", labels: { "kubernetes.io/service-name": `${stack}-gateway-metrics` } });
      expect(slice.endpoints).toEqual([{ addresses: ["10.5.0.1"], conditions: { ready: true } }]);
    });

    it(
      expected.highAvailability
        ? "runs the gateway as a pair: two servers with IPs of their own, the shared flexible IP, the Lease; exported for operators"
        : "runs one gateway VM on the flexible IP, and exports it for operators",
      async () => {
        const servers = await valueOf(run.outputs.gatewayServers as pulumi.Output<Array<Record<string, string>>>);
        if (!expected.highAvailability) {
          expect(servers).toEqual([{ serverId: `${stack}-gateway-vm-id`, publicIp: mockIpAddress(`${stack}-gateway-ip`) }]);
          expect(run.outputs.gatewayLease).toBeUndefined();
          return;
        }
        expect(servers).toEqual(
          ["a", "b"].map((member) => ({
            serverId: `${stack}-gateway-vm-${member}-id`,
            publicIp: mockIpAddress(`${stack}-gateway-ip-${member}`),
            leaseIdentity: `${stack}-gateway-${member}`,
          })),
        );
        expect(run.outputs.gatewayLease).toEqual({ namespace: "iot-ingress", name: `${stack}-gateway-leader` });
        const policy = onlyResource(run.resources, "scaleway:iam/policy:Policy", `${stack}-gateway-pair-policy`);
        expect(policy.inputs.rules).toEqual([
          {
            // The flexible IP's own Project (the provider's default, SCW_DEFAULT_PROJECT_ID here).
            projectIds: [TEST_PROJECT_ID],
            permissionSetNames: ["InstancesFullAccess"],
            condition: servers.map((server) => `request.ip == "${server.publicIp}"`).join(" || "),
          },
        ]);
        expect(onlyResource(run.resources, "scaleway:instance/placementGroup:PlacementGroup").inputs).toMatchObject({
          zone: "fr-par-2",
          policyType: "max_availability",
          policyMode: "enforced",
        });
        for (const member of ["a", "b"]) {
          expect(onlyResource(run.resources, "scaleway:instance/server:Server", `${stack}-gateway-vm-${member}`).inputs).toMatchObject({
            zone: "fr-par-2",
            placementGroupId: `${stack}-gateway-pg-id`,
          });
        }
        const cloudInits = gatewayCloudInitsOf(run);
        expect(cloudInits).toHaveLength(2);
        expect(cloudInits[0].replace(/prod-gateway-a/g, "prod-gateway-b")).toBe(cloudInits[1]);
        expect(await valueOf(run.outputs.gatewayPublicIp as pulumi.Output<string>)).not.toBe(servers[0].publicIp);
      },
    );

    it("never passes key material, tokens or kubeconfigs in a plain resource input", () => {
      const servers = resourcesOfType(run.resources, "scaleway:instance/server:Server");
      expect(servers).toHaveLength(expected.highAvailability ? 2 : 1);
      for (const server of servers) {
        expect(isSecretInput((server.inputs.userData as Record<string, unknown>)["cloud-init"]) || isSecretInput(server.inputs.userData)).toBe(true);
      }
      for (const resource of run.resources) {
        for (const { path, text } of plainStrings(resource.inputs)) {
          expect(`${resource.type} ${resource.name}.${path}: ${text}`).not.toMatch(/admin kubeconfig|admin-token|sa-token-of|PrivateKey|BEGIN .*PRIVATE/);
        }
      }
    });
  });
}
