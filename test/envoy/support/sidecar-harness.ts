/**
 * The EDS sidecar run in-process against a fake Kubernetes API (harness/fake-kube-api.ts), and the list/watch scenario
 * that sidecar.test.ts runs and sidecar.system-test.ts runs again to judge every file written by Envoy's own API.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FakeKubeApi, WatchStream } from "../../../harness/fake-kube-api";
import { EndpointSlice, renderEdsFile } from "../../../infra/envoy";
import sidecar = require("../../../infra/envoy/eds-sidecar/sidecar.js");

export const NODE = "ingress-1";
export const selection = { nodeName: NODE, clusterName: "decoder", portName: "coap" };
export const SLICES_PATH = "/apis/discovery.k8s.io/v1/namespaces/iot/endpointslices";

export function slice(name: string, resourceVersion: string, nodes: Record<string, string>, labels: Record<string, string> = {}): EndpointSlice {
  return {
    metadata: { name, namespace: "iot", resourceVersion, labels: { "kubernetes.io/service-name": "decoder", ...labels } },
    addressType: "IPv4",
    endpoints: Object.entries(nodes).map(([address, nodeName]) => ({ addresses: [address], nodeName, conditions: { ready: true } })),
    ports: [{ name: "coap", port: 5683, protocol: "UDP" }],
  };
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Harness {
  api: FakeKubeApi;
  edsPath: string;
  writes: string[];
  logs: { level: string; message: string }[];
  stop: () => Promise<void>;
}

async function startSidecar(dir: string, preexisting?: string): Promise<Harness> {
  const api = new FakeKubeApi();
  const baseUrl = await api.start();
  fs.writeFileSync(path.join(dir, "token"), "test-token\n");
  const edsDir = path.join(dir, "eds");
  fs.mkdirSync(edsDir);
  const edsPath = path.join(edsDir, "endpoints.json");
  if (preexisting !== undefined) fs.writeFileSync(edsPath, preexisting);
  const writes: string[] = [];
  const logs: { level: string; message: string }[] = [];
  const controller = new AbortController();
  const config = sidecar.readConfig({
    NODE_NAME: NODE,
    NAMESPACE: "iot",
    SERVICE_NAME: "decoder",
    CLUSTER_NAME: "decoder",
    PORT_NAME: "coap",
    EDS_PATH: edsPath,
    KUBERNETES_API_URL: baseUrl,
    SERVICE_ACCOUNT_DIR: dir,
    BACKOFF_INITIAL_MS: "10",
    BACKOFF_MAX_MS: "40",
    WATCH_TIMEOUT_SECONDS: "30",
  });
  const running = sidecar.runSidecar(config, {
    signal: controller.signal,
    onWrite: (content) => writes.push(content),
    log: (level, message) => logs.push({ level, message }),
  });
  const stop = async () => {
    controller.abort();
    await running;
    await api.stop();
  };
  return { api, edsPath, writes, logs, stop };
}

/**
 * A fresh directory and, through the returned `start`, a sidecar per test, stopped and removed after each test.
 * Call inside a describe.
 */
export function sidecarPerTest(): { start: (preexisting?: string) => Promise<Harness>; current: () => Harness | undefined; forget: () => void } {
  let dir = "";
  let harness: Harness | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "eds-sidecar-"));
  });
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    start: async (preexisting?: string) => (harness = await startSidecar(dir, preexisting)),
    current: () => harness,
    forget: () => {
      harness = undefined;
    },
  };
}

/**
 * Lists, follows watch events, resumes after bookmarks, re-lists on 410 and on errors, and checks that only changes are
 * written; leaves `h.writes` holding every file written on the way.
 */
