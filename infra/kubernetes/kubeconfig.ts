import { stringify } from "yaml";

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
