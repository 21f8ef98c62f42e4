/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Typechecking is done once by `npm run typecheck`; per-file isolated transpiling keeps jest fast.
    "^.+\\.ts$": ["ts-jest", {}],
  },
  testTimeout: 30000,
};
