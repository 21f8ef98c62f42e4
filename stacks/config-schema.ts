import { z } from "zod";
import { labelProblem } from "../components/ingress-observability";
import { GATEWAY_METRICS_SCRAPE_MODES, ROTATION_LABEL, ROTATION_LABEL_RULE } from "../components/wireguard-gateway";
import { GATEWAY_DEFAULTS, MAX_STEERING_BUCKETS } from "../infra/gateway";
import { DECODER_DEFAULTS } from "../infra/decoder";
import { ENVOY_DEFAULTS, METRICS_SCRAPE_MODES } from "../infra/envoy";
import { kubeconfigCluster } from "../infra/kubernetes";
import { isIpv4Address, parseIpv4Cidr } from "../infra/network";

/*
 * The schema of one environment's stack config. Every object is strict (unknown keys are errors: a typo in a
 * key must not silently fall back to a default), every optional value has the default documented in README.md.
 */

const cidr = z.string().superRefine((text, context) => {
  try {
    parseIpv4Cidr(text);
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
  }
});
const ipv4 = z.string().refine(isIpv4Address, { message: "expected an IPv4 address like 10.5.0.1" });
const port = z
  .number({ message: "expected a port number" })
  .int({ message: "expected a whole port number" })
  .min(1, { message: "expected a port in 1-65535" })
  .max(65535, { message: "expected a port in 1-65535" });
const positiveInt = z.number().int({ message: "expected a whole number" }).positive({ message: "expected a number above 0" });
const dnsLabel = z
  .string()
  .regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, { message: "expected a DNS label: lowercase letters, digits and '-', at most 63" });
const wireguardKey = z.string().refine((key) => /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/.test(key), {
  message: "expected a WireGuard public key: 32 bytes in base64 (44 characters ending in '=')",
});
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: "expected a sha256 sum: 64 lowercase hex digits" });

/**
 * An image reference pinned to an exact version: a digest, or a tag that starts with a full `x.y.z` version.
 * Floating tags (`latest`, `1`, `1.40`) would let a node restart pull different code than the one reviewed.
 */
export const PINNED_IMAGE = /^[a-z0-9]+([._\-/:][a-z0-9]+)*(:v?\d+\.\d+\.\d+[-+.\w]*)?(@sha256:[0-9a-f]{64})?$/;
const pinnedImage = z.string().refine(
  (image) => PINNED_IMAGE.test(image) && (/@sha256:[0-9a-f]{64}$/.test(image) || /:v?\d+\.\d+\.\d+[-+.\w]*$/.test(image)),
  { message: "expected an image pinned to an exact version tag (like repo/name:1.4.2) or a digest (@sha256:...)" },
);
const envoyImage = z.string().regex(/^(docker\.io\/)?envoyproxy\/envoy:v1\.40\.\d+$/, {
  message: "expected the official Envoy image at an exact 1.40 patch tag, like envoyproxy/envoy:v1.40.2",
});
const quantity = z.string().regex(/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, {
  message: "expected a Kubernetes quantity like 250m, 1, 512Mi or 2Gi",
});

const resourcesSchema = z.strictObject({
  requests: z.strictObject({ cpu: quantity, memory: quantity }),
  limits: z.strictObject({ cpu: quantity.optional(), memory: quantity }),
});
export type ResourcesConfig = z.infer<typeof resourcesSchema>;

