// @ts-check
"use strict";
/**
 * Minimal Kubernetes API client for EndpointSlice list and watch, Node.js builtins only.
 * The service-account token is re-read for every request because projected tokens are rotated.
 */

const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");

/**
 * @typedef {object} ApiConnection
 * @property {string} baseUrl API server URL, e.g. https://10.32.0.1:443
 * @property {string} tokenPath file holding the bearer token
 * @property {string | undefined} caPath CA bundle for https; undefined for plain http
 */

/**
 * @typedef {import("./endpoints.js").EndpointSlice} EndpointSlice
 */

/**
 * @typedef {object} WatchEvent
 * @property {"ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"} type
 * @property {EndpointSlice & { code?: number, message?: string }} object for ERROR a metav1.Status
 */

class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status HTTP status, or the code of a watch ERROR event
   */
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/**
 * @param {ApiConnection} connection
 * @param {string} pathAndQuery
 * @param {{ signal: AbortSignal, idleTimeoutMs: number }} options
 * @returns {Promise<http.IncomingMessage>} a response with status 200
 */
function get(connection, pathAndQuery, options) {
  const url = new URL(pathAndQuery, connection.baseUrl);
  const token = fs.readFileSync(connection.tokenPath, "utf8").trim();
  /** @type {https.RequestOptions} */
  const requestOptions = {
    method: "GET",
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    signal: options.signal,
  };
  if (url.protocol === "https:" && connection.caPath !== undefined) {
    requestOptions.ca = fs.readFileSync(connection.caPath);
  }
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, requestOptions, (response) => {
      if (response.statusCode === 200) {
        resolve(response);
        return;
      }
      readBody(response).then(
        (body) => reject(new ApiError(`GET ${url.pathname}: HTTP ${response.statusCode}: ${body.slice(0, 500)}`, response.statusCode ?? 0)),
        reject,
      );
    });
    // A watch that stays silent past the server-side timeout is a dead connection.
    request.setTimeout(options.idleTimeoutMs, () => request.destroy(new Error(`GET ${url.pathname}: no data for ${options.idleTimeoutMs} ms`)));
    request.on("error", reject);
    request.end();
  });
}

/**
 * @param {http.IncomingMessage} response
 * @returns {Promise<string>}
 */
async function readBody(response) {
  let body = "";
  response.setEncoding("utf8");
  for await (const chunk of response) body += chunk;
  return body;
}

/**
 * @param {string} namespace
 * @param {Record<string, string>} query
 * @returns {string}
 */
function endpointSlicesPath(namespace, query) {
  return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices?${new URLSearchParams(query)}`;
}

/**
 * All EndpointSlices matching the selector, following `continue` pages.
 * @param {ApiConnection} connection
 * @param {{ namespace: string, labelSelector: string, signal: AbortSignal }} query
 * @returns {Promise<{ items: EndpointSlice[], resourceVersion: string }>}
 */
async function listEndpointSlices(connection, query) {
  /** @type {EndpointSlice[]} */
  const items = [];
  let continueToken = "";
  for (;;) {
    /** @type {Record<string, string>} */
    const params = { labelSelector: query.labelSelector, limit: "500" };
    if (continueToken !== "") params.continue = continueToken;
    const response = await get(connection, endpointSlicesPath(query.namespace, params), { signal: query.signal, idleTimeoutMs: 30_000 });
    /** @type {{ items?: EndpointSlice[], metadata?: { resourceVersion?: string, continue?: string } }} */
    const list = JSON.parse(await readBody(response));
    items.push(...(list.items ?? []));
    continueToken = list.metadata?.continue ?? "";
    if (continueToken === "") return { items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }
}

/**
 * Watch events from resourceVersion on, one JSON object per line, until the server ends the
 * stream (after timeoutSeconds) or the connection fails.
 * @param {ApiConnection} connection
 * @param {{ namespace: string, labelSelector: string, resourceVersion: string, timeoutSeconds: number, signal: AbortSignal }} query
 * @returns {AsyncGenerator<WatchEvent>}
 */
async function* watchEndpointSlices(connection, query) {
  const path = endpointSlicesPath(query.namespace, {
    labelSelector: query.labelSelector,
    watch: "1",
    resourceVersion: query.resourceVersion,
    allowWatchBookmarks: "true",
    timeoutSeconds: String(query.timeoutSeconds),
  });
  const response = await get(connection, path, { signal: query.signal, idleTimeoutMs: (query.timeoutSeconds + 30) * 1000 });
  response.setEncoding("utf8");
  let buffered = "";
  for await (const chunk of response) {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== "") yield /** @type {WatchEvent} */ (JSON.parse(line));
    }
  }
  if (buffered.trim() !== "") yield /** @type {WatchEvent} */ (JSON.parse(buffered));
}

module.exports = { ApiError, listEndpointSlices, watchEndpointSlices };
