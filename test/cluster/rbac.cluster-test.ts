import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderTokenKubeconfig } from "../../infra/kubernetes";
import { apply, clusterEnv, eventually, getJson, kubectl, report } from "./support/cluster";
import { WIRING, componentKubernetesObjects, ofKinds, onlyObject, type ComponentObject } from "./support/component-objects";

// RBAC by the real authorizer (RBAC + Node): the gateway's and the EDS sidecar's ServiceAccounts, Roles and bindings
// exactly as WireguardGateway and EnvoyUdpIngress declare them, then `kubectl auth can-i --as` for what each client
// does (allowed) and what it must never do (denied).

const INGRESS = WIRING.ingressNamespace;
const DECODER = WIRING.decoderNamespace;
const RBAC_KINDS = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];

let objects: ComponentObject[];
let gatewaySa: { name: string; namespace: string };
let sidecarSa: { name: string; namespace: string };

beforeAll(async () => {
  objects = await componentKubernetesObjects();
  const gateway = onlyObject(objects, "ServiceAccount", /-gateway-sa$/);
  const sidecar = onlyObject(objects, "ServiceAccount", /-envoy-sa$/);
  gatewaySa = { name: gateway.metadata.name, namespace: gateway.metadata.namespace! };
  sidecarSa = { name: sidecar.metadata.name, namespace: sidecar.metadata.namespace! };
  // The decoder namespace comes from DecoderService, which these components do not include.
  const decoderNamespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: DECODER } };
  const namespaces = [decoderNamespace, ...ofKinds(objects, "Namespace").map((entry) => entry.object)];
  const rest = ofKinds(objects, ...RBAC_KINDS.slice(1)).map((entry) => entry.object);
  const applied = await apply([...namespaces, ...rest]);
  if (applied.code !== 0) throw new Error(`applying the components' RBAC failed: ${applied.stderr}`);
});

afterAll(async () => {
  const cleanup = ofKinds(objects ?? [], ...RBAC_KINDS.slice(1), "Secret").map((entry) => entry.object);
  await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: cleanup }));
});

/** One `kubectl auth can-i` question: verb, resource (with subresource or name), namespace (undefined: cluster scope). */
interface Question {
  who: string;
  verb: string;
  resource: string;
  namespace?: string;
  subresource?: string;
  why: string;
}

/** Asks the API server as the ServiceAccount (user and groups exactly as its token authenticates). */
async function canI(sa: { name: string; namespace: string }, question: Question): Promise<boolean> {
  const args = [
    "auth",
    "can-i",
    question.verb,
    question.resource,
    `--as=system:serviceaccount:${sa.namespace}:${sa.name}`,
    "--as-group=system:serviceaccounts",
    `--as-group=system:serviceaccounts:${sa.namespace}`,
    "--as-group=system:authenticated",
  ];
  if (question.namespace === "*") args.push("--all-namespaces");
  else if (question.namespace !== undefined) args.push("--namespace", question.namespace);
  if (question.subresource) args.push(`--subresource=${question.subresource}`);
  const result = await kubectl(args);
  const answer = result.stdout.trim();
  // can-i exits 1 on "no"; anything else than yes/no (an unknown resource, a server error) is a test failure.
  if (answer !== "yes" && answer !== "no") throw new Error(`kubectl ${args.join(" ")}: ${result.stderr.trim() || answer}`);
  return answer === "yes";
}

const q = (who: string, verb: string, resource: string, namespace: string | undefined, why: string, subresource?: string): Question => ({
  who,
  verb,
  resource,
  namespace,
  why,
  subresource,
});

// What the clients do: infra/gateway/scripts/steering-agent.sh (`kubectl get nodes`, pods in the Envoy namespace,
// endpointslices of the decoder Service), kgctl (list/watch nodes and peers, get the Peer CRD), and the EDS sidecar
// (infra/envoy/eds-sidecar/kube-api.js: list and watch endpointslices in the decoder namespace).
const GATEWAY_ALLOWED: Question[] = [
  q("steering", "list", "nodes", undefined, "kubectl get nodes"),
  q("steering", "list", "pods", INGRESS, "kubectl get pods -n <envoy ns> -l <envoy selector>"),
  q("steering", "list", "endpointslices.discovery.k8s.io", DECODER, "kubectl get endpointslices -n <decoder ns>"),
  q("kgctl", "watch", "nodes", undefined, "kgctl's node informer"),
  q("kgctl", "get", "peers.kilo.squat.ai", undefined, "kgctl showconf peer <name>"),
  q("kgctl", "list", "peers.kilo.squat.ai", undefined, "kgctl's peer informer"),
  q("kgctl", "watch", "peers.kilo.squat.ai", undefined, "kgctl's peer informer"),
  q("kgctl", "get", "customresourcedefinitions.apiextensions.k8s.io/peers.kilo.squat.ai", undefined, "kgctl checks the Peer CRD"),
  q("gateway", "watch", "pods", INGRESS, "granted read of Envoy pods"),
  q("gateway", "watch", "endpointslices.discovery.k8s.io", DECODER, "granted read of decoder slices"),
];

