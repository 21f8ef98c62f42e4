import * as fs from "node:fs";
import { renderEdsFile } from "../../infra/envoy";
import sidecar = require("../../infra/envoy/eds-sidecar/sidecar.js");
import { NODE, followWatchScenario, selection, sidecarPerTest, slice, waitFor } from "./support/sidecar-harness";

// Envoy's own API judges every file the sidecar writes in sidecar.system-test.ts.

describe("EDS sidecar against a fake Kubernetes API", () => {
  const sidecars = sidecarPerTest();

  it("lists, follows watch events, resumes after bookmarks, re-lists on 410 and on errors, writes only changes", async () => {
    await followWatchScenario(await sidecars.start());
  });

  it("re-lists at once, without backoff, when the watch request itself gets HTTP 410", async () => {
    const harness = await sidecars.start();
    harness.api.list = { items: [], resourceVersion: "5" };
    harness.api.goneWatches = 1;
    const watch = await harness.api.nextWatch();
    expect(harness.api.requests.map((r) => (r.query.watch === "1" ? `watch@${r.query.resourceVersion}` : "list"))).toStrictEqual([
      "list",
      "watch@5",
      "list",
      "watch@5",
    ]);
    expect(watch.request.query.resourceVersion).toBe("5");
    expect(harness.logs.filter((l) => l.level === "error")).toStrictEqual([]);
  });

  it("keeps an identical file from a previous run untouched", async () => {
    const a = slice("decoder-a", "100", { "10.1.0.5": NODE });
    const harness = await sidecars.start(renderEdsFile([a], selection));
    const inode = fs.statSync(harness.edsPath).ino;
    harness.api.list = { items: [a], resourceVersion: "100" };
    await harness.api.nextWatch();
    expect(harness.writes).toStrictEqual([]);
    expect(fs.statSync(harness.edsPath).ino).toBe(inode);
  });

  it("stops promptly on abort while backing off from an unreachable API", async () => {
    const harness = await sidecars.start();
    harness.api.failLists = 1000;
    await waitFor(() => harness.api.listRequests().length >= 3, "repeated list attempts");
    const started = Date.now();
    await harness.stop();
    sidecars.forget();
    expect(Date.now() - started).toBeLessThan(500);
  });
});

describe("sidecar configuration", () => {
  const env = {
    NODE_NAME: "n1",
    NAMESPACE: "iot",
    SERVICE_NAME: "decoder",
    CLUSTER_NAME: "decoder",
    PORT_NAME: "",
    EDS_PATH: "/var/run/envoy-eds/endpoints.json",
    KUBERNETES_SERVICE_HOST: "10.32.0.1",
    KUBERNETES_SERVICE_PORT: "443",
  };

  it("defaults to the in-cluster API, service-account token and CA", () => {
    expect(sidecar.readConfig(env)).toStrictEqual({
      nodeName: "n1",
      namespace: "iot",
      serviceName: "decoder",
      clusterName: "decoder",
      portName: "",
      edsPath: "/var/run/envoy-eds/endpoints.json",
      api: {
        baseUrl: "https://10.32.0.1:443",
        tokenPath: "/var/run/secrets/kubernetes.io/serviceaccount/token",
        caPath: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
      },
      backoffInitialMs: 500,
      backoffMaxMs: 30000,
      watchTimeoutSeconds: 300,
    });
  });

  it("brackets an IPv6 API host", () => {
    expect(sidecar.readConfig({ ...env, KUBERNETES_SERVICE_HOST: "fd00::1" }).api.baseUrl).toBe("https://[fd00::1]:443");
  });

  it("lists every missing or malformed variable", () => {
    expect(() => sidecar.readConfig({ NODE_NAME: "", BACKOFF_MAX_MS: "soon" })).toThrow(
      "eds-sidecar configuration: NODE_NAME must be set; NAMESPACE must be set; SERVICE_NAME must be set; CLUSTER_NAME must be set; " +
        "PORT_NAME must be set; EDS_PATH must be set; KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (or KUBERNETES_API_URL) must be set; " +
        'BACKOFF_MAX_MS must be a positive integer, got "soon"',
    );
  });

  it.each([
    [1, 0, 50],
    [1, 0.999999, 99],
    [2, 0, 100],
    [3, 0, 200],
    [5, 0, 500],
    [60, 0, 500],
  ])("backoff after %i failures (random %d) is %i ms with initial 100, cap 1000", (failures, random, expected) => {
    const config = sidecar.readConfig({ ...env, BACKOFF_INITIAL_MS: "100", BACKOFF_MAX_MS: "1000" });
    expect(sidecar.backoffDelay(failures, config, () => random)).toBe(expected);
  });
});
