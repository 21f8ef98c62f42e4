import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { countByType, previewStack, stepsOfType, valueAt, type OfflinePreview } from "./support/offline-preview";

const repoRoot = path.resolve(__dirname, "../..");

/** A stack's config as committed in Pulumi.<stack>.yaml, keyed like `iot-udp-ingress:gateway`. */
function stackConfig(stack: string): Record<string, unknown> {
  const file = parse(readFileSync(path.join(repoRoot, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
  return file.config;
}

// Resources both stacks plan, by type token; prod differs in the pool count only.
const commonPlan: Record<string, number> = {
  "iot-udp-ingress:index:DecoderDeployment": 1,
  "iot-udp-ingress:index:DecoderService": 1,
  "iot-udp-ingress:index:EnvoyUdpIngress": 1,
  "iot-udp-ingress:index:KosmosCluster": 1,
  "iot-udp-ingress:index:WireguardGateway": 1,
  "kubernetes:apps/v1:DaemonSet": 1,
  "kubernetes:apps/v1:Deployment": 1,
  "kubernetes:core/v1:ConfigMap": 2,
  "kubernetes:core/v1:Namespace": 2,
  "kubernetes:core/v1:Secret": 1,
  "kubernetes:core/v1:Service": 1,
  "kubernetes:core/v1:ServiceAccount": 2,
  "kubernetes:kilo.squat.ai/v1alpha1:Peer": 1,
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1,
  "kubernetes:policy/v1:PodDisruptionBudget": 1,
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": 1,
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": 1,
  "kubernetes:rbac.authorization.k8s.io/v1:Role": 3,
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 3,
  "kubernetes:scheduling.k8s.io/v1:PriorityClass": 1,
  "pulumi:providers:kubernetes": 1,
  "pulumi:pulumi:Stack": 1,
  "random:index/randomBytes:RandomBytes": 2,
  "scaleway:instance/ip:Ip": 1,
  "scaleway:instance/securityGroup:SecurityGroup": 1,
  "scaleway:instance/server:Server": 1,
  "scaleway:kubernetes/cluster:Cluster": 1,
};

const expectedPlans: Record<string, Record<string, number>> = {
  // The ingress pool only.
  preview: { ...commonPlan, "scaleway:kubernetes/pool:Pool": 1 },
  // The ingress pool and two general pools.
  prod: { ...commonPlan, "scaleway:kubernetes/pool:Pool": 3 },
};

const stacks = Object.keys(expectedPlans);
const previews = new Map<string, OfflinePreview>();
let treeBefore = "";
let treeAfter = "";

/** `git status` of the whole tree, untracked files included (ignored ones, like .pulumi-local, not). */
function gitStatus(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: repoRoot }, (error, out) =>
      error ? reject(error) : resolve(out),
    );
  });
}

beforeAll(async () => {
  treeBefore = await gitStatus();
  // One after the other: each preview starts the engine and three provider plugins.
  for (const stack of stacks) {
    previews.set(stack, await previewStack(stack));
  }
  treeAfter = await gitStatus();
});

function previewOf(stack: string): OfflinePreview {
  const preview = previews.get(stack);
  if (preview === undefined) {
    throw new Error(`no preview of stack ${stack}`);
  }
  return preview;
}

function onlyInputs(stack: string, type: string): Record<string, unknown> {
  const steps = stepsOfType(previewOf(stack).plan, type);
  expect(steps).toHaveLength(1);
  const inputs = steps[0].newState?.inputs;
  if (inputs === undefined) {
    throw new Error(`${type} has no inputs in the plan of ${stack}`);
  }
  return inputs;
}

describe.each(stacks)("offline plan of stack %s", (stack) => {
  const config = stackConfig(stack);

  it("creates exactly the expected resources per type, and nothing else", () => {
    const { plan } = previewOf(stack);
    expect(countByType(plan)).toEqual(expectedPlans[stack]);
    const total = Object.values(expectedPlans[stack]).reduce((sum, n) => sum + n, 0);
    expect(plan.changeSummary).toEqual({ create: total });
    expect(plan.steps.every((step) => step.op === "create")).toBe(true);
  });

  it("plans without errors and without a single Scaleway API request", () => {
    const { plan, scalewayApiRequests } = previewOf(stack);
    expect((plan.diagnostics ?? []).filter((d) => d.severity === "error")).toEqual([]);
    expect(scalewayApiRequests).toEqual([]);
  });

  it("plans the gateway as a Kilo Peer routing the tunnel address and the device subnets", () => {
    const inputs = onlyInputs(stack, "kubernetes:kilo.squat.ai/v1alpha1:Peer");
    const tunnel = valueAt(config["iot-udp-ingress:gateway"], "tunnelAddress");
    const subnets = valueAt(config["iot-udp-ingress:devices"], "subnets") as string[];
    expect(valueAt(inputs, "spec.allowedIPs")).toEqual([`${String(tunnel)}/32`, ...subnets]);
    expect(valueAt(inputs, "spec.persistentKeepalive")).toBeGreaterThan(0);
  });

  it("plans Envoy as a host-network DaemonSet on the ingress pool with the pinned image", () => {
    const pod = valueAt(onlyInputs(stack, "kubernetes:apps/v1:DaemonSet"), "spec.template.spec") as Record<string, unknown>;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod.nodeSelector).toEqual({ "iot-udp-ingress/role": "ingress" });
    const images = (pod.containers as { image: string }[]).map((c) => c.image);
    expect(images).toContain(valueAt(config["iot-udp-ingress:ingress"], "envoyImage"));
  });

  it("plans the decoder Service as headless, UDP on the decoder port", () => {
    const decoder = config["iot-udp-ingress:decoder"];
    const inputs = onlyInputs(stack, "kubernetes:core/v1:Service");
    expect(valueAt(inputs, "metadata.name")).toBe(valueAt(decoder, "name"));
    expect(valueAt(inputs, "spec.clusterIP")).toBe("None");
    expect(valueAt(inputs, "spec.ports")).toEqual([
      { name: "udp", port: valueAt(decoder, "port"), protocol: "UDP", targetPort: "udp" },
    ]);
  });

  it("shows secrets as secret: cluster kubeconfig, gateway cloud-init, generated keys, the token Secret", () => {
    const { plan } = previewOf(stack);
    expect(onlyInputs(stack, "pulumi:providers:kubernetes").kubeconfig).toBe("[secret]");
    expect(valueAt(onlyInputs(stack, "scaleway:instance/server:Server"), "userData.cloud-init")).toBe("[secret]");
    for (const key of stepsOfType(plan, "random:index/randomBytes:RandomBytes")) {
      expect((key.newState as { additionalSecretOutputs?: string[] }).additionalSecretOutputs).toEqual(
        expect.arrayContaining(["base64", "hex"]),
      );
    }
    const token = stepsOfType(plan, "kubernetes:core/v1:Secret")[0];
    expect((token.newState as { additionalSecretOutputs?: string[] }).additionalSecretOutputs).toEqual(
      expect.arrayContaining(["data", "stringData"]),
    );
  });
});

describe("scripts/preview.sh", () => {
  it("refuses a stack that has no Pulumi.<stack>.yaml", async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile("bash", [path.join(repoRoot, "scripts/preview.sh"), "no-such-stack"], { cwd: repoRoot }, (error, _out, stderr) =>
        resolve({ code: error === null ? 0 : (error.code as number | null), stderr }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no stack config");
  });

  it("leaves the working tree as it found it (no salt written into Pulumi.<stack>.yaml)", () => {
    expect(treeAfter).toBe(treeBefore);
  });
});
