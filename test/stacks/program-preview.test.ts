import { describeStackProgram } from "./program-shared";

describeStackProgram("preview", { clusterType: "multicloud", ingressNodes: 2, pools: 1, protect: false });
