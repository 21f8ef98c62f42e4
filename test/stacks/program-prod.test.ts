import { describeStackProgram } from "./program-shared";

describeStackProgram("prod", { clusterType: "multicloud-dedicated-4", ingressNodes: 4, pools: 3, protect: true });
