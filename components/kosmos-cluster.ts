import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as scaleway from "@pulumiverse/scaleway";
import { CLUSTER_INGRESS_POOL_NAME, DEFAULT_EXTERNAL_POOL_MAX_SIZE, checkClusterPlan } from "../infra/cluster";
import { resolvedArgs } from "./input-errors";
import { ingressRole, type ClusterConnection, type NodeLabel, type NodeTaint } from "./kubernetes-placement";

/** Kosmos cluster offers; Kilo, the only CNI Kosmos supports, comes with them. */
export type KosmosClusterType = "multicloud" | "multicloud-dedicated-4" | "multicloud-dedicated-8" | "multicloud-dedicated-16";

/** The pool that runs Envoy and the decoders: it is labelled and tainted so nothing else lands there. */
export interface IngressPoolArgs {
  /** Scaleway Instance type of the nodes, e.g. `PRO2-S`. */
  nodeType: pulumi.Input<string>;
  /** Number of nodes; the gateway spreads devices over them. */
  size: pulumi.Input<number>;
  /** Zone of the nodes. Default: the provider's default zone. */
  zone?: pulumi.Input<string>;
  /** Replace unhealthy nodes automatically. Default: `true`. */
  autohealing?: pulumi.Input<boolean>;
  /** Root volume size in GB. Default: Scaleway's default for the node type. */
  rootVolumeSizeGb?: pulumi.Input<number>;
}

/** An optional pool for other workloads. */
export interface GeneralPoolArgs {
  /** Pool name, unique in the cluster. */
  name: string;
  /** Scaleway Instance type of the nodes. */
  nodeType: pulumi.Input<string>;
  /** Number of nodes (the initial size when autoscaling). */
  size: pulumi.Input<number>;
  /** Let the cluster autoscaler resize the pool. Default: `false`. */
  autoscaling?: pulumi.Input<boolean>;
  /** Minimum size when autoscaling. Default: Scaleway's (1). */
  minSize?: pulumi.Input<number>;
  /** Maximum size when autoscaling. Default: Scaleway's (the size). */
  maxSize?: pulumi.Input<number>;
  /** Replace unhealthy nodes automatically. Default: `true`. */
  autohealing?: pulumi.Input<boolean>;
}

/** A pool of machines outside Scaleway that join with Scaleway's node agent (`node_type = external`). */
export interface ExternalPoolArgs {
  /** Pool name, unique in the cluster. */
  name: string;
  /**
   * The pool's `max_size`, at least 1. Default: `1`. The pool is created with size 0, and the Scaleway provider
   * sets an unset `max_size` to the size, then rejects a max size below 1 when it creates or resizes the pool.
   */
  maxSize?: pulumi.Input<number>;
}

export { DEFAULT_EXTERNAL_POOL_MAX_SIZE };

/** Auto-upgrade of the control plane and pools within the minor version. */
export interface AutoUpgradeArgs {
  /** Default: `false`. With `true` the version must be a minor version `x.y`. */
  enabled: boolean;
  /** `monday` … `sunday` or `any`. Default: `sunday`. */
  maintenanceWindowDay?: string;
  /** Hour (UTC, 0-23) the window starts. Default: `3`. */
  maintenanceWindowStartHour?: number;
}

export interface KosmosClusterArgs {
  /** Cluster name in Scaleway. */
  clusterName: pulumi.Input<string>;
  /** Kubernetes version, `x.y` or `x.y.z`. */
  kubernetesVersion: pulumi.Input<string>;
  /** Kosmos offer. Default: `multicloud`. */
  type?: KosmosClusterType;
  /** Scaleway region. Default: the provider's region. */
  region?: pulumi.Input<string>;
  /** Pod CIDR (cannot change after creation). Default: Scaleway's `100.64.0.0/15`. */
  podCidr?: pulumi.Input<string>;
  /** Service CIDR (cannot change after creation). Default: Scaleway's `10.32.0.0/20`. */
  serviceCidr?: pulumi.Input<string>;
  /** Tags on the cluster and its pools. Default: none. */
  tags?: pulumi.Input<string>[];
  /** Delete volumes and load balancers the cluster created when it is deleted. Default: `false`. */
  deleteAdditionalResources?: pulumi.Input<boolean>;
  /** Auto-upgrade settings. Default: disabled. */
  autoUpgrade?: AutoUpgradeArgs;
  /** The ingress pool for Envoy and the decoders. */
  ingressPool: IngressPoolArgs;
  /** Other Scaleway pools. Default: none. */
  generalPools?: GeneralPoolArgs[];
  /** Pools of external machines. Default: none. */
  externalPools?: ExternalPoolArgs[];
  /** Name of the ingress pool's node label and taint key. Default: `iot-udp-ingress/role`. */
  ingressRoleKey?: string;
}