export const KOSMOS_CLUSTER_TYPES = ["multicloud", "multicloud-dedicated-4", "multicloud-dedicated-8", "multicloud-dedicated-16"] as const;
export const SCALEWAY_REGIONS = ["fr-par", "nl-ams", "pl-waw"] as const;
const weekdays = ["any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;

const devicesSchema = z.strictObject({
  subnets: z.array(cidr).min(1, { message: "expected at least one device subnet" }),
  expectedCount: positiveInt.default(250_000),
  reportIntervalSeconds: positiveInt.default(300),
  maxDatagramBytes: positiveInt.max(65_535, { message: "expected at most 65535 bytes" }).default(1_280),
});

const ingressPoolSchema = z.strictObject({
  nodeType: z.string().min(1),
  size: positiveInt,
  zone: z.string().regex(/^(fr-par|nl-ams|pl-waw)-[1-3]$/, { message: "expected a zone like fr-par-2" }).optional(),
  autohealing: z.boolean().default(true),
  rootVolumeSizeGb: positiveInt.optional(),
});

const generalPoolSchema = z.strictObject({
  name: dnsLabel,
  nodeType: z.string().min(1),
  size: positiveInt,
  autoscaling: z.boolean().default(false),
  minSize: z.number().int().nonnegative().optional(),
  maxSize: positiveInt.optional(),
  autohealing: z.boolean().default(true),
});

const externalPoolSchema = z.strictObject({
  name: dnsLabel,
  /** The pool's max_size; Scaleway's provider rejects an external pool (size 0) whose max size is below 1. */
  maxSize: positiveInt.default(1),
});

/** The address plan every cluster has; it must match the cluster's (Kosmos sets it at creation). */
const clusterRangeKeys = {
  podCidr: cidr.default("100.64.0.0/15"),
  serviceCidr: cidr.default("10.32.0.0/20"),
};

/** Keys of a cluster the stack creates in Scaleway (Kosmos). */
const kosmosClusterSchema = z.strictObject({
  name: dnsLabel,
  region: z.enum(SCALEWAY_REGIONS).default("fr-par"),
  type: z.enum(KOSMOS_CLUSTER_TYPES, {
    message: `expected a Kosmos cluster type: ${KOSMOS_CLUSTER_TYPES.join(", ")}`,
  }).default("multicloud"),
  kubernetesVersion: z.string().regex(/^\d+\.\d+(\.\d+)?$/, { message: "expected a Kubernetes version x.y or x.y.z" }),
  autoUpgrade: z
    .strictObject({
      enabled: z.boolean().default(false),
      maintenanceWindowDay: z.enum(weekdays).default("sunday"),
      maintenanceWindowStartHour: z.number().int().min(0).max(23, { message: "expected an hour in 0-23" }).default(3),
    })
    .default({ enabled: false, maintenanceWindowDay: "sunday", maintenanceWindowStartHour: 3 }),
  ...clusterRangeKeys,
  tags: z.array(z.string().min(1)).default([]),
  deleteAdditionalResources: z.boolean().default(false),
  protect: z.boolean().optional(),
  ingressPool: ingressPoolSchema,
  generalPools: z.array(generalPoolSchema).default([]),
  externalPools: z.array(externalPoolSchema).default([]),
});

/**
 * Keys of a cluster that already exists (Kosmos or any cluster running Kilo): the stack creates no cluster and no
 * pool, and deploys onto the nodes that carry the ingress label and taint (see components/existing-cluster.ts).
 */
const existingClusterSchema = z.strictObject({
  /** Names the Scaleway resources the stack still creates for the cluster (the registry credentials). */
  name: dnsLabel,
  existing: z.strictObject({
    /** Kubeconfig whose current context reaches the cluster; set it with `pulumi config set --secret --path`. */
    kubeconfig: z.string().superRefine((text, context) => {
      try {
        kubeconfigCluster(text);
      } catch (error) {
        context.addIssue({ code: "custom", message: (error as Error).message });
      }
    }),
    /** How many nodes carry the ingress label and taint: Envoy's session budget is sized per node. */
    ingressNodes: positiveInt,
  }),
  ...clusterRangeKeys,
  tags: z.array(z.string().min(1)).default([]),
  protect: z.boolean().optional(),
});

export type KosmosClusterConfig = z.output<typeof kosmosClusterSchema>;
export type ExistingClusterConfig = z.output<typeof existingClusterSchema>;

/** The schemas a section may take, for readers of the schema (the README check): see `byKey`. */
const alternatives = new WeakMap<z.ZodType, readonly z.ZodType[]>();
export function schemaAlternatives(schema: z.ZodType): readonly z.ZodType[] | undefined {
  return alternatives.get(schema);
}

/**
 * One of two object schemas, chosen by whether the input has `key`. A plain union would report the problems of
 * whichever branch zod finds closest, so a typo in one form could be answered with the other form's keys.
 */
function byKey<WithKey extends z.ZodType, WithoutKey extends z.ZodType>(key: string, withKey: WithKey, withoutKey: WithoutKey) {
  const schema = z.unknown().transform((raw, context) => {
    const chosen = typeof raw === "object" && raw !== null && key in raw ? withKey : withoutKey;
    const result = chosen.safeParse(raw, { reportInput: true });
    if (result.success) return result.data as z.output<WithKey> | z.output<WithoutKey>;
    for (const issue of result.error.issues) context.issues.push(issue as z.core.$ZodRawIssue);
    return z.NEVER;
  }) as unknown as z.ZodType<z.output<WithKey> | z.output<WithoutKey>, z.input<WithKey> | z.input<WithoutKey>>;
  alternatives.set(schema, [withKey, withoutKey]);
  return schema;
}

const clusterSchema = byKey("existing", existingClusterSchema, kosmosClusterSchema);

/** Whether the stack deploys onto a cluster it does not create. */
export function isExistingCluster(cluster: KosmosClusterConfig | ExistingClusterConfig): cluster is ExistingClusterConfig {
  return "existing" in cluster;
}

/** Number of ingress nodes, and the key that sets it. */
export function ingressNodes(cluster: KosmosClusterConfig | ExistingClusterConfig): { count: number; path: string } {
  return isExistingCluster(cluster)
    ? { count: cluster.existing.ingressNodes, path: "cluster.existing.ingressNodes" }
    : { count: cluster.ingressPool.size, path: "cluster.ingressPool.size" };
}

const concentratorSchema = z.strictObject({
  name: dnsLabel,
  publicKey: wireguardKey,
  /** Where the gateway reaches the concentrator; omitted when only the concentrator dials in. */
  endpoint: z
    .string()
    .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, { message: "expected host:port" })
    .optional(),
  /** Public source addresses the concentrator's WireGuard packets come from. */
  sourceCidrs: z.array(cidr).min(1, { message: "expected at least one source CIDR" }),
  /** Device subnets behind this concentrator; required when there is more than one. */
  deviceSubnets: z.array(cidr).min(1).optional(),
});

