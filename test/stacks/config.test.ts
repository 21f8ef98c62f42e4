import { parseStackConfig, rawStackConfigFromPulumi } from "../../stacks/config";
import { pulumiConfigOfStack, rawConfigOfStack, STACKS } from "../support/stack-files";
import { changed, configProblems, kosmosCluster, validConfig } from "../support/valid-config";


function problemsOf(change: (config: Record<string, any>) => void): string[] {
  return configProblems(changed(validConfig, change));
}

describe("parseStackConfig", () => {
  it("accepts the minimal config and fills every default", () => {
    const config = parseStackConfig(validConfig());
    expect(config.cluster).toMatchObject({
      region: "fr-par",
      type: "multicloud",
      podCidr: "100.64.0.0/15",
      serviceCidr: "10.32.0.0/20",
      protect: false,
      deleteAdditionalResources: false,
      autoUpgrade: { enabled: false, maintenanceWindowDay: "sunday", maintenanceWindowStartHour: 3 },
      generalPools: [{ name: "system", nodeType: "PLAY2-NANO", size: 1, autoscaling: false, autohealing: true }],
      externalPools: [],
    });
    expect(config.devices).toEqual({
      subnets: ["10.200.0.0/20"],
      expectedCount: 250000,
      reportIntervalSeconds: 300,
      maxDatagramBytes: 1280,
    });
    // The VM's own defaults live with the component (GATEWAY_VM_DEFAULTS), so the config leaves them unset.
    expect([config.gateway.zone, config.gateway.instanceType, config.gateway.image]).toEqual([undefined, undefined, undefined]);
    expect(config.gateway).toMatchObject({
      tunnelAddress: "10.5.0.1",
      kiloListenPort: 51820,
      persistentKeepaliveSeconds: 25,
      downlinkSourceRewrite: false,
      uplink: { address: "10.5.1.1", listenPort: 51821 },
    });
    // ingress.address is left unset: its default (the uplink address) is the gateway plan's (infra/gateway/plan.ts).
    expect(config.ingress).toEqual({
      namespace: "iot-ingress",
      port: 5683,
      envoyImage: "envoyproxy/envoy:v1.40.2",
      edsSidecarImage: "node:22.21.1-alpine3.22",
      concurrency: 2,
      idleTimeoutSeconds: 60,
      adminPort: 9901,
      metricsPort: 9902,
      metrics: { scrape: "annotations" },
      resources: { requests: { cpu: "500m", memory: "256Mi" }, limits: { memory: "1Gi" } },
    });
    expect(config.decoder).toMatchObject({ namespace: "iot-decoder", name: "decoder", port: 5683, env: {}, downlinkPorts: [] });
    expect(config.gateway.metrics).toEqual({ scrape: "annotations" });
    // One gateway VM unless a pair is asked for.
    expect(config.gateway.highAvailability).toBe(false);
    // The objects that need the Operator's CRDs or Grafana's sidecar are off unless asked for.
    expect(config.observability).toEqual({ prometheusRule: false, grafanaDashboard: false, labels: {} });
  });

  it("takes the PrometheusRule, the dashboard ConfigMap, their namespace and labels when asked for", () => {
    const config = parseStackConfig({
      ...validConfig(),
      observability: { prometheusRule: true, grafanaDashboard: true, namespace: "monitoring", labels: { release: "kube-prometheus-stack" } },
    });
    expect(config.observability).toEqual({ prometheusRule: true, grafanaDashboard: true, namespace: "monitoring", labels: { release: "kube-prometheus-stack" } });
  });

  it("protects prod by default and lets a stack say otherwise", () => {
    expect(parseStackConfig({ ...validConfig(), environment: "prod" }).cluster.protect).toBe(true);
    const unprotected = validConfig();
    unprotected.environment = "prod";
    unprotected.cluster.protect = false;
    expect(parseStackConfig(unprotected).cluster.protect).toBe(false);
  });

  it.each(STACKS)("accepts the committed %s stack file", (stack) => {
    const config = parseStackConfig(rawConfigOfStack(stack));
    expect(config.environment).toBe(stack);
  });

  it("keeps the two stacks different where environments must differ", () => {
    const preview = parseStackConfig(rawConfigOfStack("preview"));
    const prod = parseStackConfig(rawConfigOfStack("prod"));
    expect(preview.cluster.name).not.toBe(prod.cluster.name);
    expect(preview.devices.subnets).not.toEqual(prod.devices.subnets);
    expect(prod.cluster.protect).toBe(true);
    expect(preview.cluster.protect).toBe(false);
    expect(kosmosCluster(prod.cluster).ingressPool.size).toBeGreaterThan(kosmosCluster(preview.cluster).ingressPool.size);
    // Production runs the gateway as an active/standby pair; the test environment makes do with one VM.
    expect([prod.gateway.highAvailability, preview.gateway.highAvailability]).toEqual([true, false]);
  });

  it("takes a gateway pair when asked for", () => {
    expect(parseStackConfig({ ...validConfig(), gateway: { ...validConfig().gateway, highAvailability: true } }).gateway.highAvailability).toBe(true);
  });

  it("reads the project's keys out of Pulumi's flat config map and leaves providers' keys alone", () => {
    const raw = rawStackConfigFromPulumi(pulumiConfigOfStack("preview"));
    expect(Object.keys(raw).sort()).toEqual(["cluster", "decoder", "devices", "environment", "gateway", "ingress"]);
    expect(raw.environment).toBe("preview");
  });

  const invalidCases: Array<[string, (config: Record<string, any>) => void, string]> = [
    ["unknown environment", (c) => (c.environment = "staging"), "environment: expected one of prod, preview"],
    ["missing section", (c) => delete c.decoder, "decoder: is required"],
    ["unknown top-level key", (c) => (c.gatway = {}), "gatway: unknown key"],
    ["unknown nested key", (c) => (c.cluster.ingressPool.sise = 3), "cluster.ingressPool.sise: unknown key"],
    ["cluster name with capitals", (c) => (c.cluster.name = "IoT"), "cluster.name: expected a DNS label"],
    ["Kapsule cluster type", (c) => (c.cluster.type = "kapsule"), "cluster.type: expected a Kosmos cluster type"],
    ["Kubernetes version with a v", (c) => (c.cluster.kubernetesVersion = "v1.34"), "cluster.kubernetesVersion: expected a Kubernetes version"],
    ["Kubernetes version as a number", (c) => (c.cluster.kubernetesVersion = 1.34), "cluster.kubernetesVersion: expected string"],
    ["patch version with auto-upgrade", (c) => (c.cluster.autoUpgrade = { enabled: true }), "cluster.kubernetesVersion: with autoUpgrade.enabled"],
    ["unknown region", (c) => (c.cluster.region = "us-east"), "cluster.region"],
    ["ingress pool of zero nodes", (c) => (c.cluster.ingressPool.size = 0), "cluster.ingressPool.size: expected a number above 0"],
    ["ingress pool size as text", (c) => (c.cluster.ingressPool.size = "2"), "cluster.ingressPool.size: expected number"],
    ["pod CIDR that is not a CIDR", (c) => (c.cluster.podCidr = "100.64.0.0"), "cluster.podCidr: \"100.64.0.0\" is not an IPv4 CIDR"],
    ["service CIDR inside the pod CIDR", (c) => (c.cluster.serviceCidr = "100.65.0.0/20"), "cluster.serviceCidr: 100.65.0.0/20 overlaps the pod CIDR (100.64.0.0/15)"],
    ["pod CIDR over the Kilo subnet", (c) => (c.cluster.podCidr = "10.0.0.0/8"), "cluster.podCidr: 10.0.0.0/8 overlaps the Kilo subnet"],
    ["no device subnet", (c) => (c.devices.subnets = []), "devices.subnets: expected at least one device subnet"],
    ["device subnet with host bits", (c) => (c.devices.subnets = ["10.200.1.0/20"]), "devices.subnets[0]: \"10.200.1.0/20\" has host bits set"],
    ["device subnets overlapping each other", (c) => (c.devices.subnets = ["10.200.0.0/20", "10.200.8.0/24"]), "devices.subnets[1]: 10.200.8.0/24 overlaps the device subnet 10.200.0.0/20"],
    ["device subnet over the pod CIDR", (c) => (c.devices.subnets = ["100.64.0.0/16"]), "devices.subnets[0]: 100.64.0.0/16 overlaps the pod CIDR (100.64.0.0/15)"],
    ["device subnet over the service CIDR", (c) => (c.devices.subnets = ["10.32.0.0/24"]), "devices.subnets[0]: 10.32.0.0/24 overlaps the service CIDR (10.32.0.0/20)"],
    ["device subnet over the Kilo subnet", (c) => (c.devices.subnets = ["10.4.128.0/17"]), "devices.subnets[0]: 10.4.128.0/17 overlaps Kilo's subnet (10.4.0.0/16)"],
    ["device subnet containing the tunnel address", (c) => (c.devices.subnets = ["10.5.0.0/24"]), "gateway.tunnelAddress: 10.5.0.1 is inside the device subnet 10.5.0.0/24"],
    ["tunnel address in the Kilo subnet", (c) => (c.gateway.tunnelAddress = "10.4.0.200"), "gateway.tunnelAddress: 10.4.0.200 is inside Kilo's subnet (10.4.0.0/16)"],
    ["tunnel address that is not an address", (c) => (c.gateway.tunnelAddress = "10.5.0.300"), "gateway.tunnelAddress: expected an IPv4 address"],
    ["same tunnel and uplink address", (c) => (c.gateway.uplink.address = "10.5.0.1"), "gateway.uplink.address: must differ from the tunnel address (10.5.0.1)"],
    ["ingress port 0", (c) => (c.ingress = { port: 0 }), "ingress.port: expected a port in 1-65535"],
    ["uplink port above 65535", (c) => (c.gateway.uplink.listenPort = 70000), "gateway.uplink.listenPort: expected a port in 1-65535"],
    ["fractional decoder port", (c) => (c.decoder.port = 5683.5), "decoder.port: expected a whole port number"],
    ["SSH open to the internet", (c) => (c.gateway.adminCidrs = ["0.0.0.0/0"]), "gateway.adminCidrs[0]: 0.0.0.0/0 would open SSH"],
    ["concentrator without a public key", (c) => delete c.gateway.uplink.concentrators[0].publicKey, "gateway.uplink.concentrators[0].publicKey: is required"],
    ["concentrator key of 31 bytes", (c) => (c.gateway.uplink.concentrators[0].publicKey = "FivtuBrHeD4Z4BpQca5Gng+gApYzRGb3tdtj68rbMU="), "gateway.uplink.concentrators[0].publicKey: expected a WireGuard public key"],
    ["no concentrator", (c) => (c.gateway.uplink.concentrators = []), "gateway.uplink.concentrators: expected at least one concentrator"],
    ["concentrator reachable from anywhere", (c) => (c.gateway.uplink.concentrators[0].sourceCidrs = ["0.0.0.0/0"]), "gateway.uplink.concentrators[0].sourceCidrs[0]: 0.0.0.0/0 is too wide"],
    ["second concentrator without device subnets", (c) => c.gateway.uplink.concentrators.push({ name: "apn-2", publicKey: "BdAxX2fIISln69q0i989YzMy3LbRkqEmGxPOFnGljh4=", sourceCidrs: ["203.0.113.11/32"] }), "gateway.uplink.concentrators[0].deviceSubnets: must be given when there is more than one concentrator"],
    ["concentrator routing a subnet that is not a device subnet", (c) => (c.gateway.uplink.concentrators[0].deviceSubnets = ["10.201.0.0/24"]), "gateway.uplink.concentrators[0].deviceSubnets[0]: 10.201.0.0/24 is not one of the device subnets"],
    ["kubectl sum that is not sha256", (c) => (c.gateway.tools.kubectl.sha256 = "abc"), "gateway.tools.kubectl.sha256: expected a sha256 sum"],
    ["decoder image on latest", (c) => (c.decoder.image = "rg.fr-par.scw.cloud/iot/decoder:latest"), "decoder.image: expected an image pinned"],
    ["decoder image without a tag", (c) => (c.decoder.image = "rg.fr-par.scw.cloud/iot/decoder"), "decoder.image: expected an image pinned"],
    ["decoder image on a floating minor tag", (c) => (c.decoder.image = "decoder:1.8"), "decoder.image: expected an image pinned"],
    ["Envoy outside 1.40", (c) => (c.ingress = { envoyImage: "envoyproxy/envoy:v1.39.1" }), "ingress.envoyImage: expected the official Envoy image"],
    ["Envoy on a floating tag", (c) => (c.ingress = { envoyImage: "envoyproxy/envoy:v1.40-latest" }), "ingress.envoyImage: expected the official Envoy image"],
    ["metrics port on the device port", (c) => (c.ingress = { metricsPort: 5683 }), "ingress.metricsPort: must differ from ingress.port (5683), the device port"],
    ["metrics port on the admin port", (c) => (c.ingress = { adminPort: 9950, metricsPort: 9950 }), "ingress.metricsPort: must differ from ingress.adminPort (9950)"],
    ["metrics port 0", (c) => (c.ingress = { metricsPort: 0 }), "ingress.metricsPort: expected a port in 1-65535"],
    ["idle timeout over a day", (c) => (c.ingress = { idleTimeoutSeconds: 86_401 }), "ingress.idleTimeoutSeconds: expected at most one day"],
    ["unknown scrape mode", (c) => (c.ingress = { metrics: { scrape: "serviceMonitor" } }), "ingress.metrics.scrape: expected one of annotations, podMonitor"],
    ["gateway pair as text", (c) => (c.gateway.highAvailability = "yes"), 'gateway.highAvailability: expected boolean, got string "yes"'],
    ["unknown gateway scrape mode", (c) => (c.gateway.metrics = { scrape: "podMonitor" }), "gateway.metrics.scrape: expected one of annotations, serviceMonitor"],
    ["PrometheusRule as text", (c) => (c.observability = { prometheusRule: "yes" }), "observability.prometheusRule: expected boolean"],
    ["unknown observability key", (c) => (c.observability = { serviceMonitor: true }), "observability.serviceMonitor: unknown key"],
    ["observability label that is not a label", (c) => (c.observability = { labels: { release: "kube prometheus" } }), 'observability.labels.release: value "kube prometheus" is not a label value'],
    ["observability label taking Grafana's", (c) => (c.observability = { labels: { grafana_dashboard: "0" } }), "observability.labels.grafana_dashboard: is set by observability.grafanaDashboard"],
    ["observability namespace that is not a DNS label", (c) => (c.observability = { namespace: "Monitoring" }), "observability.namespace: expected a DNS label"],
    ["sidecar image unpinned", (c) => (c.ingress = { edsSidecarImage: "node:22-alpine" }), "ingress.edsSidecarImage: expected an image pinned"],
    ["more sessions per node than ephemeral ports", (c) => { c.devices.expectedCount = 250000; c.ingress = { idleTimeoutSeconds: 300 }; }, "cluster.ingressPool.size: 93750 sessions per node (with headroom) exceed the 28232 ephemeral ports"],
    ["fewer decoders than ingress nodes", (c) => (c.decoder.replicas = 3), "decoder.replicas: 3 is below cluster.ingressPool.size (4)"],
    ["decoder env var with a bad name", (c) => (c.decoder.env = { "LOG-LEVEL": "x" }), "decoder.env.LOG-LEVEL: expected an environment variable name"],
    ["resources with a bad quantity", (c) => (c.decoder.resources = { requests: { cpu: "lots", memory: "1Gi" }, limits: { memory: "1Gi" } }), "decoder.resources.requests.cpu: expected a Kubernetes quantity"],
    ["autoscaling pool without bounds", (c) => (c.cluster.generalPools = [{ name: "backend", nodeType: "PRO2-M", size: 2, autoscaling: true }]), "cluster.generalPools[0]: autoscaling needs minSize and maxSize"],
    ["pool named like the ingress pool", (c) => (c.cluster.externalPools = [{ name: "ingress" }]), "cluster.externalPools[0].name: pool name \"ingress\" is used twice"],
    ["device subnet containing the ingress address", (c) => (c.ingress = { address: "10.200.0.9" }), "ingress.address: 10.200.0.9 is inside the device subnet 10.200.0.0/20"],
    ["ingress address equal to the tunnel address", (c) => (c.ingress = { address: "10.5.0.1" }), "ingress.address: must differ from the tunnel address (10.5.0.1)"],
    ["Envoy and decoders in one namespace", (c) => { c.ingress = { namespace: "iot" }; c.decoder.namespace = "iot"; }, 'decoder.namespace: must differ from ingress.namespace ("iot")'],
    ["decoder egress to the device subnet", (c) => (c.decoder.egress = [{ to: [{ cidr: "10.0.0.0/8" }], ports: [{ protocol: "TCP", port: 443 }] }]), "decoder.egress[0].to[0].cidr: 10.0.0.0/8 overlaps the device subnet 10.200.0.0/20"],
    ["maintenance hour 24", (c) => (c.cluster.autoUpgrade = { maintenanceWindowStartHour: 24 }), "cluster.autoUpgrade.maintenanceWindowStartHour: expected an hour in 0-23"],
  ];

  it("has a broad table of invalid configs", () => {
    expect(invalidCases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(invalidCases)("rejects %s, naming the key", (_name, change, expected) => {
    const problems = problemsOf(change);
    expect(problems.some((problem) => problem.startsWith(expected))).toBe(true);
  });

  it("reports the Envoy plan's problems at the config keys they come from, naming config keys", () => {
    expect(
      problemsOf((c) => {
        c.devices.expectedCount = 250_000;
        c.ingress = { port: 9950, adminPort: 9950, metricsPort: 9950, idleTimeoutSeconds: 300 };
      }),
    ).toEqual([
      "cluster.ingressPool.size: 93750 sessions per node (with headroom) exceed the 28232 ephemeral ports a node has for Envoy's upstream sockets: add ingress nodes or shorten the idle timeout",
      "ingress.metricsPort: must differ from ingress.port (9950), the device port",
      "ingress.metricsPort: must differ from ingress.adminPort (9950): the admin stays on loopback",
    ]);
  });

  it("reports the decoder plan's egress problems at decoder.egress", () => {
    expect(
      problemsOf((c) => {
        c.decoder.egress = [
          { to: [{ cidr: "10.0.0.0/8" }], ports: [{ protocol: "TCP", port: 443 }] },
          { to: [{ cidr: "172.16.0.0/16", except: ["172.17.0.0/24"] }], ports: [{ protocol: "TCP", port: 443, endPort: 80 }] },
        ];
      }),
    ).toEqual([
      "decoder.egress[0].to[0].cidr: 10.0.0.0/8 overlaps the device subnet 10.200.0.0/20; traffic to devices is limited to downlinkPorts (add it to except)",
      "decoder.egress[1].to[0].except[0]: 172.17.0.0/24 is not inside 172.16.0.0/16",
      "decoder.egress[1].ports[0].endPort: must be a port in 443-65535, got 80",
    ]);
  });

  it("lists every problem at once, one line each, without a stack trace as the message", () => {
    const config = validConfig();
    config.environment = "qa";
    config.decoder.replicas = 0;
    config.devices.subnets = ["10.4.0.0/24"];
    let message = "";
    try {
      parseStackConfig(config);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split("\n")).toEqual([
      'Invalid stack configuration (keys under "iot-udp-ingress:" in Pulumi.<stack>.yaml):',
      "  - environment: expected one of prod, preview",
      "  - decoder.replicas: expected a number above 0",
      "  - devices.subnets[0]: 10.4.0.0/24 overlaps Kilo's subnet (10.4.0.0/16)",
    ]);
  });

  it("does not let a schema error hide a cross-key problem of valid sections", () => {
    const problems = problemsOf((c) => {
      c.decoder.image = "rg.fr-par.scw.cloud/iot/decoder:latest";
      c.devices.subnets = ["100.64.0.0/16"];
    });
    expect(problems).toEqual([
      "decoder.image: expected an image pinned to an exact version tag (like repo/name:1.4.2) or a digest (@sha256:...)",
      "devices.subnets[0]: 100.64.0.0/16 overlaps the pod CIDR (100.64.0.0/15)",
    ]);
  });

  it("skips a cross-key check whose sections are themselves invalid", () => {
    // decoder.replicas is checked against the ingress pool only when both sections are valid.
    const problems = problemsOf((c) => {
      c.decoder.image = "decoder:latest";
      c.decoder.replicas = 1;
    });
    expect(problems).toEqual([
      "decoder.image: expected an image pinned to an exact version tag (like repo/name:1.4.2) or a digest (@sha256:...)",
    ]);
  });

  it("reports cross-key problems of a config whose shapes are right", () => {
    const problems = problemsOf((c) => {
      c.devices.subnets = ["10.4.0.0/24", "10.4.0.0/25"];
    });
    expect(problems).toEqual([
      // Once, though the gateway's and Envoy's plans both apply the device subnets' rule.
      "devices.subnets[1]: 10.4.0.0/25 overlaps the device subnet 10.4.0.0/24",
      "devices.subnets[0]: 10.4.0.0/24 overlaps Kilo's subnet (10.4.0.0/16)",
      "devices.subnets[1]: 10.4.0.0/25 overlaps Kilo's subnet (10.4.0.0/16)",
    ]);
  });
});
