import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import {
  EDS_SIDECAR_ENV,
  EDS_SIDECAR_MAIN,
  edsFilePath,
  edsSidecarFilePaths,
  edsSidecarStartupProbeCommand,
  ENVOY_BOOTSTRAP_DEFAULTS,
  PROMETHEUS_STATS_PATH,
  renderEnvoyBootstrap,
  serializeEnvoyBootstrap,
  sizeEnvoySessions,
  type SessionSizing,
} from "../infra/envoy";
import type { ContainerResources } from "./decoder-deployment";
import { DECODER_PORT_NAME } from "./decoder-service";
import { appLabels, ingressNodeSelector, ingressToleration, selectorLabels, type IngressPlacement } from "./kubernetes-placement";

export interface EnvoyUdpIngressArgs {
  /** Namespace of the DaemonSet and its config. */
  namespace: string;
  /** Create the namespace too. Default: `false`. */
  createNamespace?: boolean;
  /** Envoy image at an exact `envoyproxy/envoy:v1.40.x` tag. */
  envoyImage: string;
  /** Node.js image, pinned, that runs the EDS sidecar. */
  edsSidecarImage: string;
  /** UDP port the devices send to; Envoy listens on it on every ingress node. */
  listenerPort: number;
  /**
   * Device subnets (IPv4 CIDRs without host bits), required. Envoy listens on every address of the node (host
   * network), so only datagrams from these sources are proxied; any other source is dropped and counted in
   * `udp.iot_udp.downstream_sess_no_route` without opening a session.
   */
  deviceSubnets: readonly string[];
  /** The ingress pool the DaemonSet runs on. */
  placement: IngressPlacement;
  /** The headless decoder Service whose node-local endpoints are Envoy's upstreams. */
  decoder: { namespace: pulumi.Input<string>; serviceName: pulumi.Input<string> };
  /** Fleet figures that size the per-node session budget (`max_connections`) and file descriptors. */
  sessions: { devices: number; reportIntervalSeconds: number; ingressNodes: number };
  /** udp_proxy idle timeout in seconds. Default: `60`. */
  idleTimeoutSeconds?: number;
  /** Largest datagram in either direction, bytes. Default: `1500`. */
  maxDatagramBytes?: number;
  /** Envoy worker threads. Default: `2`. */
  concurrency?: number;
  /** Admin port, bound to 127.0.0.1 only. Default: `9901`. */
  adminPort?: number;
  /**
   * TCP port of the stats listener on every node address (host network): it serves only `/stats/prometheus`, proxied
   * to the loopback admin, and 404 for anything else. Must differ from `listenerPort` and `adminPort`. Default: `9902`.
   */
  metricsPort?: number;
  /** How Prometheus finds the stats listener. Default: `{ scrape: "annotations" }`. */
  metrics?: EnvoyMetricsArgs;
  /** Envoy container resources. Default: 500m CPU / 256Mi requested, 1Gi memory limit. */
  resources?: ContainerResources;
}

/** How Prometheus is told about a metrics endpoint. */
export const METRICS_SCRAPE_MODES = ["annotations", "podMonitor"] as const;
export type MetricsScrapeMode = (typeof METRICS_SCRAPE_MODES)[number];

export interface EnvoyMetricsArgs {
  /**
   * `annotations` (default): `prometheus.io/scrape`, `/port`, `/path` on the pod template, for a Prometheus with the
   * usual kubernetes-pods scrape job. `podMonitor`: a `monitoring.coreos.com/v1` PodMonitor next to the DaemonSet, for
   * the Prometheus Operator (its CRDs must exist, or the deployment fails on that resource).
   */
  scrape?: MetricsScrapeMode;
}

/** Name of the container port of the stats listener, as the PodMonitor refers to it. */
export const ENVOY_METRICS_PORT_NAME = "metrics";

/** The label selector of the Envoy pods, as the gateway's steering agent queries them. */
export const ENVOY_APP_NAME = "envoy-udp-ingress";
export const ENVOY_POD_SELECTOR = `app.kubernetes.io/name=${ENVOY_APP_NAME}`;
const BOOTSTRAP_FILE = "envoy.yaml";
const BOOTSTRAP_DIR = "/etc/envoy";
const SIDECAR_DIR = "/opt/eds-sidecar";
/** Above every workload but system pods: losing Envoy on a node takes its devices' traffic with it. */
const PRIORITY_VALUE = 1_000_000;

