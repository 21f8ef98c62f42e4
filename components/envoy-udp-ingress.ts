import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import {
  EDS_DIRECTORY,
  EDS_FILE_PATH,
  EDS_SIDECAR_ENV,
  EDS_SIDECAR_MAIN,
  edsSidecarFilePaths,
  edsSidecarStartupProbeCommand,
  ENVOY_DECODER_CLUSTER,
  ENVOY_DEFAULTS,
  PROMETHEUS_STATS_PATH,
  renderEnvoyBootstrap,
  resolveEnvoyPlan,
  serializeEnvoyBootstrap,
  type EnvoyMetricsInput,
  type EnvoyPlanInput,
  type SessionSizing,
} from "../infra/envoy";
import type { ContainerResources } from "./decoder-deployment";
import { DECODER_PORT_NAME } from "./decoder-service";
import { resolvedArgs } from "./input-errors";
import { appLabels, ingressNodeSelector, ingressToleration, selectorLabels, type IngressPlacement } from "./kubernetes-placement";

export { METRICS_SCRAPE_MODES, type MetricsScrapeMode } from "../infra/envoy";

/**
 * The plan input (infra/envoy/plan.ts: ports, device subnets, session figures, timeouts, metrics; each documented
 * there with its default) plus what places Envoy in the cluster.
 */
export interface EnvoyUdpIngressArgs extends EnvoyPlanInput {
  /** Namespace of the DaemonSet and its config. Required. */
  namespace: string;
  /** Create the namespace too. Default: `false`. */
  createNamespace?: boolean;
  /** Envoy image at an exact `envoyproxy/envoy:v1.40.x` tag. Required. */
  envoyImage: string;
  /** Node.js image, pinned, that runs the EDS sidecar. Required. */
  edsSidecarImage: string;
  /** The ingress pool the DaemonSet runs on. Required. */
  placement: IngressPlacement;
  /** The headless decoder Service whose node-local endpoints are Envoy's upstreams. Required. */
  decoder: { namespace: pulumi.Input<string>; serviceName: pulumi.Input<string> };
  /** Envoy container resources. Default: 500m CPU / 256Mi requested, 1Gi memory limit (`ENVOY_DEFAULTS.resources`). */
  resources?: ContainerResources;
}

/** How Prometheus finds the stats listener (EnvoyPlanInput `metrics`). */
export type EnvoyMetricsArgs = EnvoyMetricsInput;

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
    // Every default and check of the plan, once; bad args fail here with their property paths, before any resource.
    const plan = resolvedArgs("EnvoyUdpIngress", () => resolveEnvoyPlan(args));
    const { adminPort, metricsPort } = plan;
    const scrape = plan.metrics.scrape;

    this.sizing = plan.sizing;
    this.bootstrap = serializeEnvoyBootstrap(renderEnvoyBootstrap(plan));
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
                    { name: EDS_SIDECAR_ENV.clusterName, value: ENVOY_DECODER_CLUSTER },
                    { name: EDS_SIDECAR_ENV.portName, value: DECODER_PORT_NAME },
                    { name: EDS_SIDECAR_ENV.edsPath, value: EDS_FILE_PATH },
                  ],
                  startupProbe: { exec: { command: edsSidecarStartupProbeCommand(EDS_FILE_PATH) }, periodSeconds: 2, failureThreshold: 150 },
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
                    { name: "eds", mountPath: EDS_DIRECTORY },
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
                      `-c ${BOOTSTRAP_DIR}/${BOOTSTRAP_FILE} --concurrency ${plan.concurrency} --disable-hot-restart --log-level info`,
                  ],
                  // The image's entrypoint drops to uid 101 unless ENVOY_UID=0; IP_TRANSPARENT needs CAP_NET_ADMIN.
                  env: [{ name: "ENVOY_UID", value: "0" }],
                  // With hostNetwork these are the node's ports; Envoy has no NetworkPolicy because policies do not apply
                  // to host-network pods. The stats port serves nothing but /stats/prometheus (see statsListener).
                  ports: [
                    { name: "udp", containerPort: plan.listenerPort, protocol: "UDP" },
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
                  resources: args.resources ?? ENVOY_DEFAULTS.resources,
                  securityContext: {
                    runAsUser: 0,
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
                    seccompProfile: { type: "RuntimeDefault" },
                  },
                  volumeMounts: [
                    { name: "bootstrap", mountPath: BOOTSTRAP_DIR, readOnly: true },
                    { name: "eds", mountPath: EDS_DIRECTORY, readOnly: true },
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
    this.listenerPort = pulumi.output(plan.listenerPort);
    this.registerOutputs({ namespace: this.namespace, listenerPort: this.listenerPort, podSelector: this.podSelector });
  }
}

/** The annotations the common kubernetes-pods / kubernetes-service-endpoints scrape jobs read. */
export function prometheusScrapeAnnotations(port: number, path: string): Record<string, string> {
  return { "prometheus.io/scrape": "true", "prometheus.io/port": String(port), "prometheus.io/path": path };
}

function readSidecarFiles(): Record<string, string> {
  return Object.fromEntries(Object.entries(edsSidecarFilePaths()).map(([file, path]) => [file, fs.readFileSync(path, "utf8")]));
}

function hashOf(parts: string[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex");
}