/**
 * The cluster's kubeconfig, or an error: a Kubernetes provider given an empty kubeconfig would deploy to whatever
 * cluster the machine running Pulumi points at.
 */
function requireKubeconfig(configFile: string | undefined, clusterResource: string): string {
  if (configFile === undefined || configFile.trim() === "") {
    throw new Error(
      `KosmosCluster: Scaleway returned no kubeconfig for ${clusterResource}; refusing to build a ` +
        "Kubernetes provider that would fall back to the ambient kubeconfig ($KUBECONFIG or ~/.kube/config)",
    );
  }
  return configFile;
}

/** The plan's rules on the args whose values are known now (a Pulumi output is checked by Scaleway instead). */
function checkClusterArgs(args: KosmosClusterArgs): void {
  const known = <T>(value: pulumi.Input<T> | undefined): T | undefined =>
    value === undefined || pulumi.Output.isInstance(value) || value instanceof Promise ? undefined : (value as T);
  resolvedArgs("KosmosCluster", () =>
    checkClusterPlan({
      kubernetesVersion: known(args.kubernetesVersion),
      autoUpgrade: args.autoUpgrade,
      podCidr: known(args.podCidr),
      serviceCidr: known(args.serviceCidr),
      generalPools: (args.generalPools ?? []).map((pool) => ({
        name: pool.name,
        size: known(pool.size),
        autoscaling: known(pool.autoscaling),
        minSize: known(pool.minSize),
        maxSize: known(pool.maxSize),
      })),
      externalPools: (args.externalPools ?? []).map((pool) => ({ name: pool.name, maxSize: known(pool.maxSize) })),
    }),
  );
}

export const INGRESS_POOL_NAME = CLUSTER_INGRESS_POOL_NAME;

/**
 * A Scaleway Kubernetes Kosmos cluster with Kilo, its pools, and a Kubernetes provider for it.
 *
 * Kosmos has no private network: Kilo puts every node in its own WireGuard segment, which is why the rest of this
 * package keeps device traffic node-local. Pass `protect` in `opts` for production; it applies to the cluster.
 */
export class KosmosCluster extends pulumi.ComponentResource implements ClusterConnection {
  /** Scaleway's id of the cluster (`region/uuid`). */
  public readonly clusterId: pulumi.Output<string>;
  /** URL of the Kubernetes API server. */
  public readonly apiServerUrl: pulumi.Output<string>;
  /** The cluster's CA certificate, base64 PEM as in kubeconfig. */
  public readonly clusterCaCertificate: pulumi.Output<string>;
  /** Admin kubeconfig (secret). */
  public readonly kubeconfig: pulumi.Output<string>;
  /** Kubernetes provider for the cluster; Kubernetes components take it through `opts.provider`. */
  public readonly provider: k8s.Provider;
  /** The ingress pool's node label, for nodeSelectors. */
  public readonly ingressNodeLabel: NodeLabel;
  /** The ingress pool's taint, for tolerations. */
  public readonly ingressNodeTaint: NodeTaint;
  /** The pool resources by name (`ingress`, then general and external pools). */
  public readonly pools: Record<string, scaleway.kubernetes.Pool>;

