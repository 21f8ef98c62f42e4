import { describeStackProgram } from "./program-shared";

// 2,000 devices x min(1, 60 s / 60 s) / 2 nodes = 1,000 sessions per node, x 1.5 headroom.
describeStackProgram("preview", {
  clusterType: "multicloud",
  ingressNodes: 2,
  pools: 1,
  protect: false,
  decoderReplicas: 2,
  deviceSubnets: ["10.200.0.0/20"],
  maxConnections: 1500,
});
