import { ConfigError, parseStackConfig } from "../../stacks/config";

/* The smallest valid stack config the config tests start from, and the helpers they check changes of it with. */

/** A small valid config; each invalid case changes one thing in a fresh copy of it. */
export function validConfig(): Record<string, any> {
  return {
    environment: "preview",
    devices: { subnets: ["10.200.0.0/20"] },
    cluster: {
      name: "iot-test",
      kubernetesVersion: "1.34.2",
      ingressPool: { nodeType: "PRO2-S", size: 4 },
      // Every cluster needs an untainted pool with nodes (see test/stacks/cluster-and-pull-config.test.ts).
      generalPools: [{ name: "system", nodeType: "PLAY2-NANO", size: 1 }],
    },
    gateway: {
      adminCidrs: ["198.51.100.0/28"],
      uplink: {
        concentrators: [
          { name: "apn", publicKey: "FivtuBrHeD4Z4BpQca5Gng+gApYzRGb3tdtj68rbMUA=", sourceCidrs: ["203.0.113.10/32"] },
        ],
      },
      tools: {
        kgctl: { version: "0.6.0" },
        kubectl: { version: "v1.34.1", sha256: "7721f265e18709862655affba5343e85e1980639395d5754473dafaadcaa69e3" },
      },
    },
    decoder: { image: "rg.fr-par.scw.cloud/iot/decoder:1.8.0", replicas: 4 },
  };
}

/** The Kosmos form of a parsed cluster section; fails the test on the `cluster.existing` form. */
export function kosmosCluster<T extends object>(cluster: T): Exclude<T, { existing: unknown }> {
  if ("existing" in cluster) throw new Error("expected the Kosmos form of cluster, got cluster.existing");
  return cluster as Exclude<T, { existing: unknown }>;
}

/** A fresh copy of `base()` changed by `change`: each test case changes one thing. */
export function changed(base: () => Record<string, any>, change: (config: Record<string, any>) => void): Record<string, any> {
  const config = base();
  change(config);
  return config;
}

/** Every problem parseStackConfig reports for `config`, as `path: message`; none for a valid config. */
export function configProblems(config: Record<string, any>): string[] {
  try {
    parseStackConfig(config);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => `${problem.path}: ${problem.message}`);
    throw error;
  }
  return [];
}
