import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as semver from "semver";

/*
 * `engines.node` in package.json is a promise to users: every Node version it admits must run every locked package.
 * npm ci only warns when a package needs more (and .npmrc's engine-strict makes it fail on the running Node only),
 * so this holds the declared range against every package in the lockfile.
 */

interface LockPackage {
  readonly version?: string;
  readonly engines?: { readonly node?: string } | readonly string[];
}

const root = join(__dirname, "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> };

/** Locked packages whose own `engines.node` does not admit every Node version that `declared` admits. */
function packagesNeedingMoreThan(declared: string, packages: Record<string, LockPackage>): string[] {
  return Object.entries(packages)
    .filter(([path]) => path !== "")
    .flatMap(([path, entry]) => {
      const needs = Array.isArray(entry.engines) ? undefined : (entry.engines as { node?: string } | undefined)?.node;
      if (needs === undefined || semver.subset(declared, needs, { includePrerelease: false })) return [];
      return [`${path.replace(/^node_modules\//, "")}@${entry.version ?? "?"} needs node ${needs}`];
    });
}

describe("package.json engines", () => {
  it("admits only Node versions that every locked package supports", () => {
    expect(packagesNeedingMoreThan(manifest.engines.node, lock.packages)).toEqual([]);
  });

  it("admits the Node version that runs the tests", () => {
    expect(semver.satisfies(process.version, manifest.engines.node)).toBe(true);
  });

  it("finds a package that needs a newer Node than the range admits", () => {
    // The state this test was written against: @pulumi/pulumi 3.270.0 needs Node 22 while engines said >=20.
    const packages = { "node_modules/@pulumi/pulumi": { version: "3.270.0", engines: { node: ">=22" } } };
    expect(packagesNeedingMoreThan(">=20", packages)).toEqual(["@pulumi/pulumi@3.270.0 needs node >=22"]);
    expect(packagesNeedingMoreThan(">=22", packages)).toEqual([]);
  });
});