const downloadSchema = z.strictObject({
  version: z.string().regex(/^v?\d+\.\d+\.\d+$/, { message: "expected an exact version like v1.34.2" }),
  /** Required before deployment; a plan may run without it (see stacks/environment.ts). */
  sha256: sha256.optional(),
});

const rotationLabel = z.string().regex(ROTATION_LABEL, { message: `${ROTATION_LABEL_RULE}, e.g. 2026-12` });

const gatewaySchema = z.strictObject({
  zone: z.string().regex(/^(fr-par|nl-ams|pl-waw)-[1-3]$/, { message: "expected a zone like fr-par-1" }).optional(),
  instanceType: z.string().min(1).optional(),
  image: z.string().min(1).optional(),
  /** A machine of the user's own runs the gateway: no VM, flexible IP or security group is created. */
  externalHost: z.strictObject({ publicIp: ipv4 }).optional(),
  /** An active/standby pair of VMs sharing the flexible IP (see WireguardGatewayArgs.highAvailability); not with externalHost. */
  highAvailability: z.boolean().default(false),
  tunnelAddress: ipv4.default("10.5.0.1"),
  kiloListenPort: port.default(GATEWAY_DEFAULTS.kiloListenPort),
  persistentKeepaliveSeconds: z.number().int().min(0).max(65535).default(GATEWAY_DEFAULTS.persistentKeepaliveSeconds),
  adminCidrs: z.array(cidr).default([]),
  uplink: z.strictObject({
    address: ipv4.default("10.5.1.1"),
    listenPort: port.default(GATEWAY_DEFAULTS.uplinkListenPort),
    concentrators: z.array(concentratorSchema).min(1, { message: "expected at least one concentrator" }),
  }),
  downlinkSourceRewrite: z.boolean().default(false),
  /** Generation labels of the gateway's secrets; changing one rotates it on the next `pulumi up` (components/wireguard-gateway.ts). */
  rotation: z
    .strictObject({ kiloKey: rotationLabel.optional(), uplinkKey: rotationLabel.optional(), token: rotationLabel.optional() })
    .default({}),
  /** How often the gateway re-steers and over how many buckets (see SteeringArgs in components/wireguard-gateway.ts). */
  steering: z
    .strictObject({
      intervalSeconds: positiveInt.max(3600, { message: "expected at most 3600 seconds" }).default(GATEWAY_DEFAULTS.steeringIntervalSeconds),
      buckets: positiveInt.max(MAX_STEERING_BUCKETS, { message: `expected at most ${MAX_STEERING_BUCKETS}` }).default(GATEWAY_DEFAULTS.steeringBuckets),
    })
    .default({ intervalSeconds: GATEWAY_DEFAULTS.steeringIntervalSeconds, buckets: GATEWAY_DEFAULTS.steeringBuckets }),
  tools: z.strictObject({ kgctl: downloadSchema, kubectl: downloadSchema }),
  /** How Prometheus finds the gateway's node exporter (see GatewayMetricsArgs in components/wireguard-gateway.ts). */
  metrics: z
    .strictObject({
      scrape: z
        .enum(GATEWAY_METRICS_SCRAPE_MODES, { message: `expected one of ${GATEWAY_METRICS_SCRAPE_MODES.join(", ")}` })
        .default("annotations"),
    })
    .default({ scrape: "annotations" }),
});

