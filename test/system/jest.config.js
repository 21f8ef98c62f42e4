// The system tier: `npm run test:system` (root). Every *.system-test.ts under test/ runs a real tool on what the
// project renders (shellcheck, cloud-init, nft in network namespaces, systemd-analyze, jq, bash, wg, wireguard-go,
// conntrack, promtool, and Envoy's own API through the Go checker in tools/envoy-api) or needs root. `npm test`,
// whose testMatch (*.test.ts) skips these files, needs none of that. The global setup fails the whole run, naming
// what is missing, when it is not root or a tool is not installed: this tier never skips.
require("../support/ci-output");

/** @type {import('jest').Config} */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.system-test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/tsconfig.jest.json" }],
  },
  globalSetup: "<rootDir>/test/system/global-setup.ts",
  testTimeout: 60000,
};