export async function followWatchScenario(h: Harness): Promise<void> {
    const a = slice("decoder-a", "100", { "10.1.0.5": NODE, "10.2.0.5": "ingress-2" });
    const b = slice("decoder-b", "101", { "10.1.0.7": NODE });
    const c = slice("decoder-c", "150", { "10.1.0.9": NODE });
    const api0 = { items: [a], resourceVersion: "100" };

    h.api.list = api0;
    // The empty file comes first so that Envoy can start before the first list.
    const w1 = await h.api.nextWatch();
    expect(h.writes).toStrictEqual([renderEdsFile([], selection), renderEdsFile([a], selection)]);
    expect(fs.readFileSync(h.edsPath, "utf8")).toBe(renderEdsFile([a], selection));
    expect(h.api.requests[0]).toStrictEqual({
      path: SLICES_PATH,
      query: { labelSelector: "kubernetes.io/service-name=decoder", limit: "500" },
      authorization: "Bearer test-token",
    });
    expect(w1.request).toStrictEqual({
      path: SLICES_PATH,
      query: {
        labelSelector: "kubernetes.io/service-name=decoder",
        watch: "1",
        resourceVersion: "100",
        allowWatchBookmarks: "true",
        timeoutSeconds: "30",
      },
      authorization: "Bearer test-token",
    });

    const expectWrite = async (send: (w: WatchStream) => void, w: WatchStream, slices: EndpointSlice[]) => {
      const before = h.writes.length;
      send(w);
      await waitFor(() => h.writes.length > before, "an EDS write");
      expect(h.writes.length).toBe(before + 1);
      expect(fs.readFileSync(h.edsPath, "utf8")).toBe(renderEdsFile(slices, selection));
    };

    await expectWrite((w) => w.send({ type: "ADDED", object: b }), w1, [a, b]);
    const bElsewhere = slice("decoder-b", "102", { "10.1.0.7": "ingress-3" });
    await expectWrite((w) => w.send({ type: "MODIFIED", object: bElsewhere }), w1, [a]);

    // A change that does not touch this node's endpoints must not rewrite the file.
    const inodeBefore = fs.statSync(h.edsPath).ino;
    const writesBefore = h.writes.length;
    w1.send({ type: "MODIFIED", object: slice("decoder-a", "103", { "10.1.0.5": NODE, "10.2.0.5": "ingress-2" }, { tier: "x" }) });
    w1.send({ type: "MODIFIED", object: slice("decoder-b", "104", { "10.1.0.8": "ingress-3" }) });
    w1.send({ type: "BOOKMARK", object: { kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1", metadata: { resourceVersion: "110" } } });
    w1.end();
    const w2 = await h.api.nextWatch();
    expect(h.writes.length).toBe(writesBefore);
    expect(fs.statSync(h.edsPath).ino).toBe(inodeBefore);
    // A normally ended watch resumes from the bookmark without a new list.
    expect(w2.request.query.resourceVersion).toBe("110");
    expect(h.api.listRequests()).toHaveLength(1);

    await expectWrite((w) => w.send({ type: "DELETED", object: slice("decoder-a", "111", {}) }), w2, []);

    // 410 Gone: list again at once (paged this time) and watch from the new list's version.
    h.api.list = { items: [a, c], resourceVersion: "200" };
    h.api.pageSize = 1;
    w2.send({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410, message: "too old resource version: 100 (150)" } });
    const w3 = await h.api.nextWatch();
    expect(w3.request.query.resourceVersion).toBe("200");
    expect(h.api.listRequests().slice(1).map((r) => r.query.continue)).toStrictEqual([undefined, "1"]);
    expect(fs.readFileSync(h.edsPath, "utf8")).toBe(renderEdsFile([a, c], selection));
    expect(h.logs.filter((l) => l.level === "error")).toStrictEqual([]);

    // Connection lost, then the API answers 500 once: back off, list again; same endpoints -> no write.
    const writesBeforeOutage = h.writes.length;
    const listsBeforeOutage = h.api.listRequests().length;
    h.api.pageSize = 0;
    h.api.failLists = 1;
    w3.breakConnection();
    const w4 = await h.api.nextWatch();
    expect(h.api.listRequests().length - listsBeforeOutage).toBe(2);
    expect(w4.request.query.resourceVersion).toBe("200");
    expect(h.writes.length).toBe(writesBeforeOutage);
    expect(h.logs.filter((l) => l.level === "error").map((l) => l.message)).toStrictEqual([
      "EndpointSlice list/watch failed; re-listing after backoff",
      "EndpointSlice list/watch failed; re-listing after backoff",
    ]);

    // A watch ERROR other than 410 also re-lists (after backoff).
    h.api.list = { items: [c], resourceVersion: "300" };
    w4.send({ type: "ERROR", object: { kind: "Status", code: 500, message: "internal error" } });
    const w5 = await h.api.nextWatch();
    expect(w5.request.query.resourceVersion).toBe("300");
    expect(fs.readFileSync(h.edsPath, "utf8")).toBe(renderEdsFile([c], selection));
    expect(fs.readdirSync(path.dirname(h.edsPath))).toStrictEqual(["endpoints.json"]);
    expect(h.api.requests.every((r) => r.authorization === "Bearer test-token")).toBe(true);
    // The files written on the way: empty, one, two, no endpoints (sidecar.system-test.ts has Envoy's API judge each).
    expect(new Set(h.writes).size).toBeGreaterThanOrEqual(4);
}
