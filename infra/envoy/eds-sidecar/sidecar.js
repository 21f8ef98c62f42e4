// @ts-check
"use strict";
/**
 * EDS sidecar of the Envoy ingress pod: follows the EndpointSlices of the decoder Service and
 * keeps the EDS file Envoy reads listing the ready decoder endpoints on this node.
 *
 * Loop: list (resourceVersion R) -> watch from R with bookmarks -> apply each event and rewrite
 * the file when its content changes. A watch the server closes normally is resumed from the last
 * seen resourceVersion; 410 Gone re-lists at once; any other failure re-lists after an
 * exponential, capped, jittered backoff. While the API is unreachable the file keeps its last
 * content, so Envoy keeps forwarding to the endpoints it knew.
 */

const path = require("node:path");
const { setTimeout: sleep } = require("node:timers/promises");
const { renderEdsFile } = require("./endpoints.js");
const { EdsFile } = require("./eds-file.js");
const { ApiError, listEndpointSlices, watchEndpointSlices } = require("./kube-api.js");

/** Environment variables the sidecar reads. */
const ENV = Object.freeze({
  nodeName: "NODE_NAME",
  namespace: "NAMESPACE",
  serviceName: "SERVICE_NAME",
  clusterName: "CLUSTER_NAME",
  portName: "PORT_NAME",
  edsPath: "EDS_PATH",
  apiUrl: "KUBERNETES_API_URL",
  serviceHost: "KUBERNETES_SERVICE_HOST",
  servicePort: "KUBERNETES_SERVICE_PORT",
  serviceAccountDir: "SERVICE_ACCOUNT_DIR",
  backoffInitialMs: "BACKOFF_INITIAL_MS",
  backoffMaxMs: "BACKOFF_MAX_MS",
  watchTimeoutSeconds: "WATCH_TIMEOUT_SECONDS",
});

const REQUIRED_ENV = Object.freeze([ENV.nodeName, ENV.namespace, ENV.serviceName, ENV.clusterName, ENV.portName, ENV.edsPath]);

const DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const DEFAULT_BACKOFF_INITIAL_MS = 500;
const DEFAULT_BACKOFF_MAX_MS = 30_000;
const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;
/** A watch that ends this fast without a single event is treated as a failure, not resumed at once. */
const MIN_QUIET_WATCH_MS = 1000;

/**
 * @typedef {object} SidecarConfig
 * @property {string} nodeName
 * @property {string} namespace
 * @property {string} serviceName
 * @property {string} clusterName
 * @property {string} portName
 * @property {string} edsPath
 * @property {import("./kube-api.js").ApiConnection} api
 * @property {number} backoffInitialMs
 * @property {number} backoffMaxMs
 * @property {number} watchTimeoutSeconds
 */

/**
 * @typedef {object} SidecarHooks
 * @property {AbortSignal} signal stops the loop
 * @property {(content: string) => void} [onWrite]
 * @property {(level: "info" | "error", message: string, fields?: Record<string, unknown>) => void} [log]
 * @property {() => number} [random] jitter source in [0, 1)
 */

/**
 * @param {Record<string, string | undefined>} env
 * @param {string} name
 * @param {number} fallback
 * @param {string[]} problems
 * @returns {number}
 */
