import { stringify } from "yaml";

/** A self-signed CA certificate (public, made for these tests), as kubeconfig files carry it: base64 PEM. */
export const FIXTURE_CA_DATA = Buffer.from(`-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUIiEFqz0VpC3IMsizqV8JT/njk3YwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKZml4dHVyZS1jYTAeFw0yNjEyMDIwMDU5MjNaFw0zNjExMjkw
MDU5MjNaMBUxEzARBgNVBAMMCmZpeHR1cmUtY2EwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARBYZNLmeJYLCYZ5INUCPpI4FI5T0sYmRwGm7vw/RtrgJreBKDdySEt
g4FA8PuTWfW6PE9wUWPfRRYKI1fUtO+To1MwUTAdBgNVHQ4EFgQUytnb53GnCqvs
nZ07WQWY4jTEqH8wHwYDVR0jBBgwFoAUytnb53GnCqvsnZ07WQWY4jTEqH8wDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA4++N+QsUh5P2u/x77IPy
bmFxu2je3KbPFvQehdyNzxoCIDBbnUg7VsN4LVZS8gZfej+ivLM3pUDxtta3XaMg
3q7K
-----END CERTIFICATE-----
`).toString("base64");

/** An admin kubeconfig of an existing cluster; `change` edits the parsed document before it is written. */
export function existingClusterKubeconfig(change: (document: Record<string, any>) => void = () => undefined): string {
  const document: Record<string, any> = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "mine", cluster: { server: "https://203.0.113.50:6443", "certificate-authority-data": FIXTURE_CA_DATA } }],
    users: [{ name: "admin", user: { token: "admin-token-that-must-stay-secret" } }],
    contexts: [{ name: "admin@mine", context: { cluster: "mine", user: "admin" } }],
    "current-context": "admin@mine",
  };
  change(document);
  return stringify(document);
}
