// The offline `pulumi preview` tests: run by `npm run test:preview` (scripts/ci-preview.sh), never by
// `npm test`, whose testMatch (*.test.ts) skips these files. Each preview runs the real engine,
// language host and provider plugins, which takes far longer than a unit test.
require("../support/ci-output");

/** @type {import('jest').Config} */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  roots: ["<rootDir>/test/preview"],
  testMatch: ["**/*.preview-test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/tsconfig.jest.json" }],
  },
  testTimeout: 15 * 60 * 1000,
};