function positiveIntegerEnv(env, name, fallback, problems) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) problems.push(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

/**
 * @param {Record<string, string | undefined>} env
 * @param {string[]} problems
 * @returns {string}
 */
function apiBaseUrl(env, problems) {
  const explicit = env[ENV.apiUrl];
  if (explicit !== undefined && explicit !== "") return explicit;
  const host = env[ENV.serviceHost];
  const port = env[ENV.servicePort];
  if (!host || !port) {
    problems.push(`${ENV.serviceHost} and ${ENV.servicePort} (or ${ENV.apiUrl}) must be set`);
    return "";
  }
  return `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * @param {Record<string, string | undefined>} env
 * @returns {SidecarConfig}
 */
function readConfig(env) {
  /** @type {string[]} */
  const problems = REQUIRED_ENV.filter((name) => env[name] === undefined || (env[name] === "" && name !== ENV.portName)).map(
    (name) => `${name} must be set`,
  );
  const baseUrl = apiBaseUrl(env, problems);
  const serviceAccountDir = env[ENV.serviceAccountDir] || DEFAULT_SERVICE_ACCOUNT_DIR;
  const config = {
    nodeName: env[ENV.nodeName] ?? "",
    namespace: env[ENV.namespace] ?? "",
    serviceName: env[ENV.serviceName] ?? "",
    clusterName: env[ENV.clusterName] ?? "",
    portName: env[ENV.portName] ?? "",
    edsPath: env[ENV.edsPath] ?? "",
    api: {
      baseUrl,
      tokenPath: path.join(serviceAccountDir, "token"),
      caPath: baseUrl.startsWith("https:") ? path.join(serviceAccountDir, "ca.crt") : undefined,
    },
    backoffInitialMs: positiveIntegerEnv(env, ENV.backoffInitialMs, DEFAULT_BACKOFF_INITIAL_MS, problems),
    backoffMaxMs: positiveIntegerEnv(env, ENV.backoffMaxMs, DEFAULT_BACKOFF_MAX_MS, problems),
    watchTimeoutSeconds: positiveIntegerEnv(env, ENV.watchTimeoutSeconds, DEFAULT_WATCH_TIMEOUT_SECONDS, problems),
  };
  if (problems.length > 0) throw new Error(`eds-sidecar configuration: ${problems.join("; ")}`);
  return config;
}

/**
 * Delay before retry number `failures` (1-based): initial × 2^(failures-1), capped, then
 * jittered into [delay/2, delay) so sidecars on all nodes do not hit the API in step.
 * @param {number} failures
 * @param {SidecarConfig} config
 * @param {() => number} random
 * @returns {number}
 */
function backoffDelay(failures, config, random) {
  const exponent = Math.min(failures - 1, 30);
  const delay = Math.min(config.backoffMaxMs, config.backoffInitialMs * 2 ** exponent);
  return Math.floor(delay / 2 + (random() * delay) / 2);
}

/** @typedef {import("./endpoints.js").EndpointSlice} EndpointSlice */

/**
 * @param {EndpointSlice} slice
 * @returns {string}
 */
function sliceKey(slice) {
  return slice.metadata?.name ?? "";
}

/**
 * The label the EndpointSlice controller puts on every slice of a Service.
 * @param {SidecarConfig} config
 * @returns {string}
 */
function serviceSelector(config) {
  return `kubernetes.io/service-name=${config.serviceName}`;
}

/** Thrown to leave the watch and list again immediately. */
class RelistNow extends Error {}

/**
 * Follows one list's resourceVersion through successive watches until a re-list is needed.
 * @param {SidecarConfig} config
 * @param {SidecarHooks} hooks
 * @param {Map<string, EndpointSlice>} slices
 * @param {string} resourceVersion
 * @param {() => void} publish
 * @returns {Promise<never>}
 */
async function followWatch(config, hooks, slices, resourceVersion, publish) {
  const labelSelector = serviceSelector(config);
  let version = resourceVersion;
  for (;;) {
    const started = Date.now();
    let events = 0;
    const stream = watchEndpointSlices(config.api, {
      namespace: config.namespace,
      labelSelector,
      resourceVersion: version,
      timeoutSeconds: config.watchTimeoutSeconds,
      signal: hooks.signal,
    });
    for await (const event of stream) {
      events += 1;
      if (event.type === "ERROR") {
        const code = event.object.code ?? 0;
        if (code === 410) throw new RelistNow(`watch: resourceVersion ${version} expired (410 Gone)`);
        throw new ApiError(`watch ERROR event: ${code} ${event.object.message ?? ""}`, code);
      }
      version = event.object.metadata?.resourceVersion ?? version;
      if (event.type === "BOOKMARK") continue;
      if (event.type === "DELETED") slices.delete(sliceKey(event.object));
      else slices.set(sliceKey(event.object), event.object);
      publish();
    }
    if (events === 0 && Date.now() - started < MIN_QUIET_WATCH_MS) throw new Error("watch: closed immediately without events");
  }
}

/**
 * @param {SidecarHooks["log"]} log
 * @returns {NonNullable<SidecarHooks["log"]>}
 */
function loggerOrDefault(log) {
  return (
    log ??
    ((level, message, fields) => {
      const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
      (level === "error" ? process.stderr : process.stdout).write(`${line}\n`);
    })
  );
}

/**
 * Runs until hooks.signal aborts; resolves then.
 * @param {SidecarConfig} config
 * @param {SidecarHooks} hooks
 * @returns {Promise<void>}
 */
async function runSidecar(config, hooks) {
  const log = loggerOrDefault(hooks.log);
  const random = hooks.random ?? Math.random;
  const selection = { nodeName: config.nodeName, clusterName: config.clusterName, portName: config.portName };
  const file = new EdsFile(config.edsPath, hooks.onWrite);
  file.ensureExists(renderEdsFile([], selection));
  /** @type {Map<string, EndpointSlice>} */
  const slices = new Map();
  const publish = () => {
    if (file.write(renderEdsFile([...slices.values()], selection))) log("info", "EDS file updated", { path: config.edsPath });
  };
  let failures = 0;
  while (!hooks.signal.aborted) {
    try {
      const list = await listEndpointSlices(config.api, { namespace: config.namespace, labelSelector: serviceSelector(config), signal: hooks.signal });
      failures = 0;
      slices.clear();
      for (const slice of list.items) slices.set(sliceKey(slice), slice);
      publish();
      await followWatch(config, hooks, slices, list.resourceVersion, publish);
    } catch (error) {
      if (hooks.signal.aborted) break;
      if (error instanceof RelistNow || (error instanceof ApiError && error.status === 410)) {
        log("info", `re-listing: ${error.message}`);
        continue;
      }
      failures += 1;
      const delay = backoffDelay(failures, config, random);
      log("error", "EndpointSlice list/watch failed; re-listing after backoff", { error: String(error), delayMs: delay });
      await sleep(delay, undefined, { signal: hooks.signal }).catch(() => undefined);
    }
  }
}

function main() {
  const controller = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => controller.abort());
  let config;
  try {
    config = readConfig(process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  runSidecar(config, { signal: controller.signal }).then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`eds-sidecar: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) main();

module.exports = { ENV, REQUIRED_ENV, readConfig, backoffDelay, runSidecar };
