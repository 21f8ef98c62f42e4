import { apply, createNamespace, eventually, getJson, ipv4InCidr, kubectl, nodeSpecs, report, type NodeSpec } from "./support/cluster";

// The nodes local-cluster.sh creates, shaped like the stack's pools, as kwok reports them Ready.

const ROLE = "iot-udp-ingress/role";
const NAMESPACE = "cluster-test-nodes";
let specs: NodeSpec[];
let nodes: any[];

beforeAll(async () => {
  specs = nodeSpecs();
  nodes = (await getJson(["get", "nodes"])).items;
});

afterAll(async () => {
  await kubectl(["delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"]);
});

function node(name: string): any {
  const found = nodes.find((candidate) => candidate.metadata.name === name);
  if (!found) throw new Error(`node ${name} does not exist`);
  return found;
}

describe("local cluster nodes", () => {
  it("has exactly the nodes asked for, each Ready with its own /24 of 100.64.0.0/15", () => {
    report(
      "nodes",
      nodes.map((item) => ({
        name: item.metadata.name,
        role: item.metadata.labels[ROLE] ?? "(general)",
        taints: (item.spec.taints ?? []).map((t: any) => `${t.key}=${t.value}:${t.effect}`).join(",") || "-",
        podCIDR: item.spec.podCIDR,
        ready: item.status.conditions.find((c: any) => c.type === "Ready")?.status,
        internalIP: item.status.addresses.find((a: any) => a.type === "InternalIP")?.address,
      })),
    );
    expect(nodes.map((item) => item.metadata.name).sort()).toEqual(specs.map((spec) => spec.name).sort());
    specs.forEach((spec, index) => {
      const item = node(spec.name);
      expect(item.status.conditions.find((condition: any) => condition.type === "Ready")?.status).toBe("True");
      const cidr = `100.${64 + Math.floor(index / 256)}.${index % 256}.0/24`;
      expect([item.spec.podCIDR, item.spec.podCIDRs]).toEqual([cidr, [cidr]]);
      expect(ipv4InCidr(cidr.split("/")[0], "100.64.0.0/15")).toBe(true);
      expect(item.status.addresses).toEqual(
        expect.arrayContaining([
          { type: "InternalIP", address: spec.ip },
          { type: "Hostname", address: spec.name },
        ]),
      );
    });
    expect(new Set(nodes.map((item) => item.spec.podCIDR)).size).toBe(nodes.length);
  });

  it("labels and taints the ingress nodes iot-udp-ingress/role=ingress:NoSchedule and leaves the general nodes untainted", () => {
    const ingress = specs.filter((spec) => spec.role === "ingress");
    const general = specs.filter((spec) => spec.role === "general");
    expect(ingress.length).toBeGreaterThan(0);
    expect(general.length).toBeGreaterThan(0);
    for (const spec of ingress) {
      expect(node(spec.name).metadata.labels[ROLE]).toBe("ingress");
      expect(node(spec.name).spec.taints).toEqual([{ key: ROLE, value: "ingress", effect: "NoSchedule" }]);
    }
    for (const spec of general) {
      expect(node(spec.name).metadata.labels[ROLE]).toBeUndefined();
      expect(node(spec.name).spec.taints).toBeUndefined();
    }
    for (const spec of specs) expect(node(spec.name).metadata.labels["k8s.scaleway.com/pool-name"]).toBe(spec.pool);
  });

  it("carries the annotations Kilo writes, in Kilo's formats", () => {
    const rows = specs.map((spec, index) => {
      const annotations = node(spec.name).metadata.annotations;
      const key = annotations["kilo.squat.ai/key"];
      expect(Buffer.from(key, "base64").length).toBe(32);
      expect(Buffer.from(key, "base64").toString("base64")).toBe(key);
      expect(annotations["kilo.squat.ai/endpoint"]).toBe(`${spec.ip}:51820`);
      expect(annotations["kilo.squat.ai/wireguard-ip"]).toBe(`10.4.0.${index + 1}/16`);
      expect(annotations["kilo.squat.ai/location"]).toBe(spec.name);
      expect(annotations["kilo.squat.ai/last-seen"]).toMatch(/^[1-9][0-9]{9}$/);
      expect(annotations["kilo.squat.ai/internal-ip"]).toBe("");
      expect(annotations["kilo.squat.ai/granularity"]).toBe("location");
      return {
        node: spec.name,
        "wireguard-ip": annotations["kilo.squat.ai/wireguard-ip"],
        endpoint: annotations["kilo.squat.ai/endpoint"],
        key,
        "last-seen": annotations["kilo.squat.ai/last-seen"],
      };
    });
    report("Kilo annotations", rows);
    expect(new Set(rows.map((row) => row.key)).size).toBe(rows.length);
  });

  it("gives each pod an IP from its node's podCIDR (kwok)", async () => {
    await createNamespace(NAMESPACE);
    const pods = specs.map((spec) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `probe-${spec.name}`, namespace: NAMESPACE },
      spec: {
        nodeSelector: { "kubernetes.io/hostname": spec.name },
        tolerations: [{ key: ROLE, operator: "Equal", value: "ingress", effect: "NoSchedule" }],
        containers: [{ name: "probe", image: "registry.k8s.io/pause:3.10" }],
      },
    }));
    const applied = await apply(pods);
    expect(applied.stderr).toBe("");
    const rows = [];
    for (const spec of specs) {
      const { value: pod, ms } = await eventually(`pod probe-${spec.name} Running with an IP`, async () => {
        const item = await getJson(["-n", NAMESPACE, "get", "pod", `probe-${spec.name}`]);
        return item.status.phase === "Running" && item.status.podIP ? item : undefined;
      });
      rows.push({ pod: pod.metadata.name, node: pod.spec.nodeName, podIP: pod.status.podIP, nodeCIDR: node(spec.name).spec.podCIDR, runningAfterMs: ms });
      expect(pod.spec.nodeName).toBe(spec.name);
      expect(ipv4InCidr(pod.status.podIP, node(spec.name).spec.podCIDR)).toBe(true);
      expect(pod.status.podIPs).toEqual([{ ip: pod.status.podIP }]);
    }
    report("pod IPs", rows);
  });
});