/**
 * Envoy as a UDP DaemonSet on the ingress pool: it receives the devices' datagrams on each node's Kilo IP and hands
 * them, with the device's source address (use_original_src_ip), to decoder pods on the same node only. A sidecar
 * writes the node-local endpoints into the EDS file Envoy watches.
 *
 * One per cluster: its PriorityClass `envoy-udp-ingress` is cluster-scoped and named the same for every instance (a
 * second instance on the same cluster fails to create it). The name is kept fixed because renaming it would change
 * the DaemonSet's pod template and roll every Envoy of a running installation.
 */
export class EnvoyUdpIngress extends pulumi.ComponentResource {
  /** Namespace of the DaemonSet. */
  public readonly namespace: pulumi.Output<string>;
  /** UDP port Envoy listens on. */
  public readonly listenerPort: pulumi.Output<number>;
  /** Label selector of the Envoy pods. */
  public readonly podSelector: string;
  /** The per-node session budget the bootstrap was sized with. */
  public readonly sizing: SessionSizing;
  /** The rendered Envoy bootstrap (YAML). */
  public readonly bootstrap: string;
  /** TCP port of the stats listener (`/stats/prometheus` only). */
  public readonly metricsPort: number;
  /** Hash of the bootstrap and sidecar code, set on the pod template so a change rolls the pods. */
  public readonly configHash: string;

