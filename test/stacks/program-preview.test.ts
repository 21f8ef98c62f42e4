import { describeStackProgram } from "./program-shared";

// 2,000 devices x min(1, 60 s / 60 s) / 2 nodes = 1,000 sessions per node, x 1.5 headroom.
describeStackProgram("preview", {
  clusterType: "multicloud",
  ingressNodes: 2,
  // The ingress pool and the untainted `system` pool for the cluster add-ons.
  pools: 2,
  protect: false,
  decoderReplicas: 2,
  deviceSubnets: ["10.200.0.0/20"],
  maxConnections: 1500,
  // downlinkSourceRewrite is on: every datagram to a device leaves with the ingress address (= the uplink address).
  concentratorAllowedIps: { "test-apn": ["10.5.1.1/32"] },
});
