import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EDS_SIDECAR_ENV, EDS_SIDECAR_MAIN, renderEdsFile, type EdsDiscoveryResponse, type EndpointSlice } from "../../infra/envoy";
import { clusterEnv, eventually, getJson, kubectlOk, report } from "./support/cluster";
import { WIRING, onlyObject, type KubernetesObject } from "./support/component-objects";
import {
  DECODER_APP,
  DECODER_PORT,
  DECODER_SELECTOR,
  applyObjects,
  deleteWorkloads,
  endpointSliceRequestCounts,
  podsOf,
  setPodReady,
  stackWorkloads,
  type PodView,
  type StackWorkloads,
} from "./support/steering";

/*
 * The EDS sidecar (infra/envoy/eds-sidecar/, the files EnvoyUdpIngress puts in its ConfigMap, run with node as the
 * native sidecar container runs them, with the environment the DaemonSet gives it) against the real API server, with a
 * token of the Envoy ServiceAccount minted by the TokenRequest API as the kubelet mints the projected one, and the RBAC
 * of EnvoyUdpIngress. The decoder pods (DecoderDeployment, made Running and Ready by kwok) fill the EndpointSlices of
 * the DecoderService through the real EndpointSlice controller.
 *
 * Watch expiry: the sidecar asks for watches with timeoutSeconds (WATCH_TIMEOUT_SECONDS, 300 s in the pod); the API
 * server ends a watch after the timeout the client asked for, with a normal end of stream (k8s.io/apiserver v0.37.2
 * pkg/endpoints/handlers/get.go `handleWatch`: `timeout` from `opts.TimeoutSeconds`; the randomized
 * --min-request-timeout only when none is given). Here it is WATCH_TIMEOUT_SECONDS=3, so watches expire all the time and the sidecar must
 * resume each one from its last resourceVersion without missing an event.
 */

const WATCH_TIMEOUT_SECONDS = 3;
const NODE = "ingress-1";
const OTHER_NODE = "ingress-2";
let work = "";
let workloads: StackWorkloads | undefined;
let sidecarDir = "";
let serviceAccountDir = "";
let sidecarEnv: Record<string, string> = {};

/** A running sidecar: its EDS file's contents over time and its log lines. */
interface Sidecar {
  node: string;
  edsPath: string;
  startedAt: number;
  /** Every distinct content the file had, with when the test saw it. */
  versions: Array<{ at: number; content: string }>;
  logs: Array<{ level: string; message: string; error?: string }>;
  stop(): Promise<void>;
}
const sidecars: Sidecar[] = [];

