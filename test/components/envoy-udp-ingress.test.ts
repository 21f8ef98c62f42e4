import { parse } from "yaml";
import { hasKubernetesSchema, validateAgainstKubernetesSchema } from "../support/kubernetes-schema";
import { onlyResource, recordResources, settle, type RecordedResource } from "../support/pulumi-mocks";
import { args } from "./support/envoy-args";

// Envoy's own API judges the bootstrap the component ships in envoy-udp-ingress.system-test.ts.

let recorded: RecordedResource[];
import { inputErrorsOf } from "../support/input-errors";

let components: typeof import("../../components");

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
});
beforeEach(() => recorded.splice(0));


function daemonSetPodSpec(): any {
  return (onlyResource(recorded, "kubernetes:apps/v1:DaemonSet").inputs as any).spec.template.spec;
}

describe("EnvoyUdpIngress", () => {
  it("creates the namespace, config, RBAC, priority and DaemonSet", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    expect(recorded.map((resource) => `${resource.type} ${resource.name}`).sort()).toEqual([
      "iot-udp-ingress:index:EnvoyUdpIngress ingress",
      "kubernetes:apps/v1:DaemonSet ingress-daemonset",
      "kubernetes:core/v1:ConfigMap ingress-bootstrap",
      "kubernetes:core/v1:ConfigMap ingress-eds-sidecar",
      "kubernetes:core/v1:Namespace ingress-namespace",
      "kubernetes:core/v1:ServiceAccount ingress-sa",
      "kubernetes:rbac.authorization.k8s.io/v1:Role ingress-endpointslices-reader",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding ingress-endpointslices-reader",
      "kubernetes:scheduling.k8s.io/v1:PriorityClass ingress-priority",
    ]);
  });

  it("sizes max_connections from the fleet", async () => {
    const ingress = new components.EnvoyUdpIngress("ingress", args());
    await settle();
    // 250,000 devices x min(1, 60 s / 300 s) / 4 nodes = 12,500 sessions per node; x 1.5 headroom.
    expect(ingress.sizing).toEqual({ sessionsPerNode: 12500, maxConnections: 18750, fileDescriptorLimit: 19774 });
    const data = onlyResource(recorded, "kubernetes:core/v1:ConfigMap", "ingress-bootstrap").inputs.data as Record<string, string>;
    const bootstrap = parse(data["envoy.yaml"]);
    expect(bootstrap.static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections).toBe(18750);
    expect(bootstrap.admin.address.socket_address.address).toBe("127.0.0.1");
    const proxy = bootstrap.static_resources.listeners[0].listener_filters[0].typed_config;
    expect(proxy).toMatchObject({ use_original_src_ip: true, idle_timeout: "60s", hash_policies: [{ source_ip: true }] });
  });

  it("routes only datagrams from the device subnets; every other source has no route", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const data = onlyResource(recorded, "kubernetes:core/v1:ConfigMap", "ingress-bootstrap").inputs.data as Record<string, string>;
    const listener = parse(data["envoy.yaml"]).static_resources.listeners[0];
    expect(listener.address.socket_address).toEqual({ protocol: "UDP", address: "0.0.0.0", port_value: 5683 });
    expect(listener.udp_listener_config).toEqual({ downstream_socket_config: { max_rx_datagram_size: 1280, prefer_gro: false } });
    // No on_no_match: a source outside the ranges gets no cluster, is dropped and counted in downstream_sess_no_route.
    expect(listener.listener_filters[0].typed_config.matcher).toEqual({
      matcher_tree: {
        input: {
          name: "envoy.matching.inputs.source_ip",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput" },
        },
        custom_match: {
          name: "envoy.matching.custom_matchers.ip_range_matcher",
          typed_config: {
            "@type": "type.googleapis.com/xds.type.matcher.v3.IPMatcher",
            range_matchers: [
              {
                ranges: [
                  { address_prefix: "10.128.0.0", prefix_len: 14 },
                  { address_prefix: "10.160.0.0", prefix_len: 16 },
                ],
                on_match: {
                  action: {
                    name: "route",
                    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route", cluster: "decoder" },
                  },
                },
              },
            ],
          },
        },
      },
    });
  });

  it("refuses to proxy without device subnets or with a malformed one, naming the property", () => {
    expect(inputErrorsOf(() => new components.EnvoyUdpIngress("none", args({ deviceSubnets: [] }))).errors).toStrictEqual([
      "deviceSubnets: must list at least one device subnet",
    ]);
    expect(inputErrorsOf(() => new components.EnvoyUdpIngress("typo", args({ deviceSubnets: ["10.128.0.1/14"] }))).errors).toStrictEqual([
      'deviceSubnets[0]: "10.128.0.1/14" has host bits set; the network is 10.128.0.0/14',
    ]);
  });

  it("ships every EDS sidecar file in its ConfigMap", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const data = onlyResource(recorded, "kubernetes:core/v1:ConfigMap", "ingress-eds-sidecar").inputs.data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(["eds-file.js", "endpoints.js", "kube-api.js", "sidecar.js"]);
    expect(data["sidecar.js"]).toContain("require(\"./endpoints");
  });

  it("runs on the ingress pool with the host network, as root with NET_ADMIN only", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const spec = daemonSetPodSpec();
    expect(spec).toMatchObject({
      hostNetwork: true,
      dnsPolicy: "ClusterFirstWithHostNet",
      nodeSelector: { "iot-udp-ingress/role": "ingress" },
      tolerations: [{ key: "iot-udp-ingress/role", operator: "Equal", value: "ingress", effect: "NoSchedule" }],
      priorityClassName: "envoy-udp-ingress",
    });
    const [envoy] = spec.containers;
    expect(envoy.image).toBe("envoyproxy/envoy:v1.40.2");
    expect(envoy.env).toEqual([{ name: "ENVOY_UID", value: "0" }]);
    expect(envoy.securityContext).toEqual({
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(envoy.command).toEqual(["/bin/sh", "-c"]);
    expect(envoy.args).toEqual([
      "ulimit -n 19774 && exec /docker-entrypoint.sh envoy -c /etc/envoy/envoy.yaml --concurrency 2 --disable-hot-restart --log-level info",
    ]);
  });

  it("probes readiness on the node's loopback, never exposing admin", async () => {
    new components.EnvoyUdpIngress("ingress", args({ adminPort: 9911 }));
    await settle();
    const [envoy] = daemonSetPodSpec().containers;
    expect(envoy.readinessProbe.httpGet).toEqual({ host: "127.0.0.1", path: "/ready", port: 9911 });
    expect(envoy.ports).toEqual([
      { name: "udp", containerPort: 5683, protocol: "UDP" },
      { name: "metrics", containerPort: 9902, protocol: "TCP" },
    ]);
  });

  it("runs the EDS sidecar as a native sidecar that Envoy waits for, locked down", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const [sidecar] = daemonSetPodSpec().initContainers;
    expect(sidecar.restartPolicy).toBe("Always");
    expect(sidecar.image).toBe("node:22.21.1-alpine3.22");
    expect(sidecar.command).toEqual(["node", "/opt/eds-sidecar/sidecar.js"]);
    expect(sidecar.env).toEqual([
      { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
      { name: "NAMESPACE", value: "iot-decoder" },
      { name: "SERVICE_NAME", value: "decoder" },
      { name: "CLUSTER_NAME", value: "decoder" },
      { name: "PORT_NAME", value: "udp" },
      { name: "EDS_PATH", value: "/var/run/envoy-eds/endpoints.json" },
    ]);
    expect(sidecar.startupProbe.exec.command).toEqual(["node", "-e", 'require("node:fs").accessSync("/var/run/envoy-eds/endpoints.json")']);
    expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
  });

  it("lets the sidecar read only EndpointSlices, only in the decoder namespace", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const role = onlyResource(recorded, "kubernetes:rbac.authorization.k8s.io/v1:Role").inputs as any;
    expect(role.metadata.namespace).toBe("iot-decoder");
    expect(role.rules).toEqual([{ apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] }]);
    const binding = onlyResource(recorded, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").inputs as any;
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "envoy-udp-ingress", namespace: "iot-ingress" }]);
  });

  it("rolls one node at a time, and a bootstrap change changes the pods' config hash", async () => {
    const first = new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const daemonSet = onlyResource(recorded, "kubernetes:apps/v1:DaemonSet").inputs as any;
    expect(daemonSet.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
    expect(daemonSet.spec.template.metadata.annotations).toEqual({
      "iot-udp-ingress/config-hash": first.configHash,
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "9902",
      "prometheus.io/path": "/stats/prometheus",
    });
    const same = new components.EnvoyUdpIngress("same", args());
    const longerIdle = new components.EnvoyUdpIngress("longer-idle", args({ idleTimeoutSeconds: 90 }));
    const otherPort = new components.EnvoyUdpIngress("other-port", args({ listenerPort: 5684 }));
    const otherDevices = new components.EnvoyUdpIngress("other-devices", args({ deviceSubnets: ["10.128.0.0/14"] }));
    expect(same.configHash).toBe(first.configHash);
    expect(new Set([first.configHash, longerIdle.configHash, otherPort.configHash, otherDevices.configHash]).size).toBe(4);
    await settle();
  });

  it("refuses a fleet it cannot size, naming the property", () => {
    const bad = () => new components.EnvoyUdpIngress("bad", args({ sessions: { devices: 1000, reportIntervalSeconds: 60, ingressNodes: 0 } }));
    expect(inputErrorsOf(bad).errors).toStrictEqual(["sessions.ingressNodes: must be a positive integer, got 0"]);
    const tooMany = () => new components.EnvoyUdpIngress("full", args({ idleTimeoutSeconds: 300 }));
    expect(inputErrorsOf(tooMany).errors).toStrictEqual([
      "sessions.ingressNodes: 93750 sessions per node (with headroom) exceed the 28232 ephemeral ports a node has for Envoy's upstream sockets: add ingress nodes or shorten the idle timeout",
    ]);
  });

  it("exposes only the stats listener on the metrics port and annotates the pods for scraping by default", async () => {
    const ingress = new components.EnvoyUdpIngress("ingress", args({ metricsPort: 9500 }));
    await settle();
    const bootstrap = parse(ingress.bootstrap);
    const stats = bootstrap.static_resources.listeners[1];
    expect(stats.address.socket_address).toEqual({ protocol: "TCP", address: "0.0.0.0", port_value: 9500 });
    expect(stats.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0]).toEqual({
      match: { path: "/stats/prometheus" },
      route: { cluster: "envoy_admin" },
    });
    const [envoy] = daemonSetPodSpec().containers;
    expect(envoy.ports[1]).toEqual({ name: "metrics", containerPort: 9500, protocol: "TCP" });
    const annotations = (onlyResource(recorded, "kubernetes:apps/v1:DaemonSet").inputs as any).spec.template.metadata.annotations;
    expect(annotations["prometheus.io/port"]).toBe("9500");
    expect(recorded.some((r) => r.type === "kubernetes:monitoring.coreos.com/v1:PodMonitor")).toBe(false);
    expect(ingress.metricsPort).toBe(9500);
  });

  it("creates a PodMonitor instead of annotations with scrape: podMonitor", async () => {
    new components.EnvoyUdpIngress("ingress", args({ metrics: { scrape: "podMonitor" } }));
    await settle();
    const monitor = onlyResource(recorded, "kubernetes:monitoring.coreos.com/v1:PodMonitor").inputs as any;
    expect(monitor).toMatchObject({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PodMonitor",
      metadata: { name: "envoy-udp-ingress", namespace: "iot-ingress" },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": "envoy-udp-ingress", "app.kubernetes.io/component": "envoy" } },
        podMetricsEndpoints: [{ port: "metrics", path: "/stats/prometheus", interval: "30s" }],
      },
    });
    const annotations = (onlyResource(recorded, "kubernetes:apps/v1:DaemonSet").inputs as any).spec.template.metadata.annotations;
    expect(Object.keys(annotations)).toEqual(["iot-udp-ingress/config-hash"]);
  });

  it.each([
    [{ metricsPort: 5683 }, "metricsPort: must differ from listenerPort (5683), the device port"],
    [{ metricsPort: 9911, adminPort: 9911 }, "metricsPort: must differ from adminPort (9911): the admin stays on loopback"],
    [{ metricsPort: 0 }, "metricsPort: must be an integer from 1 to 65535"],
    [{ metrics: { scrape: "serviceMonitor" as "podMonitor" } }, 'metrics.scrape: must be one of annotations, podMonitor, got "serviceMonitor"'],
  ])("rejects metrics arguments %j with their property path", (override, problem) => {
    expect(inputErrorsOf(() => new components.EnvoyUdpIngress("bad", args(override))).errors).toStrictEqual([problem]);
  });

  it("reports every bad argument at once, each at its property path, before creating anything", async () => {
    const bad = () =>
      new components.EnvoyUdpIngress(
        "bad",
        args({ listenerPort: 70000, deviceSubnets: ["10.128.0.0/14", "10.128.0.0/14"], concurrency: 0, adminPort: 9902 }),
      );
    const { message, errors } = inputErrorsOf(bad);
    expect(errors).toStrictEqual([
      "listenerPort: must be an integer from 1 to 65535",
      "deviceSubnets[1]: 10.128.0.0/14 overlaps the device subnet 10.128.0.0/14",
      "concurrency: must be an integer from 1 to 4294967295",
      "metricsPort: must differ from adminPort (9902): the admin stays on loopback",
    ]);
    expect(message.split("\n")[0]).toBe("invalid EnvoyUdpIngress args:");
    await settle();
    expect(recorded.map((resource) => resource.type)).toStrictEqual(["iot-udp-ingress:index:EnvoyUdpIngress"]);
  });

  it("mounts the one EDS directory the bootstrap watches into both containers, and gives the sidecar its file", async () => {
    const ingress = new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const spec = daemonSetPodSpec();
    const eds = parse(ingress.bootstrap).static_resources.clusters[0].eds_cluster_config.eds_config.path_config_source;
    expect(eds).toEqual({ path: "/var/run/envoy-eds/endpoints.json", watched_directory: { path: "/var/run/envoy-eds" } });
    expect(spec.initContainers[0].volumeMounts).toContainEqual({ name: "eds", mountPath: eds.watched_directory.path });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: "eds", mountPath: eds.watched_directory.path, readOnly: true });
    expect(spec.initContainers[0].env).toContainEqual({ name: "EDS_PATH", value: eds.path });
    expect(spec.volumes).toContainEqual({ name: "eds", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } });
  });

  it("gives Envoy the default resources unless told otherwise", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    new components.EnvoyUdpIngress("small", args({ resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } } }));
    await settle();
    const resources = recorded
      .filter((resource) => resource.type === "kubernetes:apps/v1:DaemonSet")
      .map((resource) => [resource.name, (resource.inputs as any).spec.template.spec.containers[0].resources]);
    expect(resources).toEqual([
      ["ingress-daemonset", { requests: { cpu: "500m", memory: "256Mi" }, limits: { memory: "1Gi" } }],
      ["small-daemonset", { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } }],
    ]);
  });

  it("produces objects that pass the Kubernetes schema", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const objects = recorded.filter((resource) => hasKubernetesSchema(resource.type));
    expect(objects).toHaveLength(8);
    objects.forEach(validateAgainstKubernetesSchema);
  });
});
