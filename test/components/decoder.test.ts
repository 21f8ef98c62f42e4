import { validateAgainstKubernetesSchema } from "../support/kubernetes-schema";
import { onlyResource, recordResources, settle, valueOf, type RecordedResource } from "../support/pulumi-mocks";

let recorded: RecordedResource[];
import { inputErrorsOf } from "../support/input-errors";

/** The `path: reason` lines of the InputPropertiesError `create` throws. */
const inputErrorLines = (create: () => unknown): string[] => inputErrorsOf(create).errors;

let components: typeof import("../../components");

const placement = {
  nodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
  nodeTaint: { key: "iot-udp-ingress/role", value: "ingress", effect: "NoSchedule" as const },
};
const SELECTOR = { "app.kubernetes.io/name": "decoder", "app.kubernetes.io/component": "decoder" };
const LABELS = { ...SELECTOR, "app.kubernetes.io/part-of": "iot-udp-ingress", "app.kubernetes.io/managed-by": "pulumi" };

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
});
beforeEach(() => recorded.splice(0));


function createDecoder(downlinkPorts: number[] = [5683], egress?: import("../../components").DecoderEgressRule[]) {
  const service = new components.DecoderService("dec", { namespace: "iot-decoder", createNamespace: true, port: 5683 });
  const deployment = new components.DecoderDeployment("dec", {
    namespace: service.namespace,
    selectorLabels: service.selectorLabels,
    image: "rg.fr-par.scw.cloud/iot/decoder:1.8.0",
    replicas: 4,
    port: 5683,
    env: { LOG_LEVEL: "info" },
    placement,
    deviceSubnets: ["10.128.0.0/14", "10.160.0.0/16"],
    downlinkPorts,
    egress,
  });
  return { service, deployment };
}

describe("DecoderService", () => {
  it("is headless, UDP, and selects the decoder pods", async () => {
    const { service } = createDecoder();
    await settle();
    expect(onlyResource(recorded, "kubernetes:core/v1:Namespace").inputs.metadata).toEqual({ name: "iot-decoder", labels: LABELS });
    const spec = onlyResource(recorded, "kubernetes:core/v1:Service").inputs.spec;
    expect(spec).toEqual({
      clusterIP: "None",
      selector: SELECTOR,
      publishNotReadyAddresses: false,
      ports: [{ name: "udp", protocol: "UDP", port: 5683, targetPort: "udp" }],
    });
    expect(await valueOf(service.fqdn)).toBe("decoder.iot-decoder.svc.cluster.local");
  });
});

