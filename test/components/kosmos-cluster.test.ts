import * as pulumi from "@pulumi/pulumi";
import { execFile } from "node:child_process";
import * as path from "node:path";
import {
  isSecret,
  isSecretInput,
  onlyResource,
  plainStrings,
  recordResources,
  resourcesOfType,
  settle,
  unwrapSecret,
  valueOf,
  type RecordedResource,
} from "../support/pulumi-mocks";

const CLUSTER = "scaleway:kubernetes/cluster:Cluster";
const POOL = "scaleway:kubernetes/pool:Pool";
const PROVIDER = "pulumi:providers:kubernetes";

let recorded: RecordedResource[];
import { inputErrorsOf } from "../support/input-errors";

let components: typeof import("../../components");

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
});

beforeEach(() => recorded.splice(0));

/** The `dependsOn` each child was created with, by resource name (mocks do not see options; transformations do). */
let dependsOnByName: Map<string, pulumi.Resource[]>;

function createCluster(extra: Partial<import("../../components").KosmosClusterArgs> = {}, protect?: boolean) {
  dependsOnByName = new Map();
  const recordDependsOn: pulumi.ResourceTransformation = (args) => {
    const dependsOn = args.opts.dependsOn;
    dependsOnByName.set(args.name, dependsOn === undefined ? [] : ([] as pulumi.Resource[]).concat(dependsOn as pulumi.Resource | pulumi.Resource[]));
    return undefined;
  };
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
    { ...(protect === undefined ? {} : { protect }), transformations: [recordDependsOn] },
  );
}

/** The names of the resources a child was told to depend on. */
function dependsOnNames(resourceName: string): string[] {
  const dependsOn = dependsOnByName.get(resourceName);
  if (dependsOn === undefined) throw new Error(`no resource named ${resourceName} was created`);
  return dependsOn.map((resource) => (resource as unknown as { __name: string }).__name).sort();
}