const GATEWAY_DENIED: Question[] = [
  q("gateway", "get", "secrets", INGRESS, "read Secrets (its own token's namespace)"),
  q("gateway", "list", "secrets", INGRESS, "read Secrets"),
  q("gateway", "get", "secrets", DECODER, "read Secrets"),
  q("gateway", "list", "secrets", "kube-system", "read Secrets"),
  q("gateway", "create", "pods", INGRESS, "exec into Envoy", "exec"),
  q("gateway", "create", "pods", INGRESS, "attach to Envoy", "attach"),
  q("gateway", "get", "pods", INGRESS, "read Envoy logs", "log"),
  q("gateway", "get", "nodes", undefined, "the kubelet API through the node proxy", "proxy"),
  q("gateway", "patch", "nodes", undefined, "write nodes (Kilo's annotations)"),
  q("gateway", "delete", "nodes", undefined, "write nodes"),
  q("gateway", "create", "peers.kilo.squat.ai", undefined, "write Peers (kgctl connect would)"),
  q("gateway", "update", "peers.kilo.squat.ai", undefined, "write Peers"),
  q("gateway", "delete", "peers.kilo.squat.ai", undefined, "write Peers"),
  q("gateway", "create", "pods", INGRESS, "write pods"),
  q("gateway", "delete", "pods", INGRESS, "write pods"),
  q("gateway", "create", "endpointslices.discovery.k8s.io", DECODER, "write endpointslices"),
  q("gateway", "patch", "endpointslices.discovery.k8s.io", DECODER, "write endpointslices"),
  q("gateway", "list", "pods", DECODER, "pods in another namespace"),
  q("gateway", "list", "pods", "kube-system", "pods in another namespace"),
  q("gateway", "list", "pods", "*", "pods in every namespace"),
  q("gateway", "list", "endpointslices.discovery.k8s.io", INGRESS, "slices in another namespace"),
  q("gateway", "list", "endpointslices.discovery.k8s.io", "kube-system", "slices in another namespace"),
  q("gateway", "get", "configmaps", INGRESS, "read Envoy's config"),
  q("gateway", "list", "customresourcedefinitions.apiextensions.k8s.io", undefined, "list every CRD"),
  q("gateway", "get", "customresourcedefinitions.apiextensions.k8s.io/stages.kwok.x-k8s.io", undefined, "get another CRD"),
  q("gateway", "create", "serviceaccounts", INGRESS, "mint tokens", "token"),
  q("gateway", "create", "rolebindings.rbac.authorization.k8s.io", INGRESS, "grant itself more"),
  q("gateway", "impersonate", "serviceaccounts", INGRESS, "impersonate"),
];

const SIDECAR_ALLOWED: Question[] = [
  q("eds-sidecar", "list", "endpointslices.discovery.k8s.io", DECODER, "list of the decoder's slices"),
  q("eds-sidecar", "watch", "endpointslices.discovery.k8s.io", DECODER, "watch of the decoder's slices"),
];

const SIDECAR_DENIED: Question[] = [
  q("eds-sidecar", "get", "secrets", INGRESS, "read Secrets"),
  q("eds-sidecar", "list", "secrets", DECODER, "read Secrets"),
  q("eds-sidecar", "create", "pods", DECODER, "exec into decoders", "exec"),
  q("eds-sidecar", "create", "endpointslices.discovery.k8s.io", DECODER, "write endpointslices"),
  q("eds-sidecar", "delete", "endpointslices.discovery.k8s.io", DECODER, "write endpointslices"),
  q("eds-sidecar", "list", "endpointslices.discovery.k8s.io", INGRESS, "slices in another namespace"),
  q("eds-sidecar", "list", "endpointslices.discovery.k8s.io", "kube-system", "slices in another namespace"),
  q("eds-sidecar", "list", "endpointslices.discovery.k8s.io", "*", "slices in every namespace"),
  q("eds-sidecar", "list", "pods", DECODER, "pods"),
  q("eds-sidecar", "list", "nodes", undefined, "nodes"),
  q("eds-sidecar", "list", "peers.kilo.squat.ai", undefined, "Peers"),
];