  constructor(name: string, args: EnvoyUdpIngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:EnvoyUdpIngress", name, {}, opts);
    const labels = appLabels(ENVOY_APP_NAME, "envoy");
    const selector = selectorLabels(ENVOY_APP_NAME, "envoy");
    const idleTimeoutSeconds = args.idleTimeoutSeconds ?? ENVOY_BOOTSTRAP_DEFAULTS.idleTimeoutSeconds;
    const adminPort = args.adminPort ?? ENVOY_BOOTSTRAP_DEFAULTS.adminPort;
    const concurrency = args.concurrency ?? 2;
    const metricsPort = args.metricsPort ?? ENVOY_BOOTSTRAP_DEFAULTS.metricsPort;
    const scrape = args.metrics?.scrape ?? "annotations";
    checkMetricsArgs(args, adminPort, metricsPort, scrape);

    this.sizing = sizeEnvoySessions({ ...args.sessions, idleTimeoutSeconds });
    const bootstrapOptions = {
      listenerPort: args.listenerPort,
      sourceCidrs: args.deviceSubnets,
      maxConnections: this.sizing.maxConnections,
      adminPort,
      metricsPort,
      idleTimeoutSeconds,
      maxRxDatagramSize: args.maxDatagramBytes ?? ENVOY_BOOTSTRAP_DEFAULTS.maxRxDatagramSize,
    };
    this.bootstrap = serializeEnvoyBootstrap(renderEnvoyBootstrap(bootstrapOptions));
    const sidecarFiles = readSidecarFiles();
    this.configHash = hashOf([this.bootstrap, ...Object.values(sidecarFiles)]);
    this.podSelector = ENVOY_POD_SELECTOR;

    const namespace = args.createNamespace
      ? new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: args.namespace, labels } }, { parent: this }).metadata.name
      : pulumi.output(args.namespace);

    const bootstrapConfigMap = new k8s.core.v1.ConfigMap(
      `${name}-bootstrap`,
      { metadata: { name: `${ENVOY_APP_NAME}-bootstrap`, namespace, labels }, data: { [BOOTSTRAP_FILE]: this.bootstrap } },
      { parent: this },
    );
    const sidecarConfigMap = new k8s.core.v1.ConfigMap(
      `${name}-eds-sidecar`,
      { metadata: { name: `${ENVOY_APP_NAME}-eds-sidecar`, namespace, labels }, data: sidecarFiles },
      { parent: this },
    );

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      { metadata: { name: ENVOY_APP_NAME, namespace, labels } },
      { parent: this },
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-endpointslices-reader`,
      {
        metadata: { name: `${ENVOY_APP_NAME}-endpointslices`, namespace: args.decoder.namespace, labels },
        rules: [{ apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] }],
      },
      { parent: this },
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-endpointslices-reader`,
      {
        metadata: { name: `${ENVOY_APP_NAME}-endpointslices`, namespace: args.decoder.namespace, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace }],
      },
      { parent: this },
    );

    const priorityClass = new k8s.scheduling.v1.PriorityClass(
      `${name}-priority`,
      {
        metadata: { name: ENVOY_APP_NAME, labels },
        value: PRIORITY_VALUE,
        globalDefault: false,
        preemptionPolicy: "PreemptLowerPriority",
        description: "Envoy UDP ingress: without it a node's devices lose their path into the cluster.",
      },
      { parent: this },
    );

    const edsDirectory = ENVOY_BOOTSTRAP_DEFAULTS.edsDirectory;
    const edsPath = edsFilePath({});
    const daemonSet = new k8s.apps.v1.DaemonSet(
      `${name}-daemonset`,
      {
        metadata: { name: ENVOY_APP_NAME, namespace, labels },
        spec: {
          selector: { matchLabels: selector },
          updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
          template: {
            metadata: {
              labels,
              annotations: {
                "iot-udp-ingress/config-hash": this.configHash,
                ...(scrape === "annotations" ? prometheusScrapeAnnotations(metricsPort, PROMETHEUS_STATS_PATH) : {}),
              },
            },
            spec: {
              serviceAccountName: serviceAccount.metadata.name,
              priorityClassName: priorityClass.metadata.name,
              // The gateway DNATs to the node's Kilo IP, and use_original_src_ip needs the node's routing.
              hostNetwork: true,
              dnsPolicy: "ClusterFirstWithHostNet",
              nodeSelector: ingressNodeSelector(args.placement),
              tolerations: [ingressToleration(args.placement)],
              terminationGracePeriodSeconds: 30,
              initContainers: [
                {
                  name: "eds-sidecar",
                  image: args.edsSidecarImage,
                  // A native sidecar: it keeps running, and Envoy starts only once the EDS file exists.
                  restartPolicy: "Always",
                  command: ["node", `${SIDECAR_DIR}/${EDS_SIDECAR_MAIN}`],
                  env: [
                    { name: EDS_SIDECAR_ENV.nodeName, valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                    { name: EDS_SIDECAR_ENV.namespace, value: args.decoder.namespace },
                    { name: EDS_SIDECAR_ENV.serviceName, value: args.decoder.serviceName },
                    { name: EDS_SIDECAR_ENV.clusterName, value: ENVOY_BOOTSTRAP_DEFAULTS.clusterName },
                    { name: EDS_SIDECAR_ENV.portName, value: DECODER_PORT_NAME },
                    { name: EDS_SIDECAR_ENV.edsPath, value: edsPath },
                  ],
                  startupProbe: { exec: { command: edsSidecarStartupProbeCommand(edsPath) }, periodSeconds: 2, failureThreshold: 150 },
                  resources: { requests: { cpu: "20m", memory: "48Mi" }, limits: { memory: "128Mi" } },
                  securityContext: {
                    runAsNonRoot: true,
                    runAsUser: 1000,
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                    seccompProfile: { type: "RuntimeDefault" },
                  },
                  volumeMounts: [
                    { name: "eds-sidecar", mountPath: SIDECAR_DIR, readOnly: true },
                    { name: "eds", mountPath: edsDirectory },
                  ],
                },
              ],
              containers: [
                {
                  name: "envoy",
                  image: args.envoyImage,
                  // Raise the soft fd limit to the session budget first: Envoy needs one socket per session,
                  // and the command fails loudly if the node's hard limit is too low.
                  // --disable-hot-restart: hot restart binds abstract Unix sockets named
                  // "@envoy_domain_socket_{parent,child}_<base id + epoch % 3>" (default --socket-path in
                  // source/server/options_impl.cc, naming in source/server/hot_restarting_base.cc). Abstract sockets
                  // belong to the network namespace, and with hostNetwork that is the node's: a second Envoy on the
                  // node (an overlapping rollout, a stuck old pod) fails with EADDRINUSE. Kubernetes replaces pods
                  // instead of hot-restarting them, so nothing is lost (source/exe/stripped_main_base.cc then uses
                  // HotRestartNopImpl and binds nothing).
                  command: ["/bin/sh", "-c"],
                  args: [
                    `ulimit -n ${this.sizing.fileDescriptorLimit} && exec /docker-entrypoint.sh envoy ` +
                      `-c ${BOOTSTRAP_DIR}/${BOOTSTRAP_FILE} --concurrency ${concurrency} --disable-hot-restart --log-level info`,
                  ],
                  // The image's entrypoint drops to uid 101 unless ENVOY_UID=0; IP_TRANSPARENT needs CAP_NET_ADMIN.
                  env: [{ name: "ENVOY_UID", value: "0" }],
                  // With hostNetwork these are the node's ports; Envoy has no NetworkPolicy because policies do not apply
                  // to host-network pods. The stats port serves nothing but /stats/prometheus (see statsListener).
                  ports: [
                    { name: "udp", containerPort: args.listenerPort, protocol: "UDP" },
                    { name: ENVOY_METRICS_PORT_NAME, containerPort: metricsPort, protocol: "TCP" },
                  ],
                  readinessProbe: {
                    httpGet: { host: "127.0.0.1", path: "/ready", port: adminPort },
                    periodSeconds: 5,
                    failureThreshold: 2,
                  },
                  livenessProbe: {
                    httpGet: { host: "127.0.0.1", path: "/server_info", port: adminPort },
                    periodSeconds: 10,
                    failureThreshold: 3,
                  },
                  resources: args.resources ?? { requests: { cpu: "500m", memory: "256Mi" }, limits: { memory: "1Gi" } },
                  securityContext: {
                    runAsUser: 0,
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
                    seccompProfile: { type: "RuntimeDefault" },
                  },
                  volumeMounts: [
                    { name: "bootstrap", mountPath: BOOTSTRAP_DIR, readOnly: true },
                    { name: "eds", mountPath: edsDirectory, readOnly: true },
                    { name: "tmp", mountPath: "/tmp" },
                  ],
                },
              ],
              volumes: [
                { name: "bootstrap", configMap: { name: bootstrapConfigMap.metadata.name } },
                { name: "eds-sidecar", configMap: { name: sidecarConfigMap.metadata.name } },
                { name: "eds", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
                { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
              ],
            },
          },
        },
      },
      { parent: this },
    );

    if (scrape === "podMonitor") {
      new k8s.apiextensions.CustomResource(
        `${name}-podmonitor`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "PodMonitor",
          metadata: { name: ENVOY_APP_NAME, namespace, labels },
          spec: {
            selector: { matchLabels: selector },
            podMetricsEndpoints: [{ port: ENVOY_METRICS_PORT_NAME, path: PROMETHEUS_STATS_PATH, interval: "30s" }],
          },
        },
        { parent: this, dependsOn: [daemonSet] },
      );
    }

    this.namespace = daemonSet.metadata.namespace;
    this.metricsPort = metricsPort;
    this.listenerPort = pulumi.output(args.listenerPort);
    this.registerOutputs({ namespace: this.namespace, listenerPort: this.listenerPort, podSelector: this.podSelector });
  }
}