/**
 * Envoy's keys. Defaults the component applies too come from its plan (ENVOY_DEFAULTS, infra/envoy/plan.ts), and so do
 * the rules between keys (resolveEnvoyPlan, run by the config check); the namespace and the images are this stack's
 * choices and written only here.
 */
const ingressSchema = z.strictObject({
  namespace: dnsLabel.default("iot-ingress"),
  /** The address devices send to; the gateway owns it. Defaults to the gateway's uplink address. */
  address: ipv4.optional(),
  port: port.default(ENVOY_DEFAULTS.listenerPort),
  envoyImage: envoyImage.default("envoyproxy/envoy:v1.40.2"),
  edsSidecarImage: pinnedImage.default("node:22.21.1-alpine3.22"),
  concurrency: positiveInt.max(64).default(ENVOY_DEFAULTS.concurrency),
  // Policy, far below what Envoy takes (a protobuf Duration, which resolveEnvoyPlan checks).
  idleTimeoutSeconds: positiveInt.max(24 * 3600, { message: "expected at most one day" }).default(ENVOY_DEFAULTS.idleTimeoutSeconds),
  adminPort: port.default(ENVOY_DEFAULTS.adminPort),
  /** TCP port of Envoy's stats listener (only /stats/prometheus, proxied to the loopback admin). */
  metricsPort: port.default(ENVOY_DEFAULTS.metricsPort),
  metrics: z
    .strictObject({
      // How Prometheus finds Envoy's stats; the modes are the plan's (EnvoyUdpIngress `metrics.scrape`).
      scrape: z
        .enum(METRICS_SCRAPE_MODES, { message: `expected one of ${METRICS_SCRAPE_MODES.join(", ")}` })
        .default(ENVOY_DEFAULTS.metrics.scrape),
    })
    .default(ENVOY_DEFAULTS.metrics),
  resources: resourcesSchema.default(ENVOY_DEFAULTS.resources),
});

export const IMAGE_PULL_CREDENTIALS = ["scaleway", "none"] as const;

