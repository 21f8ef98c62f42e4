import { describeStackProgram } from "./program-shared";

// 250,000 devices x min(1, 60 s / 300 s) / 4 nodes = 12,500 sessions per node, x 1.5 headroom.
describeStackProgram("prod", {
  clusterType: "multicloud-dedicated-4",
  ingressNodes: 4,
  pools: 3,
  protect: true,
  decoderReplicas: 8,
  deviceSubnets: ["10.128.0.0/14", "10.160.0.0/16"],
  maxConnections: 18750,
  // downlinkSourceRewrite is off: downlinks leave with pod addresses, so the concentrators route the pod CIDR too.
  concentratorAllowedIps: {
    "apn-primary": ["10.5.1.1/32", "100.64.0.0/15"],
    "apn-secondary": ["10.5.1.1/32", "100.64.0.0/15"],
  },
});