async function table(sa: () => { name: string; namespace: string }, questions: Question[], expected: boolean, title: string) {
  const rows = [];
  for (const question of questions) {
    const allowed = await canI(sa(), question);
    rows.push({
      client: question.who,
      verb: question.verb,
      resource: question.subresource ? `${question.resource}/${question.subresource}` : question.resource,
      namespace: question.namespace ?? "(cluster)",
      answer: allowed ? "yes" : "no",
      for: question.why,
    });
  }
  report(`${title} (system:serviceaccount:${sa().namespace}:${sa().name})`, rows);
  expect(rows.filter((row) => (row.answer === "yes") !== expected)).toEqual([]);
}

describe("RBAC of the gateway and the EDS sidecar, by the real authorizer", () => {
  it("applies every ServiceAccount, Role and binding the components declare", () => {
    const names = ofKinds(objects, ...RBAC_KINDS.slice(1)).map(({ object }) => `${object.kind} ${object.metadata.namespace ?? "-"}/${object.metadata.name}`);
    report("applied", names.map((name) => ({ object: name })));
    expect(names.sort()).toEqual(
      [
        `ServiceAccount ${INGRESS}/${gatewaySa.name}`,
        `ServiceAccount ${INGRESS}/${sidecarSa.name}`,
        `ClusterRole -/${gatewaySa.name}`,
        `ClusterRoleBinding -/${gatewaySa.name}`,
        `Role ${INGRESS}/${gatewaySa.name}`,
        `Role ${DECODER}/${gatewaySa.name}`,
        `RoleBinding ${INGRESS}/${gatewaySa.name}`,
        `RoleBinding ${DECODER}/${gatewaySa.name}`,
        `Role ${DECODER}/envoy-udp-ingress-endpointslices`,
        `RoleBinding ${DECODER}/envoy-udp-ingress-endpointslices`,
      ].sort(),
    );
  });

  it("allows the gateway everything the steering agent and kgctl do", () => table(() => gatewaySa, GATEWAY_ALLOWED, true, "gateway: allowed"));
  it("denies the gateway Secrets, exec, writes and other namespaces", () => table(() => gatewaySa, GATEWAY_DENIED, false, "gateway: denied"));
  it("allows the EDS sidecar to list and watch the decoder's EndpointSlices", () => table(() => sidecarSa, SIDECAR_ALLOWED, true, "EDS sidecar: allowed"));
  it("denies the EDS sidecar everything else", () => table(() => sidecarSa, SIDECAR_DENIED, false, "EDS sidecar: denied"));

  it("gives the gateway a working token: the controller fills its token Secret and the gateway's kubeconfig authenticates as its ServiceAccount", async () => {
    const secret = onlyObject(objects, "Secret", /-gateway-token$/);
    expect((await apply([secret])).stderr).toBe("");
    const { value: token, ms } = await eventually("the token controller to fill the gateway's token Secret", async () => {
      const data = (await getJson(["-n", secret.metadata.namespace!, "get", "secret", secret.metadata.name])).data;
      return data?.token ? Buffer.from(data.token, "base64").toString("utf8") : undefined;
    });
    const env = clusterEnv();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gateway-kubeconfig-")), "kubeconfig");
    fs.writeFileSync(
      file,
      renderTokenKubeconfig({
        clusterName: "local",
        server: env.server,
        caCertificate: fs.readFileSync(env.caFile).toString("base64"),
        token,
        user: `${WIRING.gatewayName}-gateway`,
      }),
      { mode: 0o600 },
    );
    const whoami = JSON.parse((await kubectl(["--kubeconfig", file, "auth", "whoami", "-o", "json"])).stdout);
    const nodes = await kubectl(["--kubeconfig", file, "get", "nodes", "-o", "name"]);
    const secrets = await kubectl(["--kubeconfig", file, "-n", INGRESS, "get", "secrets"]);
    report("gateway kubeconfig (token from the token Secret)", [
      { check: "auth whoami", result: whoami.status.userInfo.username, tokenAfterMs: ms },
      { check: "get nodes", result: `exit ${nodes.code}, ${nodes.stdout.trim().split("\n").length} nodes` },
      { check: `get secrets -n ${INGRESS}`, result: `exit ${secrets.code}: ${secrets.stderr.trim()}` },
    ]);
    expect(whoami.status.userInfo.username).toBe(`system:serviceaccount:${gatewaySa.namespace}:${gatewaySa.name}`);
    expect(whoami.status.userInfo.groups).toEqual(["system:serviceaccounts", `system:serviceaccounts:${gatewaySa.namespace}`, "system:authenticated"]);
    expect(nodes.code).toBe(0);
    expect(nodes.stdout.trim().split("\n").length).toBe((await getJson(["get", "nodes"])).items.length);
    expect(secrets.code).toBe(1);
    expect(secrets.stderr).toContain(
      `User "system:serviceaccount:${gatewaySa.namespace}:${gatewaySa.name}" cannot list resource "secrets" in API group "" in the namespace "${INGRESS}"`,
    );
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});