/** Egress the decoders get besides downlinks and DNS (see DecoderEgressRule in components/decoder-deployment.ts). */
const labelMap = z.record(z.string().min(1), z.string()).refine((labels) => Object.keys(labels).length > 0, {
  message: "expected at least one label (an empty selector matches everything)",
});
const decoderEgressSchema = z.strictObject({
  to: z
    .array(
      z
        .strictObject({
          cidr: cidr.optional(),
          except: z.array(cidr).optional(),
          namespaceSelector: labelMap.optional(),
          podSelector: labelMap.optional(),
        })
        .superRefine((peer, context) => {
          const bySelector = peer.namespaceSelector !== undefined || peer.podSelector !== undefined;
          if ((peer.cidr !== undefined) === bySelector) {
            context.addIssue({ code: "custom", message: "expected either cidr (and optional except) or namespaceSelector and/or podSelector" });
          } else if (bySelector && peer.except !== undefined) {
            context.addIssue({ code: "custom", path: ["except"], message: "only applies with cidr" });
          }
        })
        .transform(({ cidr: network, except, namespaceSelector, podSelector }) =>
          network !== undefined
            ? { cidr: network, ...(except !== undefined ? { except } : {}) }
            : { ...(namespaceSelector !== undefined ? { namespaceSelector } : {}), ...(podSelector !== undefined ? { podSelector } : {}) },
        ),
    )
    .min(1, { message: "expected at least one destination (an empty list would allow every destination)" }),
  ports: z
    .array(z.strictObject({ protocol: z.enum(["TCP", "UDP", "SCTP"]), port, endPort: port.optional() }))
    .min(1, { message: "expected at least one port (an empty list would allow every port)" }),
});

/** The decoders' keys; defaults the components apply too come from DECODER_DEFAULTS (infra/decoder/plan.ts). */
const decoderSchema = z.strictObject({
  namespace: dnsLabel.default("iot-decoder"),
  name: dnsLabel.default(DECODER_DEFAULTS.name),
  image: pinnedImage,
  /** `scaleway`: the stack creates read-only registry credentials; `none`: a public image. Default: by the image's host. */
  imagePullCredentials: z.enum(IMAGE_PULL_CREDENTIALS, { message: `expected one of ${IMAGE_PULL_CREDENTIALS.join(", ")}` }).optional(),
  /** Project owning the registry namespace. Default: the Scaleway provider's project (see stacks/environment.ts). */
  registryProjectId: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, { message: "expected a Scaleway Project id (a lowercase UUID)" })
    .optional(),
  replicas: positiveInt,
  port: port.default(DECODER_DEFAULTS.port),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "expected an environment variable name" }), z.string()).default({}),
  downlinkPorts: z.array(port).default([]),
  egress: z.array(decoderEgressSchema).default([]),
  healthPort: port.default(DECODER_DEFAULTS.healthPort),
  resources: resourcesSchema.default(DECODER_DEFAULTS.resources),
});

/** Extra labels for the Prometheus Operator's or Grafana's selectors: each must be a valid Kubernetes label. */
const extraLabels = z.record(z.string(), z.string()).superRefine((labels, context) => {
  for (const [key, value] of Object.entries(labels)) {
    const problem = key === "grafana_dashboard" ? "is set by observability.grafanaDashboard, on the dashboard ConfigMap only" : labelProblem(key, value);
    if (problem !== undefined) context.addIssue({ code: "custom", path: [key], message: problem });
  }
});

/** The alert rules and the dashboard as Kubernetes objects (see IngressObservabilityArgs in components/ingress-observability.ts). */
const observabilitySchema = z.strictObject({
  prometheusRule: z.boolean().default(false),
  grafanaDashboard: z.boolean().default(false),
  /** Where the PrometheusRule and the dashboard ConfigMap go (it must exist). Default: ingress.namespace. */
  namespace: dnsLabel.optional(),
  labels: extraLabels.default({}),
});

export const ENVIRONMENTS = ["prod", "preview"] as const;

export const stackConfigSchema = z.strictObject({
  environment: z.enum(ENVIRONMENTS, { message: `expected one of ${ENVIRONMENTS.join(", ")}` }),
  devices: devicesSchema,
  cluster: clusterSchema,
  gateway: gatewaySchema,
  ingress: ingressSchema.default(ingressSchema.parse({})),
  decoder: decoderSchema,
  observability: observabilitySchema.default({ prometheusRule: false, grafanaDashboard: false, labels: {} }),
});

export type StackConfigInput = z.input<typeof stackConfigSchema>;
export type ParsedStackConfig = z.output<typeof stackConfigSchema>;
