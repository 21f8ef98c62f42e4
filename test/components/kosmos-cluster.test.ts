import {
  isSecret,
  isSecretInput,
  onlyResource,
  plainStrings,
  recordResources,
  resourcesOfType,
  settle,
  valueOf,
  type RecordedResource,
} from "../support/pulumi-mocks";

const CLUSTER = "scaleway:kubernetes/cluster:Cluster";
const POOL = "scaleway:kubernetes/pool:Pool";
const PROVIDER = "pulumi:providers:kubernetes";

let recorded: RecordedResource[];
let components: typeof import("../../components");

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
});

beforeEach(() => recorded.splice(0));

function createCluster(extra: Partial<import("../../components").KosmosClusterArgs> = {}, protect?: boolean) {
  return new components.KosmosCluster(
    "env",
    {
      clusterName: "iot-test",
      kubernetesVersion: "1.34",
      region: "fr-par",
      tags: ["project=iot"],
      ingressPool: { nodeType: "PRO2-S", size: 3, zone: "fr-par-2" },
      ...extra,
    },
    protect === undefined ? undefined : { protect },
  );
}

describe("KosmosCluster", () => {
  it("creates a Kilo Kosmos cluster without a private network", async () => {
    createCluster({ autoUpgrade: { enabled: true, maintenanceWindowDay: "tuesday" } });
    await settle();
    const cluster = onlyResource(recorded, CLUSTER, "env-cluster");
    expect(cluster.inputs).toEqual({
      name: "iot-test",
      type: "multicloud",
      version: "1.34",
      cni: "kilo",
      region: "fr-par",
      tags: ["project=iot"],
      deleteAdditionalResources: false,
      autoUpgrade: { enable: true, maintenanceWindowDay: "tuesday", maintenanceWindowStartHour: 3 },
    });
    expect(cluster.inputs).not.toHaveProperty("privateNetworkId");
  });

  it("labels and taints the ingress pool for Envoy and the decoders", async () => {
    const component = createCluster();
    await settle();
    const pool = onlyResource(recorded, POOL, "env-pool-ingress");
    expect(pool.inputs).toEqual({
      clusterId: "env-cluster-id",
      name: "ingress",
      region: "fr-par",
      nodeType: "PRO2-S",
      size: 3,
      zone: "fr-par-2",
      autoscaling: false,
      autohealing: true,
      labels: { "iot-udp-ingress/role": "ingress" },
      taints: [{ key: "iot-udp-ingress/role", value: "ingress", effect: "NoSchedule" }],
      tags: ["project=iot"],
    });
    expect(component.ingressNodeLabel).toEqual({ key: "iot-udp-ingress/role", value: "ingress" });
    expect(component.ingressNodeTaint).toEqual({ key: "iot-udp-ingress/role", value: "ingress", effect: "NoSchedule" });
  });

  it("creates general and external pools from args", async () => {
    const component = createCluster({
      type: "multicloud-dedicated-8",
      generalPools: [{ name: "backend", nodeType: "PRO2-M", size: 2, autoscaling: true, minSize: 2, maxSize: 6 }],
      externalPools: [{ name: "onprem" }],
    });
    await settle();
    expect(onlyResource(recorded, CLUSTER).inputs.type).toBe("multicloud-dedicated-8");
    expect(resourcesOfType(recorded, POOL).map((pool) => pool.name).sort()).toEqual([
      "env-pool-backend",
      "env-pool-ingress",
      "env-pool-onprem",
    ]);
    expect(onlyResource(recorded, POOL, "env-pool-backend").inputs).toEqual({
      clusterId: "env-cluster-id",
      name: "backend",
      region: "fr-par",
      nodeType: "PRO2-M",
      size: 2,
      autoscaling: true,
      minSize: 2,
      maxSize: 6,
      autohealing: true,
      tags: ["project=iot"],
    });
    expect(onlyResource(recorded, POOL, "env-pool-onprem").inputs).toEqual({
      clusterId: "env-cluster-id",
      name: "onprem",
      region: "fr-par",
      nodeType: "external",
      size: 0,
      minSize: 0,
      tags: ["project=iot"],
    });
    expect(Object.keys(component.pools)).toEqual(["ingress", "backend", "onprem"]);
  });

  it("builds the Kubernetes provider from the kubeconfig, kept secret", async () => {
    const component = createCluster();
    await settle();
    const provider = onlyResource(recorded, PROVIDER, "env-k8s");
    expect(isSecretInput(provider.inputs.kubeconfig)).toBe(true);
    expect(await isSecret(component.kubeconfig)).toBe(true);
    expect(await valueOf(component.kubeconfig)).toContain("admin kubeconfig of env-cluster");
    expect(await valueOf(component.apiServerUrl)).toBe("https://env-cluster.api.k8s.fr-par.scw.cloud:6443");
    expect(await valueOf(component.clusterId)).toBe("env-cluster-id");
    for (const resource of recorded) {
      for (const { path, text } of plainStrings(resource.inputs)) {
        expect(`${resource.name}.${path}: ${text}`).not.toMatch(/admin kubeconfig|admin-token/);
      }
    }
  });

  it("protects the cluster when asked to", async () => {
    const component = createCluster({}, true);
    await settle();
    const internals = component as unknown as { __protect?: boolean };
    expect(internals.__protect).toBe(true);
  });
});