/** Runs support/cluster-kubeconfig-program.ts with one kubeconfig case in a fresh Node process. */
function runClusterProgram(kubeconfigCase: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const program = path.join(__dirname, "support", "cluster-kubeconfig-program.ts");
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [require.resolve("tsx/cli"), program, kubeconfigCase],
      { cwd: path.resolve(__dirname, "../.."), env: { ...process.env, KUBECONFIG: "/nonexistent/ambient-kubeconfig" }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
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
      externalPools: [{ name: "onprem" }, { name: "edge", maxSize: 5 }],
    });
    await settle();
    expect(onlyResource(recorded, CLUSTER).inputs.type).toBe("multicloud-dedicated-8");
    expect(resourcesOfType(recorded, POOL).map((pool) => pool.name).sort()).toEqual([
      "env-pool-backend",
      "env-pool-edge",
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
    // An unset max_size becomes the size (0), which the provider rejects at create time (pool.go, validatePoolSize).
    expect(onlyResource(recorded, POOL, "env-pool-onprem").inputs).toEqual({
      clusterId: "env-cluster-id",
      name: "onprem",
      region: "fr-par",
      nodeType: "external",
      size: 0,
      minSize: 0,
      maxSize: 1,
      tags: ["project=iot"],
    });
    expect(onlyResource(recorded, POOL, "env-pool-edge").inputs).toMatchObject({ nodeType: "external", size: 0, minSize: 0, maxSize: 5 });
    expect(Object.keys(component.pools)).toEqual(["ingress", "backend", "onprem", "edge"]);
  });

  it("creates external pools only after the pools with nodes", async () => {
    const component = createCluster({
      generalPools: [{ name: "system", nodeType: "PLAY2-NANO", size: 1 }],
      externalPools: [{ name: "onprem" }],
    });
    await settle();
    // A size-0 pool of a mutualized cluster is rejected unless another pool already has nodes (validatePoolSize).
    expect(dependsOnNames("env-pool-onprem")).toEqual(["env-pool-ingress", "env-pool-system"]);
    expect(dependsOnNames("env-pool-ingress")).toEqual([]);
    expect(dependsOnNames("env-pool-system")).toEqual([]);
    expect(Object.keys(component.pools)).toEqual(["ingress", "system", "onprem"]);
  });

  /** The `propertyPath: reason` lines of the InputPropertiesError creating the cluster throws. */
  const argProblems = (extra: Partial<import("../../components").KosmosClusterArgs>): string[] => inputErrorsOf(() => createCluster(extra)).errors;

  it.each([0, -1, 1.5])("rejects an external pool with maxSize %p, naming the property", (maxSize) => {
    expect(argProblems({ externalPools: [{ name: "ok" }, { name: "onprem", maxSize }] })).toEqual([
      `externalPools[1].maxSize: must be a whole number >= 1 (got ${maxSize}): the Scaleway provider rejects an external pool whose max size is below 1`,
    ]);
  });

  it("reports the address plan, the upgrade policy and pool names at once, at their property paths", () => {
    expect(
      argProblems({
        kubernetesVersion: "1.34.2",
        autoUpgrade: { enabled: true },
        podCidr: "10.0.0.0/8",
        serviceCidr: "10.32.0.0/20",
        generalPools: [{ name: "ingress", nodeType: "PRO2-S", size: 1, minSize: 3, maxSize: 2 }],
      }),
    ).toEqual([
      "serviceCidr: 10.32.0.0/20 overlaps the pod CIDR (10.0.0.0/8)",
      "podCidr: 10.0.0.0/8 overlaps the Kilo subnet 10.4.0.0/16",
      "kubernetesVersion: with autoUpgrade.enabled the version must be a minor version x.y, not 1.34.2",
      "generalPools[0].minSize: must not exceed maxSize",
      'generalPools[0].name: pool name "ingress" is used twice',
    ]);
  });

  it("skips the rules on values that are Pulumi outputs (Scaleway checks those)", async () => {
    expect(argProblems({ podCidr: pulumi.output("10.0.0.0/8") })).toEqual([]);
    await settle();
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

  it("gives the Kubernetes provider exactly the cluster's kubeconfig, never an empty one", async () => {
    createCluster();
    await settle();
    const provider = onlyResource(recorded, PROVIDER, "env-k8s");
    expect(unwrapSecret(provider.inputs.kubeconfig)).toBe("apiVersion: v1\nkind: Config\n# admin kubeconfig of env-cluster\n");
  });

  // In its own process: the failure must end the program (as it ends `pulumi up`), which jest cannot observe in-process.
  it.each(["none", "blank"])(
    "fails loudly when Scaleway returns kubeconfig case %p, instead of falling back to the ambient one",
    async (kubeconfigCase) => {
      const run = await runClusterProgram(kubeconfigCase);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(
        "KosmosCluster: Scaleway returned no kubeconfig for env-cluster; refusing to build a Kubernetes provider that " +
          "would fall back to the ambient kubeconfig ($KUBECONFIG or ~/.kube/config)",
      );
      // The provider was never registered, so no plan could use an ambient kubeconfig.
      expect(run.stdout).not.toContain("providerKubeconfigs");
    },
    120_000,
  );

  it("registers the provider with the cluster's kubeconfig in the same harness (control case)", async () => {
    const run = await runClusterProgram("present");
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as { providerKubeconfigs: unknown[] };
    expect(printed.providerKubeconfigs.map(unwrapSecret)).toEqual(["apiVersion: v1\nkind: Config\n# admin kubeconfig\n"]);
    expect(printed.providerKubeconfigs.every(isSecretInput)).toBe(true);
  }, 120_000);

  it("protects the cluster when asked to", async () => {
    const component = createCluster({}, true);
    await settle();
    const internals = component as unknown as { __protect?: boolean };
    expect(internals.__protect).toBe(true);
  });
});
