import type { WireguardGatewayArgs } from "../../../components";

/** A gateway VM with two concentrators, admin SSH and a protected IP: the component tests' common arguments. */
export const GATEWAY_ARGS: WireguardGatewayArgs = {
  zone: "fr-par-2",
  instanceType: "PRO2-S",
  tunnelAddress: "10.5.0.1",
  deviceSubnets: ["10.128.0.0/14", "10.160.0.0/16"],
  adminCidrs: ["198.51.100.0/28"],
  uplink: {
    address: "10.5.1.1",
    concentrators: [
      {
        name: "apn-primary",
        publicKey: "BdAxX2fIISln69q0i989YzMy3LbRkqEmGxPOFnGljh4=",
        endpoint: "203.0.113.20:51821",
        sourceCidrs: ["203.0.113.20/32"],
        deviceSubnets: ["10.128.0.0/14"],
      },
      {
        name: "apn-secondary",
        publicKey: "HhwzIz2foDdBDUDprEiKmaiUuZj6vXIUPmVQwPD9IBA=",
        sourceCidrs: ["203.0.113.21/32", "203.0.113.22/32"],
        deviceSubnets: ["10.160.0.0/16"],
      },
    ],
  },
  ingress: { address: "10.5.1.1", port: 5683 },
  devices: { expectedCount: 250000, reportIntervalSeconds: 300 },
  steering: {
    ingressNodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
    envoyNamespace: "iot-ingress",
    envoyPodSelector: "app.kubernetes.io/name=envoy-udp-ingress",
    decoderNamespace: "iot-decoder",
    decoderServiceName: "decoder",
  },
  tools: {
    kgctl: { version: "0.6.0", sha256: "a".repeat(64) },
    kubectl: { version: "v1.34.1", sha256: "7721f265e18709862655affba5343e85e1980639395d5754473dafaadcaa69e3" },
  },
  cluster: { podCidr: "100.64.0.0/15", apiServerUrl: "https://cluster.api.k8s.fr-par.scw.cloud:6443", caCertificate: "Q0EtREFUQQ==" },
  identityNamespace: "iot-ingress",
  protectPublicIp: true,
  tags: ["project=iot"],
};