/** The annotations the common kubernetes-pods / kubernetes-service-endpoints scrape jobs read. */
export function prometheusScrapeAnnotations(port: number, path: string): Record<string, string> {
  return { "prometheus.io/scrape": "true", "prometheus.io/port": String(port), "prometheus.io/path": path };
}

/** Bad metrics arguments as InputPropertyErrors, before the bootstrap renders (whose errors carry no property path). */
function checkMetricsArgs(args: EnvoyUdpIngressArgs, adminPort: number, metricsPort: number, scrape: string): void {
  const errors: pulumi.InputPropertyErrorDetails[] = [];
  if (!Number.isInteger(metricsPort) || metricsPort < 1 || metricsPort > 65535) {
    errors.push({ propertyPath: "metricsPort", reason: `must be an integer port in [1, 65535], got ${String(metricsPort)}` });
  } else if (metricsPort === args.listenerPort) {
    errors.push({ propertyPath: "metricsPort", reason: `must differ from listenerPort (${args.listenerPort}): the device port carries only device datagrams` });
  } else if (metricsPort === adminPort) {
    errors.push({ propertyPath: "metricsPort", reason: `must differ from adminPort (${adminPort}): the admin stays on loopback` });
  }
  if (!(METRICS_SCRAPE_MODES as readonly string[]).includes(scrape)) {
    errors.push({ propertyPath: "metrics.scrape", reason: `must be one of ${METRICS_SCRAPE_MODES.join(", ")}, got ${JSON.stringify(scrape)}` });
  }
  if (errors.length > 0) throw new pulumi.InputPropertiesError({ message: "EnvoyUdpIngress: invalid metrics arguments", errors });
}

function readSidecarFiles(): Record<string, string> {
  return Object.fromEntries(Object.entries(edsSidecarFilePaths()).map(([file, path]) => [file, fs.readFileSync(path, "utf8")]));
}

function hashOf(parts: string[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex");
}
