// The unit tier: `npm test` (after the typecheck and the build). Pure tests and tests under Pulumi's mocks; they run
// Node programs at most, never a system tool or anything that needs root (test/support/unit-tier-guard.ts enforces
// that). The other tiers have their own configs and file suffixes, which this testMatch leaves out:
// *.system-test.ts (test/system/jest.config.js, `npm run test:system`), *.preview-test.ts (test/preview/, `npm run
// test:preview`) and *.cluster-test.ts (test/cluster/, `npm run test:cluster`).
require("./test/support/ci-output");

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  setupFiles: ["<rootDir>/test/support/unit-tier-guard.ts"],
  transform: {
    // Typechecking is done once by `npm run typecheck`; per-file isolated transpiling keeps jest fast.
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/tsconfig.jest.json" }],
  },
  testTimeout: 30000,
};
