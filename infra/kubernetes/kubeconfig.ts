import { parse, stringify } from "yaml";

export interface TokenKubeconfigOptions {
  /** Name of the cluster, context and user entries' cluster. */
  readonly clusterName: string;
  /** API server URL (https). */
  readonly server: string;
  /** The cluster CA, base64-encoded PEM as kubeconfig files carry it. */
  readonly caCertificate: string;
  /** A ServiceAccount bearer token. */
  readonly token: string;
  /** Name of the user entry. */
  readonly user: string;
}

/** A kubeconfig that authenticates with a bearer token: what a machine outside the cluster uses. */
export function renderTokenKubeconfig(options: TokenKubeconfigOptions): string {
  if (!/^https:\/\//.test(options.server)) {
    throw new Error(`kubeconfig server must be an https URL, got "${options.server}"`);
  }
  if (options.token.length === 0) {
    throw new Error("kubeconfig token is empty: the ServiceAccount token Secret has not been filled yet");
  }
  const context = `${options.user}@${options.clusterName}`;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: options.clusterName, cluster: { server: options.server, "certificate-authority-data": options.caCertificate } }],
    users: [{ name: options.user, user: { token: options.token } }],
    contexts: [{ name: context, context: { cluster: options.clusterName, user: options.user } }],
    "current-context": context,
    preferences: {},
  });
}

/** The cluster a kubeconfig's current context points at. */
export interface KubeconfigCluster {
  /** API server URL (https). */
  readonly server: string;
  /** The cluster CA, base64-encoded PEM. */
  readonly caCertificate: string;
}

/**
 * The server and CA of a kubeconfig's current context, or an error saying what is missing. The gateway gets its own
 * kubeconfig built from these two, so the CA must be inline (`certificate-authority-data`): a file path names a file
 * on the machine running Pulumi, not on the gateway. Follows kubectl's resolution (client-go
 * tools/clientcmd/client_config.go: current-context -> context.cluster -> clusters[].cluster).
 */
export function kubeconfigCluster(text: string): KubeconfigCluster {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new Error(`is not a kubeconfig (YAML does not parse: ${(error as Error).message.split("\n")[0]})`);
  }
  const config = asRecord(document);
  const contextName = config["current-context"];
  if (typeof contextName !== "string" || contextName === "") throw new Error("has no current-context");
  const context = namedEntry(config.contexts, contextName, "context");
  const clusterName = context.cluster;
  if (typeof clusterName !== "string") throw new Error(`context "${contextName}" names no cluster`);
  const cluster = namedEntry(config.clusters, clusterName, "cluster");
  const server = cluster.server;
  if (typeof server !== "string" || !/^https:\/\/[^/\s]+/.test(server)) {
    throw new Error(`cluster "${clusterName}" has no https server (got ${JSON.stringify(server)})`);
  }
  const caCertificate = cluster["certificate-authority-data"];
  if (typeof caCertificate !== "string" || caCertificate === "") {
    throw new Error(
      `cluster "${clusterName}" has no certificate-authority-data: the gateway's kubeconfig needs the CA inline ` +
        "(`kubectl config view --raw --flatten --minify` writes it so)",
    );
  }
  if (!Buffer.from(caCertificate, "base64").toString("utf8").includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`cluster "${clusterName}" has certificate-authority-data that is not a base64 PEM certificate`);
  }
  return { server, caCertificate };
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The `<kind>` object of the entry of `list` named `name` (kubeconfig lists are `{name, <kind>: {...}}`). */
function namedEntry(list: unknown, name: string, kind: "context" | "cluster"): Record<string, unknown> {
  const entries = Array.isArray(list) ? list.map(asRecord) : [];
  const entry = entries.find((candidate) => candidate.name === name);
  if (entry === undefined) throw new Error(`has no ${kind} named "${name}"`);
  return asRecord(entry[kind]);
}
