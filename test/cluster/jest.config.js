// The tests against a local Kubernetes control plane (tools/kubernetes/local-cluster.sh): run by
// `npm run test:cluster`, never by `npm test`, whose testMatch (*.test.ts) skips these files. The
// global setup starts the cluster when none runs (building the binaries on first use, see
// tools/kubernetes/README.md) and stops it afterwards; LOCAL_CLUSTER_KEEP=1 leaves it running.
// The files share one cluster and change it (taints, objects), so they run one at a time.
require("../support/ci-output");

/** @type {import('jest').Config} */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  roots: ["<rootDir>/test/cluster"],
  testMatch: ["**/*.cluster-test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/tsconfig.jest.json" }],
  },
  globalSetup: "<rootDir>/test/cluster/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/cluster/support/global-teardown.ts",
  maxWorkers: 1,
  testTimeout: 3 * 60 * 1000,
};