  constructor(name: string, args: KosmosClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:KosmosCluster", name, {}, opts);
    checkClusterArgs(args);
    const role = ingressRole(args.ingressRoleKey);
    this.ingressNodeLabel = role.nodeLabel;
    this.ingressNodeTaint = role.nodeTaint;

    const cluster = new scaleway.kubernetes.Cluster(
      `${name}-cluster`,
      {
        name: args.clusterName,
        type: args.type ?? "multicloud",
        version: args.kubernetesVersion,
        cni: "kilo",
        region: args.region,
        podCidr: args.podCidr,
        serviceCidr: args.serviceCidr,
        tags: args.tags,
        deleteAdditionalResources: args.deleteAdditionalResources ?? false,
        autoUpgrade: args.autoUpgrade && {
          enable: args.autoUpgrade.enabled,
          maintenanceWindowDay: args.autoUpgrade.maintenanceWindowDay ?? "sunday",
          maintenanceWindowStartHour: args.autoUpgrade.maintenanceWindowStartHour ?? 3,
        },
      },
      { parent: this },
    );

    const ingress = args.ingressPool;
    const ingressPool = new scaleway.kubernetes.Pool(
      `${name}-pool-${INGRESS_POOL_NAME}`,
      {
        clusterId: cluster.id,
        name: INGRESS_POOL_NAME,
        region: args.region,
        nodeType: ingress.nodeType,
        size: ingress.size,
        zone: ingress.zone,
        autoscaling: false,
        autohealing: ingress.autohealing ?? true,
        rootVolumeSizeInGb: ingress.rootVolumeSizeGb,
        labels: { [this.ingressNodeLabel.key]: this.ingressNodeLabel.value },
        taints: [this.ingressNodeTaint],
        tags: args.tags,
      },
      { parent: this },
    );
    this.pools = { [INGRESS_POOL_NAME]: ingressPool };

    for (const pool of args.generalPools ?? []) {
      this.pools[pool.name] = new scaleway.kubernetes.Pool(
        `${name}-pool-${pool.name}`,
        {
          clusterId: cluster.id,
          name: pool.name,
          region: args.region,
          nodeType: pool.nodeType,
          size: pool.size,
          autoscaling: pool.autoscaling ?? false,
          minSize: pool.minSize,
          maxSize: pool.maxSize,
          autohealing: pool.autohealing ?? true,
          tags: args.tags,
        },
        { parent: this },
      );
    }
    // Scaleway pools with nodes: the ingress pool and the general pools (their sizes are at least 1).
    const poolsWithNodes = Object.values(this.pools);
    (args.externalPools ?? []).forEach((pool, index) => {
      // Facts from the Scaleway Terraform provider v2.80.0, internal/services/k8s/pool.go
      // (resourceK8SPoolCreate, validatePoolSize) and pool_test.go (TestAccPool_ValidateSizeMutualized/-Dedicated):
      // - `min_size` and `max_size` of 0 count as unset (GetOk); with size 0 the request gets min 0 and max = size = 0.
      // - At create and at update (never at plan: the CustomizeDiff only recomputes `nodes`), a size-0 pool of a
      //   mutualized cluster (type without "dedicated", such as `multicloud`) is rejected unless ANOTHER pool of the
      //   cluster already has size >= 1 ("a mutualized cluster cannot have less than 1 node"; when one has, the
      //   max-size check is skipped); on a dedicated cluster a max size below 1 is rejected ("Pool's max size must
      //   be at least 1"). The check lists the pools through the API when the request is made, so a pool created
      //   in parallel does not count.
      // Hence maxSize >= 1, and the external pool is created only after the pools with nodes exist.
      this.pools[pool.name] = new scaleway.kubernetes.Pool(
        `${name}-pool-${pool.name}`,
        {
          clusterId: cluster.id,
          name: pool.name,
          region: args.region,
          nodeType: "external",
          size: 0,
          minSize: 0,
          maxSize: pool.maxSize ?? DEFAULT_EXTERNAL_POOL_MAX_SIZE,
          tags: args.tags,
        },
        { parent: this, dependsOn: poolsWithNodes },
      );
    });

    this.clusterId = cluster.id;
    this.apiServerUrl = cluster.apiserverUrl;
    const kubeconfigEntry = cluster.kubeconfigs.apply((entries) => entries?.[0]);
    this.clusterCaCertificate = kubeconfigEntry.apply((entry) => entry?.clusterCaCertificate ?? "");
    this.kubeconfig = pulumi.secret(kubeconfigEntry.apply((entry) => requireKubeconfig(entry?.configFile, `${name}-cluster`)));

    // The API's DNS name only resolves once a pool exists, so the provider waits for the ingress pool.
    // The kubeconfig is never empty (requireKubeconfig): pulumi-kubernetes v4.25.0 treats an empty
    // `kubeconfig` as unset and loads the ambient one instead ($KUBECONFIG, ~/.kube/config;
    // provider/pkg/provider/provider.go, the `pathOrContents != ""` branch of Configure), and its SDK
    // substitutes $KUBECONFIG for an undefined one (@pulumi/kubernetes provider.js).
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: this.kubeconfig, enableServerSideApply: true },
      { parent: this, dependsOn: [ingressPool] },
    );

    this.registerOutputs({
      clusterId: this.clusterId,
      apiServerUrl: this.apiServerUrl,
      kubeconfig: this.kubeconfig,
      ingressNodeLabel: this.ingressNodeLabel,
      ingressNodeTaint: this.ingressNodeTaint,
    });
  }
}