describe("DecoderDeployment", () => {
  it("runs only on ingress nodes, spread one per node", async () => {
    createDecoder();
    await settle();
    const podSpec = (onlyResource(recorded, "kubernetes:apps/v1:Deployment").inputs as any).spec.template.spec;
    expect(podSpec.nodeSelector).toEqual({ "iot-udp-ingress/role": "ingress" });
    expect(podSpec.tolerations).toEqual([{ key: "iot-udp-ingress/role", operator: "Equal", value: "ingress", effect: "NoSchedule" }]);
    // nodeTaintsPolicy Honor: a cordoned (node.kubernetes.io/unschedulable) node no longer counts for the skew,
    // so a drain can place the evicted decoder; matchLabelKeys spreads each ReplicaSet on its own.
    expect(podSpec.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: "kubernetes.io/hostname",
        whenUnsatisfiable: "DoNotSchedule",
        labelSelector: { matchLabels: SELECTOR },
        nodeTaintsPolicy: "Honor",
        matchLabelKeys: ["pod-template-hash"],
      },
    ]);
  });

  it("is locked down: non-root, read-only root, no capabilities, RuntimeDefault seccomp", async () => {
    createDecoder();
    await settle();
    const deployment = onlyResource(recorded, "kubernetes:apps/v1:Deployment").inputs as any;
    const podSpec = deployment.spec.template.spec;
    expect(deployment.spec.replicas).toBe(4);
    expect(podSpec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(podSpec.automountServiceAccountToken).toBe(false);
    const [container] = podSpec.containers;
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.ports).toEqual([
      { name: "udp", containerPort: 5683, protocol: "UDP" },
      { name: "health", containerPort: 8080, protocol: "TCP" },
    ]);
    expect(container.env).toEqual([{ name: "LOG_LEVEL", value: "info" }]);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/ready", port: "health" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(container.resources).toEqual({ requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } });
  });

  it("keeps all but one decoder up through voluntary disruptions", async () => {
    createDecoder();
    await settle();
    expect(onlyResource(recorded, "kubernetes:policy/v1:PodDisruptionBudget").inputs.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: SELECTOR },
    });
  });

  it("admits UDP only from device subnets and lets out only downlinks and DNS", async () => {
    createDecoder([5683, 7000]);
    await settle();
    const devices = [{ ipBlock: { cidr: "10.128.0.0/14" } }, { ipBlock: { cidr: "10.160.0.0/16" } }];
    expect(onlyResource(recorded, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs.spec).toEqual({
      podSelector: { matchLabels: SELECTOR },
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: devices, ports: [{ protocol: "UDP", port: 5683 }] }],
      egress: [
        { to: devices, ports: [{ protocol: "UDP", port: 5683 }, { protocol: "UDP", port: 7000 }] },
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
          ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
        },
      ],
    });
  });

  it("adds each configured egress rule after downlinks and DNS, exactly as given", async () => {
    createDecoder(
      [5683],
      [
        {
          to: [{ cidr: "172.16.16.0/22" }, { cidr: "10.0.0.0/8", except: ["10.128.0.0/9"] }],
          ports: [
            { protocol: "TCP", port: 443 },
            { protocol: "TCP", port: 5432 },
          ],
        },
        {
          to: [
            { namespaceSelector: { "kubernetes.io/metadata.name": "backend" }, podSelector: { app: "ingest" } },
            { podSelector: { app: "cache" } },
          ],
          ports: [{ protocol: "UDP", port: 4000, endPort: 4010 }],
        },
      ],
    );
    await settle();
    expect((onlyResource(recorded, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs as any).spec.egress).toEqual([
      { to: [{ ipBlock: { cidr: "10.128.0.0/14" } }, { ipBlock: { cidr: "10.160.0.0/16" } }], ports: [{ protocol: "UDP", port: 5683 }] },
      {
        to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
        ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
      },
      {
        to: [{ ipBlock: { cidr: "172.16.16.0/22" } }, { ipBlock: { cidr: "10.0.0.0/8", except: ["10.128.0.0/9"] } }],
        ports: [{ protocol: "TCP", port: 443 }, { protocol: "TCP", port: 5432 }],
      },
      {
        to: [
          { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "backend" } }, podSelector: { matchLabels: { app: "ingest" } } },
          { podSelector: { matchLabels: { app: "cache" } } },
        ],
        ports: [{ protocol: "UDP", port: 4000, endPort: 4010 }],
      },
    ]);
    const kubernetesObjects = recorded.filter((resource) => resource.type.startsWith("kubernetes:"));
    kubernetesObjects.forEach(validateAgainstKubernetesSchema);
  });

  it.each([
    [{ to: [], ports: [{ protocol: "TCP" as const, port: 443 }] }, "egress[0].to: must name at least one destination (an empty list allows every destination)"],
    [{ to: [{ cidr: "172.16.16.0/22" }], ports: [] }, "egress[0].ports: must name at least one port (an empty list allows every port)"],
    [{ to: [{ cidr: "172.16.16.1/22" }], ports: [{ protocol: "TCP" as const, port: 443 }] }, 'egress[0].to[0].cidr: "172.16.16.1/22" has host bits set; the network is 172.16.16.0/22'],
    [
      { to: [{ cidr: "0.0.0.0/0" }], ports: [{ protocol: "TCP" as const, port: 443 }] },
      [
        "egress[0].to[0].cidr: 0.0.0.0/0 overlaps the device subnet 10.128.0.0/14; traffic to devices is limited to downlinkPorts (add it to except)",
        "egress[0].to[0].cidr: 0.0.0.0/0 overlaps the device subnet 10.160.0.0/16; traffic to devices is limited to downlinkPorts (add it to except)",
      ],
    ],
    [
      { to: [{ cidr: "10.0.0.0/8", except: ["10.128.0.0/14"] }], ports: [{ protocol: "TCP" as const, port: 443 }] },
      "egress[0].to[0].cidr: 10.0.0.0/8 overlaps the device subnet 10.160.0.0/16; traffic to devices is limited to downlinkPorts (add it to except)",
    ],
    [{ to: [{ cidr: "172.16.0.0/16", except: ["172.17.0.0/24"] }], ports: [{ protocol: "TCP" as const, port: 443 }] }, "egress[0].to[0].except[0]: 172.17.0.0/24 is not inside 172.16.0.0/16"],
    [{ to: [{ namespaceSelector: {} }], ports: [{ protocol: "TCP" as const, port: 443 }] }, "egress[0].to[0]: needs a non-empty namespaceSelector or podSelector (an empty selector matches everything)"],
    [{ to: [{}], ports: [{ protocol: "TCP" as const, port: 443 }] }, "egress[0].to[0]: needs a non-empty namespaceSelector or podSelector (an empty selector matches everything)"],
    [{ to: [{ cidr: "172.16.16.0/22" }], ports: [{ protocol: "TCP" as const, port: 0 }] }, "egress[0].ports[0].port: must be a port in 1-65535, got 0"],
    [{ to: [{ cidr: "172.16.16.0/22" }], ports: [{ protocol: "TCP" as const, port: 443, endPort: 80 }] }, "egress[0].ports[0].endPort: must be a port in 443-65535, got 80"],
    [{ to: [{ cidr: "172.16.16.0/22" }], ports: [{ protocol: "ICMP" as "TCP", port: 1 }] }, "egress[0].ports[0].protocol: must be TCP, UDP or SCTP, got ICMP"],
  ])("rejects the egress rule %j", (rule, problem) => {
    // Reported the Pulumi way, with the property path, so the engine prints it next to the resource.
    expect(inputErrorLines(() => createDecoder([5683], [rule]))).toStrictEqual([problem].flat());
  });

  it("reports every bad egress rule at once, each at its property path, before creating the decoders", async () => {
    const errors = inputErrorLines(() =>
      createDecoder(
        [5683],
        [
          { to: [{ cidr: "172.16.16.0/22" }], ports: [] },
          { to: [{ cidr: "0.0.0.0/0", except: ["10.128.0.0/14"] }, { podSelector: {} }], ports: [{ protocol: "TCP", port: 443, endPort: 80 }] },
        ],
      ),
    );
    expect(errors).toStrictEqual([
      "egress[0].ports: must name at least one port (an empty list allows every port)",
      "egress[1].to[0].cidr: 0.0.0.0/0 overlaps the device subnet 10.160.0.0/16; traffic to devices is limited to downlinkPorts (add it to except)",
      "egress[1].to[1]: needs a non-empty namespaceSelector or podSelector (an empty selector matches everything)",
      "egress[1].ports[0].endPort: must be a port in 443-65535, got 80",
    ]);
    await settle();
    expect(recorded.some((resource) => resource.type === "kubernetes:apps/v1:Deployment")).toBe(false);
  });

  it("defaults the name, ports and resources from DECODER_DEFAULTS, in the Service and the Deployment alike", async () => {
    const service = new components.DecoderService("plain", { namespace: "iot-decoder" });
    new components.DecoderDeployment("plain", {
      namespace: service.namespace,
      selectorLabels: service.selectorLabels,
      image: "rg.fr-par.scw.cloud/iot/decoder:1.8.0",
      replicas: 2,
      placement,
      deviceSubnets: ["10.128.0.0/14"],
    });
    await settle();
    const serviceInputs = onlyResource(recorded, "kubernetes:core/v1:Service").inputs as any;
    expect(serviceInputs.metadata).toMatchObject({ name: "decoder" });
    expect(serviceInputs.spec.ports).toEqual([{ name: "udp", protocol: "UDP", port: 5683, targetPort: "udp" }]);
    expect(await valueOf(service.port)).toBe(5683);
    const deployment = onlyResource(recorded, "kubernetes:apps/v1:Deployment").inputs as any;
    expect(deployment.metadata.name).toBe("decoder");
    const [container] = deployment.spec.template.spec.containers;
    expect(container.ports).toEqual([
      { name: "udp", containerPort: 5683, protocol: "UDP" },
      { name: "health", containerPort: 8080, protocol: "TCP" },
    ]);
    expect(container.resources).toEqual({ requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } });
    const policy = onlyResource(recorded, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs as any;
    expect(policy.spec.ingress).toEqual([{ from: [{ ipBlock: { cidr: "10.128.0.0/14" } }], ports: [{ protocol: "UDP", port: 5683 }] }]);
  });

  it("allows no downlink when no downlink port is configured", async () => {
    createDecoder([]);
    await settle();
    const egress = (onlyResource(recorded, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs as any).spec.egress;
    expect(egress).toHaveLength(1);
    expect(egress[0].ports.map((port: { port: number }) => port.port)).toEqual([53, 53]);
  });

  it("produces objects that pass the Kubernetes schema", async () => {
    createDecoder();
    await settle();
    const kubernetesObjects = recorded.filter((resource) => resource.type.startsWith("kubernetes:"));
    expect(kubernetesObjects.map((resource) => resource.type).sort()).toEqual([
      "kubernetes:apps/v1:Deployment",
      "kubernetes:core/v1:Namespace",
      "kubernetes:core/v1:Service",
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
      "kubernetes:policy/v1:PodDisruptionBudget",
    ]);
    kubernetesObjects.forEach(validateAgainstKubernetesSchema);
  });

  it("fails the schema check on a broken object (the check can fail)", () => {
    const broken: RecordedResource = {
      type: "kubernetes:apps/v1:Deployment",
      name: "broken",
      custom: true,
      inputs: { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { template: {} } },
    };
    expect(() => validateAgainstKubernetesSchema(broken)).toThrow("data/spec must have required property selector");
  });
});
