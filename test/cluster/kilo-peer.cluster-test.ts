import { kiloPeerProblems } from "../support/kilo-peer-schema";
import { kubectl, kubectlOk, getJson, report } from "./support/cluster";
import { componentKubernetesObjects, onlyObject, type KubernetesObject } from "./support/component-objects";

// Kilo's Peer CRD as installed by tools/kubernetes/local-cluster.sh (tools/kubernetes/manifests/kilo-peer-crd.yaml,
// Kilo's own schema). The API server checks types, required fields and unknown fields; Peer.Validate() (CIDRs, key
// length, ports) runs only in Kilo's optional webhook, so the API server must accept what it does not cover.

let peer: KubernetesObject;

beforeAll(async () => {
  peer = onlyObject(await componentKubernetesObjects(), "Peer", /-peer$/);
});

afterAll(async () => {
  await kubectl(["delete", "peer", peer.metadata.name, "--ignore-not-found", "--wait=false"]);
});

/** A copy of the gateway's Peer with a change to its spec, under another name. */
function variant(name: string, change: (spec: Record<string, any>) => void): KubernetesObject {
  const copy = JSON.parse(JSON.stringify(peer)) as KubernetesObject;
  copy.metadata = { ...copy.metadata, name: `${peer.metadata.name}-${name}` };
  change(copy.spec as Record<string, any>);
  return copy;
}

/** Server-side dry-run create: the API server's full admission and validation, nothing stored. */
function dryRunCreate(object: KubernetesObject) {
  return kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], JSON.stringify(object));
}

describe("Kilo Peer CRD (peers.kilo.squat.ai) on the real API server", () => {
  it("is installed cluster scoped with the v1alpha1 schema Kilo ships", async () => {
    const crd = await getJson(["get", "customresourcedefinition", "peers.kilo.squat.ai"]);
    const established = crd.status.conditions.find((condition: any) => condition.type === "Established");
    report("Peer CRD", [{ scope: crd.spec.scope, versions: crd.spec.versions.map((v: any) => v.name).join(","), established: established?.status }]);
    expect(crd.spec.scope).toBe("Cluster");
    expect(crd.spec.versions.map((version: any) => [version.name, version.served, version.storage])).toEqual([["v1alpha1", true, true]]);
    expect(established?.status).toBe("True");
    const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec;
    expect(spec.required).toEqual(["allowedIPs", "publicKey"]);
    expect(spec.properties.endpoint.required).toEqual(["dnsOrIP", "port"]);
  });

  it("accepts the Peer WireguardGateway creates and stores its spec unchanged", async () => {
    expect(kiloPeerProblems(peer)).toEqual([]);
    const created = await kubectl(["create", "-f", "-", "-o", "json"], JSON.stringify(peer));
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: "" });
    const stored = await getJson(["get", "peer", peer.metadata.name]);
    report("gateway Peer as stored", [{ name: stored.metadata.name, spec: stored.spec }]);
    expect(stored.spec).toEqual(peer.spec);
    expect(stored.metadata.namespace).toBeUndefined();
    // kgctl and the steering agent read it back through the same API.
    expect(await kubectlOk(["get", "peers", "-o", "jsonpath={.items[*].metadata.name}"])).toContain(peer.metadata.name);
  });

  // Each row: a broken field, and the API server's message (kubectl validates strictly, so unknown fields fail too).
  const rejected: Array<[string, (spec: Record<string, any>) => void, RegExp]> = [
    ["no-key", (spec) => delete spec.publicKey, /spec\.publicKey: Required value/],
    ["no-allowed-ips", (spec) => delete spec.allowedIPs, /spec\.allowedIPs: Required value/],
    ["allowed-ips-string", (spec) => (spec.allowedIPs = "10.5.0.1/32"), /spec\.allowedIPs: Invalid value: "string": spec\.allowedIPs in body must be of type array/],
    ["allowed-ip-number", (spec) => (spec.allowedIPs = [167051521]), /spec\.allowedIPs\[0\]: Invalid value: "integer": spec\.allowedIPs\[0\] in body must be of type string/],
    ["key-number", (spec) => (spec.publicKey = 42), /spec\.publicKey: Invalid value: "integer": spec\.publicKey in body must be of type string/],
    ["port-string", (spec) => (spec.endpoint.port = "51820"), /spec\.endpoint\.port: Invalid value: "string": spec\.endpoint\.port in body must be of type integer/],
    ["no-port", (spec) => delete spec.endpoint.port, /spec\.endpoint\.port: Required value/],
    ["no-dns-or-ip", (spec) => delete spec.endpoint.dnsOrIP, /spec\.endpoint\.dnsOrIP: Required value/],
    ["old-endpoint-shape", (spec) => (spec.endpoint = { ip: "51.15.0.10", port: 51820 }), /unknown field "spec\.endpoint\.ip"/],
    ["keepalive-string", (spec) => (spec.persistentKeepalive = "25s"), /spec\.persistentKeepalive: Invalid value: "string": spec\.persistentKeepalive in body must be of type integer/],
    ["typo-field", (spec) => ((spec.allowedIps = spec.allowedIPs), delete spec.allowedIPs), /unknown field "spec\.allowedIps"/],
  ];

  it("rejects a Peer with a missing, mistyped or unknown field", async () => {
    const rows = [];
    for (const [name, change, message] of rejected) {
      const result = await dryRunCreate(variant(name, change));
      rows.push({ variant: name, exit: result.code, message: result.stderr.trim().replace(/\s+/g, " ").slice(0, 150) });
      expect({ variant: name, rejected: result.code !== 0 }).toEqual({ variant: name, rejected: true });
      expect(result.stderr).toMatch(message);
    }
    report("Peers the API server rejects", rows);
  });

  // What Kilo's types do not declare, the API server accepts: only the webhook would stop these, and without it Kilo
  // ignores the Peer. The stack's own check (test/support/kilo-peer-schema.ts) must therefore catch them.
  const acceptedButInvalid: Array<[string, (spec: Record<string, any>) => void, string]> = [
    ["bare-ip", (spec) => (spec.allowedIPs = ["10.5.0.1"]), "spec.allowedIPs[0]: 10.5.0.1 is not in CIDR form"],
    ["short-key", (spec) => (spec.publicKey = "bm90LWEta2V5"), "spec.publicKey must be base64 of exactly 32 bytes"],
    ["port-zero", (spec) => (spec.endpoint.port = 0), "spec.endpoint.port must be in 1-65535"],
    ["negative-keepalive", (spec) => (spec.persistentKeepalive = -1), "spec.persistentKeepalive must be a non-negative integer"],
  ];

  it("accepts what only Kilo's webhook would reject, which the stack's own Peer check flags", async () => {
    const rows = [];
    for (const [name, change, problem] of acceptedButInvalid) {
      const object = variant(name, change);
      const result = await dryRunCreate(object);
      rows.push({ variant: name, apiServer: result.code === 0 ? "accepted" : `rejected: ${result.stderr.trim()}`, stackCheck: kiloPeerProblems(object).join("; ") });
      expect({ variant: name, code: result.code, stderr: result.stderr }).toEqual({ variant: name, code: 0, stderr: "" });
      expect(kiloPeerProblems(object)).toEqual([problem]);
    }
    report("Peers the API server accepts although Kilo would ignore them", rows);
  });
});