/** Starts the sidecar as the pod would on `node`, polling its EDS file every 20 ms. */
function startSidecar(node: string): Sidecar {
  const edsDir = fs.mkdtempSync(path.join(work, `eds-${node}-`));
  const edsPath = path.join(edsDir, path.basename(sidecarEnv[EDS_SIDECAR_ENV.edsPath]));
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...sidecarEnv,
    [EDS_SIDECAR_ENV.nodeName]: node,
    [EDS_SIDECAR_ENV.edsPath]: edsPath,
    KUBERNETES_API_URL: clusterEnv().server,
    SERVICE_ACCOUNT_DIR: serviceAccountDir,
    WATCH_TIMEOUT_SECONDS: String(WATCH_TIMEOUT_SECONDS),
    BACKOFF_INITIAL_MS: "200",
    BACKOFF_MAX_MS: "1000",
  };
  const child: ChildProcess = spawn(process.execPath, [path.join(sidecarDir, EDS_SIDECAR_MAIN)], { env, stdio: ["ignore", "pipe", "pipe"] });
  const sidecar: Sidecar = {
    node,
    edsPath,
    startedAt: Date.now(),
    versions: [],
    logs: [],
    stop: async () => {
      clearInterval(poll);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
  let partial = "";
  const onData = (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines.filter(Boolean)) {
      try {
        sidecar.logs.push(JSON.parse(line) as Sidecar["logs"][number]);
      } catch {
        sidecar.logs.push({ level: "raw", message: line });
      }
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const poll = setInterval(() => {
    let content: string;
    try {
      content = fs.readFileSync(edsPath, "utf8");
    } catch {
      return;
    }
    const last = sidecar.versions[sidecar.versions.length - 1];
    if (last?.content !== content) sidecar.versions.push({ at: Date.now(), content });
  }, 20);
  sidecars.push(sidecar);
  return sidecar;
}

/** The upstreams in an EDS file, as `address:port`. */
function upstreams(content: string | undefined): string[] {
  if (content === undefined) return [];
  const response = JSON.parse(content) as EdsDiscoveryResponse;
  return response.resources.flatMap((resource) =>
    resource.endpoints.flatMap((locality) => locality.lb_endpoints.map((lb) => `${lb.endpoint.address.socket_address.address}:${lb.endpoint.address.socket_address.port_value}`)),
  );
}

const current = (sidecar: Sidecar): string | undefined => sidecar.versions[sidecar.versions.length - 1]?.content;

/** What the file must list: the node's Ready, not terminating decoder pods, on the decoder port, sorted as the sidecar sorts. */
function expectedUpstreams(pods: readonly PodView[], node: string): string[] {
  const toNumber = (ip: string) => ip.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
  return pods
    .filter((pod) => pod.node === node && pod.ready && !pod.deleting && pod.ip !== "")
    .map((pod) => pod.ip)
    .sort((a, b) => toNumber(a) - toNumber(b))
    .map((ip) => `${ip}:${DECODER_PORT}`);
}

const decoderPods = () => podsOf(WIRING.decoderNamespace, DECODER_SELECTOR);

async function decoderSlices(): Promise<EndpointSlice[]> {
  return (await getJson<{ items: EndpointSlice[] }>(["-n", WIRING.decoderNamespace, "get", "endpointslices", "-l", `kubernetes.io/service-name=${WIRING.decoderService}`])).items;
}

/** Waits until the sidecar's file lists `expected` (computed from the API each time); returns the delay from `changedAt`. */
async function fileFollows(sidecar: Sidecar, changedAt: number, what: string, expected: () => Promise<string[]>): Promise<{ ms: number; upstreams: string[] }> {
  let seenAt = 0;
  const { value } = await eventually(
    what,
    async () => {
      const want = await expected();
      const version = sidecar.versions[sidecar.versions.length - 1];
      if (version === undefined || JSON.stringify(upstreams(version.content)) !== JSON.stringify(want)) return undefined;
      seenAt = version.at;
      return want;
    },
    120_000,
  );
  return { ms: Math.max(0, seenAt - changedAt), upstreams: value };
}

async function scaleDecoders(replicas: number): Promise<void> {
  await kubectlOk(["-n", WIRING.decoderNamespace, "scale", "deployment", DECODER_APP, `--replicas=${replicas}`]);
}

/** Waits until `perNode` decoders are Ready on every ingress node. */
async function decodersReady(total: number): Promise<void> {
  await eventually(
    `${total} ready decoders`,
    async () => {
      const pods = (await decoderPods()).filter((pod) => !pod.deleting);
      return pods.length === total && pods.every((pod) => pod.ready && pod.ip !== "") ? true : undefined;
    },
    180_000,
  );
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "eds-sidecar-cluster-"));
  workloads = await stackWorkloads(3);
  await applyObjects(workloads.objects.map((entry) => entry.object));

  // The sidecar's code and environment exactly as the DaemonSet runs it: the ConfigMap's files, the container's env.
  const configMap = onlyObject(workloads.objects, "ConfigMap", /-eds-sidecar$/) as KubernetesObject & { data: Record<string, string> };
  sidecarDir = path.join(work, "eds-sidecar");
  fs.mkdirSync(sidecarDir);
  for (const [file, content] of Object.entries(configMap.data)) fs.writeFileSync(path.join(sidecarDir, file), content);
  interface EnvVar {
    name: string;
    value?: string;
  }
  const daemonSet = onlyObject(workloads.objects, "DaemonSet", /-daemonset$/) as KubernetesObject & {
    spec: { template: { spec: { initContainers: Array<{ name: string; env: EnvVar[] }> } } };
  };
  const container = daemonSet.spec.template.spec.initContainers.find((c) => c.name === "eds-sidecar");
  if (!container) throw new Error("the DaemonSet has no eds-sidecar container");
  sidecarEnv = Object.fromEntries(container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value ?? ""]));

  // A token of the Envoy ServiceAccount from the TokenRequest API, as the kubelet projects it into the pod.
  const sa = workloads.envoyServiceAccount;
  const token = (await kubectlOk(["-n", sa.namespace, "create", "token", sa.name, "--duration=1h"])).trim();
  serviceAccountDir = path.join(work, "serviceaccount");
  fs.mkdirSync(serviceAccountDir);
  fs.writeFileSync(path.join(serviceAccountDir, "token"), `${token}\n`, { mode: 0o600 });
  fs.copyFileSync(clusterEnv().caFile, path.join(serviceAccountDir, "ca.crt"));
  await decodersReady(3);
}, 300_000);

afterAll(async () => {
  for (const sidecar of sidecars) await sidecar.stop();
  await deleteWorkloads(workloads);
  if (work !== "") fs.rmSync(work, { recursive: true, force: true });
}, 180_000);

