import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { apply, eventually, getJson, ipv4InCidr, kubectl, kubectlOk, nodeSpecs, report } from "./support/cluster";

// The add-on stand-in (tools/kubernetes/manifests/addon-standin.yaml): a Deployment without tolerations, as CoreDNS
// has none for the ingress taint. The real scheduler must put it on the untainted general pool, and leave it Pending
// when every node carries the ingress taint, as on a cluster whose only pool is the ingress pool.

const ROLE = "iot-udp-ingress/role";
const TAINT = `${ROLE}=ingress:NoSchedule`;
const STANDIN = parse(fs.readFileSync(path.resolve(__dirname, "../../tools/kubernetes/manifests/addon-standin.yaml"), "utf8"));
const PROBE = "addon-standin-probe";
const general = () => nodeSpecs().filter((spec) => spec.role === "general");

async function standinPods(name: string): Promise<any[]> {
  return (await getJson(["-n", "kube-system", "get", "pods", "-l", `app.kubernetes.io/name=${name}`])).items;
}

afterAll(async () => {
  for (const spec of general()) await kubectl(["taint", "node", spec.name, `${TAINT}-`]);
  await kubectl(["-n", "kube-system", "delete", "deployment", PROBE, "--ignore-not-found", "--wait=false"]);
});

describe("cluster add-on stand-in and the ingress taint", () => {
  it("has no toleration, like CoreDNS's for the ingress pool", () => {
    expect(STANDIN.kind).toBe("Deployment");
    expect(STANDIN.spec.template.spec.tolerations).toBeUndefined();
    expect(STANDIN.spec.template.spec.nodeSelector).toBeUndefined();
  });

  it("runs on a general (untainted) node, never on an ingress node", async () => {
    const generalNodes = general().map((spec) => spec.name);
    const { value: pods, ms } = await eventually("the add-on stand-in Running", async () => {
      const items = await standinPods("addon-standin");
      return items.length === STANDIN.spec.replicas && items.every((pod) => pod.status.phase === "Running") ? items : undefined;
    });
    const nodes = (await getJson(["get", "nodes"])).items;
    report(
      "add-on stand-in pods",
      pods.map((pod) => ({ pod: pod.metadata.name, node: pod.spec.nodeName, phase: pod.status.phase, podIP: pod.status.podIP, waitedMs: ms })),
    );
    for (const pod of pods) {
      expect(generalNodes).toContain(pod.spec.nodeName);
      const node = nodes.find((item: any) => item.metadata.name === pod.spec.nodeName);
      expect(node.spec.taints).toBeUndefined();
      expect(ipv4InCidr(pod.status.podIP, node.spec.podCIDR)).toBe(true);
    }
  });

  it("stays Pending, unschedulable because of the ingress taint, when every node carries it; and schedules once an untainted node exists", async () => {
    const nodeCount = nodeSpecs().length;
    // Every node tainted like the ingress pool: the layout of a cluster without a general pool.
    for (const spec of general()) await kubectlOk(["taint", "node", spec.name, TAINT]);
    const probe = JSON.parse(JSON.stringify(STANDIN));
    probe.metadata.name = PROBE;
    probe.metadata.labels["app.kubernetes.io/name"] = PROBE;
    probe.spec.selector.matchLabels["app.kubernetes.io/name"] = PROBE;
    probe.spec.template.metadata.labels["app.kubernetes.io/name"] = PROBE;
    expect((await apply([probe])).stderr).toBe("");

    const { value: pending, ms } = await eventually("the probe's pod marked Unschedulable", async () => {
      const [pod] = await standinPods(PROBE);
      const condition = pod?.status.conditions?.find((item: any) => item.type === "PodScheduled");
      return condition?.status === "False" ? { pod, condition } : undefined;
    });
    report("with every node tainted", [
      { pod: pending.pod.metadata.name, phase: pending.pod.status.phase, node: pending.pod.spec.nodeName ?? "-", reason: pending.condition.reason, message: pending.condition.message, afterMs: ms },
    ]);
    expect(pending.pod.status.phase).toBe("Pending");
    expect(pending.pod.spec.nodeName).toBeUndefined();
    expect(pending.condition.reason).toBe("Unschedulable");
    // The scheduler (1.37) no longer names the taint; the taint it means is the only one any node carries.
    expect(pending.condition.message).toMatch(new RegExp(`^0/${nodeCount} nodes are available: ${nodeCount} node\\(s\\) had untolerated taint\\(s\\)\\.`));
    const taints = (await getJson(["get", "nodes"])).items.map((node: any) => [node.metadata.name, node.spec.taints]);
    expect(taints).toEqual(nodeSpecs().map((spec) => [spec.name, [{ key: ROLE, value: "ingress", effect: "NoSchedule" }]]).sort());

    // The same Deployment schedules as soon as the general pool is untainted again.
    for (const spec of general()) await kubectlOk(["taint", "node", spec.name, `${TAINT}-`]);
    const { value: scheduled, ms: scheduledMs } = await eventually("the probe's pod Running after the taint is removed", async () => {
      const [pod] = await standinPods(PROBE);
      return pod?.status.phase === "Running" ? pod : undefined;
    });
    report("after the general node is untainted", [{ pod: scheduled.metadata.name, node: scheduled.spec.nodeName, phase: scheduled.status.phase, afterMs: scheduledMs }]);
    expect(general().map((spec) => spec.name)).toContain(scheduled.spec.nodeName);
  });
});