describe("EDS sidecar against the real API server", () => {
  let sidecar: Sidecar;

  it("writes an EDS file with only its node's ready decoder endpoints", async () => {
    sidecar = startSidecar(NODE);
    const first = await fileFollows(sidecar, sidecar.startedAt, `${NODE}'s decoder in the EDS file`, async () => expectedUpstreams(await decoderPods(), NODE));
    const pods = await decoderPods();
    const slices = await decoderSlices();
    report(`EDS file of the sidecar on ${NODE} (env from the DaemonSet: ${Object.entries(sidecarEnv).map(([k, v]) => `${k}=${v}`).join(" ")})`, [
      { check: "start -> first file with the node's endpoints", ms: first.ms, upstreams: first.upstreams.join(",") },
      ...pods.map((pod) => ({ check: `decoder ${pod.name} on ${pod.node}`, ms: "-", upstreams: `${pod.ip} ready=${pod.ready} ${pod.node === NODE ? "(listed)" : "(other node: not listed)"}` })),
    ]);
    expect(first.upstreams).toHaveLength(1);
    expect(pods.filter((pod) => pod.node !== NODE && pod.ready)).toHaveLength(2);
    // Byte for byte what the sidecar's own renderer makes of the slices the controller published.
    const selection = { nodeName: NODE, clusterName: sidecarEnv[EDS_SIDECAR_ENV.clusterName], portName: sidecarEnv[EDS_SIDECAR_ENV.portName] };
    expect(current(sidecar)).toBe(renderEdsFile(slices, selection));
    expect(fs.readFileSync(sidecar.edsPath, "utf8")).toBe(current(sidecar));
    // The empty assignment came first (Envoy needs the file to start), then the node's endpoint.
    expect(upstreams(sidecar.versions[0].content)).toEqual([]);
    expect(sidecar.logs.filter((line) => line.level === "error")).toEqual([]);
  });

  it("follows a scale-up and a pod deletion", async () => {
    const scaledAt = Date.now();
    await scaleDecoders(6);
    const scaled = await fileFollows(sidecar, scaledAt, `two decoders of ${NODE} in the file`, async () => {
      const want = expectedUpstreams(await decoderPods(), NODE);
      return want.length === 2 ? want : ["(waiting for two ready decoders)"];
    });

    const victim = (await decoderPods()).find((pod) => pod.node === NODE && pod.ready && !pod.deleting);
    if (!victim) throw new Error(`no decoder on ${NODE}`);
    const deletedAt = Date.now();
    await kubectlOk(["-n", WIRING.decoderNamespace, "delete", "pod", victim.name, "--wait=false"]);
    // The endpoint turns not-ready as soon as the pod is terminating, well before the replacement is Ready: look for
    // both versions of the file in its history (the replacement may follow within a second).
    const gone = `${victim.ip}:${DECODER_PORT}`;
    const versionAfter = (what: string, test: (list: string[]) => boolean) =>
      eventually(what, async () => {
        const version = sidecar.versions.find((v) => v.at >= deletedAt && test(upstreams(v.content)));
        return version === undefined ? undefined : { ms: version.at - deletedAt, upstreams: upstreams(version.content) };
      }, 120_000).then(({ value }) => value);
    const dropped = await versionAfter(`${victim.name} out of the file`, (list) => !list.includes(gone) && list.length === 1);
    // The ReplicaSet's replacement goes back to this node (the spread constraint: it is the one with fewer decoders).
    // kwok hands a freed pod IP out again, so the replacement may get the victim's address: match by count and by
    // the pods the API lists once the victim is gone.
    const replaced = await versionAfter(`the replacement of ${victim.name} in the file`, (list) => list.length === 2 && sidecar.versions.some((v) => v.at >= deletedAt && upstreams(v.content).length === 1));
    await eventually("the victim to be gone from the API", async () => ((await decoderPods()).some((p) => p.name === victim.name) ? undefined : true));
    await fileFollows(sidecar, deletedAt, "the file to match the API", async () => expectedUpstreams(await decoderPods(), NODE));
    report(`sidecar on ${NODE}: scale-up and pod deletion`, [
      { change: "scale 3 -> 6", fileUpdatedMs: scaled.ms, upstreams: scaled.upstreams.join(",") },
      { change: `delete ${victim.name} (${victim.ip})`, fileUpdatedMs: dropped.ms, upstreams: dropped.upstreams.join(",") },
      { change: "its replacement Ready", fileUpdatedMs: replaced.ms, upstreams: replaced.upstreams.join(",") },
    ]);
    expect(dropped.upstreams).toHaveLength(1);
    expect(dropped.upstreams).not.toContain(gone);
    expect(replaced.upstreams).toHaveLength(2);
    expect(replaced.ms).toBeGreaterThanOrEqual(dropped.ms);
    expect(sidecar.logs.filter((line) => line.level === "error")).toEqual([]);
  });

  it("resumes expired watches without re-listing and without missing a change", async () => {
    const before = await endpointSliceRequestCounts();
    const { ms: expiredAfter, value: during } = await eventually(
      "two watches to expire and be resumed",
      async () => {
        const now = await endpointSliceRequestCounts();
        return (now.WATCH ?? 0) - (before.WATCH ?? 0) >= 2 ? now : undefined;
      },
      60_000,
    );
    // A change right after the expiries: the resumed watch must deliver it.
    const pod = (await decoderPods()).find((candidate) => candidate.node === NODE && candidate.ready && !candidate.deleting);
    if (!pod) throw new Error(`no decoder on ${NODE}`);
    const changedAt = Date.now();
    await setPodReady(WIRING.decoderNamespace, pod.name, false);
    const unready = await fileFollows(sidecar, changedAt, `${pod.name} out of the file after it turned unready`, async () => expectedUpstreams(await decoderPods(), NODE));
    const readyAt = Date.now();
    await setPodReady(WIRING.decoderNamespace, pod.name, true);
    const ready = await fileFollows(sidecar, readyAt, `${pod.name} back in the file`, async () => expectedUpstreams(await decoderPods(), NODE));
    const after = await endpointSliceRequestCounts();
    report(`sidecar on ${NODE}: watches with timeoutSeconds=${WATCH_TIMEOUT_SECONDS} (apiserver_request_total, namespaced endpointslices)`, [
      { what: "watches ended by the server and resumed before the change", value: (during.WATCH ?? 0) - (before.WATCH ?? 0), ms: expiredAfter },
      { what: `${pod.name} Ready=False -> file`, value: unready.upstreams.join(","), ms: unready.ms },
      { what: `${pod.name} Ready=True -> file`, value: ready.upstreams.join(","), ms: ready.ms },
      { what: "LIST requests meanwhile (a resumed watch needs none)", value: (after.LIST ?? 0) - (before.LIST ?? 0), ms: "-" },
    ]);
    expect(unready.upstreams).toHaveLength(1);
    expect(unready.upstreams).not.toContain(`${pod.ip}:${DECODER_PORT}`);
    expect(ready.upstreams).toHaveLength(2);
    expect((after.LIST ?? 0) - (before.LIST ?? 0)).toBe(0);
    expect(sidecar.logs.filter((line) => line.level === "error" || line.message.startsWith("re-listing"))).toEqual([]);
  });

  it("without its RoleBinding keeps the file it has (or the empty assignment) and recovers when the binding is back", async () => {
    const binding = onlyObject(workloads!.objects, "RoleBinding", /-envoy-endpointslices-reader$/);
    const kept = current(sidecar);
    await kubectlOk(["-n", binding.metadata.namespace ?? "", "delete", "rolebinding", binding.metadata.name]);
    const fresh = startSidecar(OTHER_NODE);
    const sa = workloads!.envoyServiceAccount;
    const denial = `User \\"system:serviceaccount:${sa.namespace}:${sa.name}\\" cannot list resource \\"endpointslices\\" in API group \\"discovery.k8s.io\\" in the namespace \\"${WIRING.decoderNamespace}\\"`;
    const { ms: deniedMs } = await eventually("the new sidecar to be denied", async () =>
      fresh.logs.some((line) => line.level === "error" && (line.error ?? "").includes("HTTP 403") && (line.error ?? "").includes(denial)) ? true : undefined,
    );
    // The running sidecar's next resumed watch is denied too (RBAC is checked per request): it keeps its file.
    const { ms: oldDeniedMs } = await eventually("the running sidecar's resumed watch to be denied", async () =>
      sidecar.logs.some((line) => line.level === "error" && (line.error ?? "").includes("HTTP 403")) ? true : undefined,
    );
    expect(current(sidecar)).toBe(kept);
    expect(fresh.versions.map((version) => upstreams(version.content))).toEqual([[]]);

    const restoredAt = Date.now();
    await applyObjects([binding]);
    const recovered = await fileFollows(fresh, restoredAt, `${OTHER_NODE}'s decoders in the new sidecar's file`, async () => {
      const want = expectedUpstreams(await decoderPods(), OTHER_NODE);
      return want.length === 2 ? want : ["(waiting)"];
    });
    report("Envoy's RoleBinding in the decoder namespace deleted, then re-applied", [
      { sidecar: `new, on ${OTHER_NODE}`, event: "403 logged, file = empty assignment", ms: deniedMs },
      { sidecar: `running, on ${NODE}`, event: "403 on its next watch, file kept", ms: oldDeniedMs },
      { sidecar: `new, on ${OTHER_NODE}`, event: `binding re-applied -> file lists ${recovered.upstreams.join(",")}`, ms: recovered.ms },
    ]);
    expect(recovered.upstreams).toHaveLength(2);
    // Both sidecars keep following once the binding is back.
    await fileFollows(sidecar, restoredAt, `${NODE}'s file unchanged and current`, async () => expectedUpstreams(await decoderPods(), NODE));
  });
});
