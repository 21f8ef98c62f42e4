import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseStackConfig, type EnvironmentConfig } from "../../stacks/config";
import { decoderImagePullCredentials, registryProjectId } from "../../stacks/environment";
import { rawConfigOfStack, STACKS } from "../support/stack-files";
import { changed, configProblems, kosmosCluster, validConfig } from "../support/valid-config";

/*
 * The config keys of the cluster's pools and the decoder's image: external pools' maxSize, the untainted pool every
 * cluster needs, and the decoder image's pull credentials.
 */


function parsed(change: (config: Record<string, any>) => void = () => undefined): EnvironmentConfig {
  return parseStackConfig(changed(validConfig, change));
}

function problemsOf(change: (config: Record<string, any>) => void): string[] {
  return configProblems(changed(validConfig, change));
}

const UNTAINTED =
  "cluster.generalPools: expected at least one general pool with size >= 1 (and minSize >= 1 if it autoscales): the ingress pool " +
  "carries a NoSchedule taint and external pools start empty, so CoreDNS and other cluster add-ons would have no node to run on";

describe("the untainted pool every cluster needs (cluster.generalPools)", () => {
  it.each([
    ["no general pool", (c: Record<string, any>) => delete c.cluster.generalPools],
    ["an empty list", (c: Record<string, any>) => (c.cluster.generalPools = [])],
    ["only external pools", (c: Record<string, any>) => {
      c.cluster.generalPools = [];
      c.cluster.externalPools = [{ name: "onprem", maxSize: 3 }];
    }],
    ["an autoscaling pool that may scale to 0", (c: Record<string, any>) => {
      c.cluster.generalPools = [{ name: "backend", nodeType: "PRO2-M", size: 1, autoscaling: true, minSize: 0, maxSize: 3 }];
    }],
  ])("rejects a cluster with %s", (_name, change) => {
    expect(problemsOf(change)).toEqual([UNTAINTED]);
  });

  it.each([
    ["a fixed pool of one node", [{ name: "system", nodeType: "PLAY2-NANO", size: 1 }]],
    ["an autoscaling pool with minSize 1", [{ name: "backend", nodeType: "PRO2-M", size: 2, autoscaling: true, minSize: 1, maxSize: 4 }]],
    ["one of several pools", [{ name: "a", nodeType: "PRO2-M", size: 1, autoscaling: true, minSize: 0, maxSize: 2 }, { name: "b", nodeType: "PRO2-M", size: 1 }]],
  ])("accepts %s", (_name, generalPools) => {
    expect(problemsOf((c) => (c.cluster.generalPools = generalPools))).toEqual([]);
  });

  it("rejects a general pool of size 0 by its schema", () => {
    expect(problemsOf((c) => (c.cluster.generalPools[0].size = 0))).toEqual([
      "cluster.generalPools[0].size: expected a number above 0",
    ]);
  });

  it.each(STACKS)("is satisfied by the %s stack file", (stack) => {
    const config = parseStackConfig(rawConfigOfStack(stack));
    expect(kosmosCluster(config.cluster).generalPools.some((pool) => pool.size >= 1 && (!pool.autoscaling || (pool.minSize ?? 0) >= 1))).toBe(true);
  });

  it("gives the preview stack one small untainted node", () => {
    expect(kosmosCluster(parseStackConfig(rawConfigOfStack("preview")).cluster).generalPools).toEqual([
      { name: "system", nodeType: "PLAY2-NANO", size: 1, autoscaling: false, autohealing: true },
    ]);
  });
});

describe("cluster.externalPools[].maxSize", () => {
  it("defaults to 1", () => {
    expect(kosmosCluster(parsed((c) => (c.cluster.externalPools = [{ name: "onprem" }])).cluster).externalPools).toEqual([{ name: "onprem", maxSize: 1 }]);
  });

  it.each([
    [0, "cluster.externalPools[0].maxSize: expected a number above 0"],
    [2.5, "cluster.externalPools[0].maxSize: expected a whole number"],
    ["3", "cluster.externalPools[0].maxSize: expected number, got string \"3\""],
  ])("rejects %p", (maxSize, expected) => {
    expect(problemsOf((c) => (c.cluster.externalPools = [{ name: "onprem", maxSize }]))).toEqual([expected]);
  });
});

describe("decoder.imagePullCredentials", () => {
  it.each([
    ["rg.fr-par.scw.cloud/iot/decoder:1.8.0", undefined, "scaleway"],
    ["rg.nl-ams.scw.cloud/iot/decoder:1.8.0", undefined, "scaleway"],
    ["rg.fr-par.scw.cloud/public/decoder:1.8.0", "none", "none"],
    ["ghcr.io/acme/decoder:1.8.0", undefined, "none"],
    ["acme/decoder:1.8.0", undefined, "none"],
  ])("for %s set to %p is %p", (image, imagePullCredentials, expected) => {
    const config = parsed((c) => {
      c.decoder.image = image;
      if (imagePullCredentials !== undefined) c.decoder.imagePullCredentials = imagePullCredentials;
    });
    expect(decoderImagePullCredentials(config)).toBe(expected);
  });

  it("rejects scaleway credentials for an image outside Scaleway's registry, naming both keys", () => {
    expect(
      problemsOf((c) => {
        c.decoder.image = "ghcr.io/acme/decoder:1.8.0";
        c.decoder.imagePullCredentials = "scaleway";
      }),
    ).toEqual([
      "decoder.imagePullCredentials: is scaleway, but decoder.image (ghcr.io/acme/decoder:1.8.0) is not in a Scaleway registry (rg.<region>.scw.cloud)",
    ]);
  });

  it("rejects an unknown mode", () => {
    expect(problemsOf((c) => (c.decoder.imagePullCredentials = "public"))).toEqual([
      "decoder.imagePullCredentials: expected one of scaleway, none",
    ]);
  });

  it("rejects a registry project that is not a Project id", () => {
    expect(problemsOf((c) => (c.decoder.registryProjectId = "my-project"))).toEqual([
      "decoder.registryProjectId: expected a Scaleway Project id (a lowercase UUID)",
    ]);
  });
});

describe("registryProjectId: the Project the registry read policy is scoped to", () => {
  const EXPLICIT = "11111111-1111-4111-8111-111111111111";
  const FROM_PROVIDER = "22222222-2222-4222-8222-222222222222";
  const FROM_ENV = "33333333-3333-4333-8333-333333333333";
  let environmentBefore: string | undefined;

  beforeEach(() => {
    environmentBefore = process.env.SCW_DEFAULT_PROJECT_ID;
    delete process.env.SCW_DEFAULT_PROJECT_ID;
    pulumi.runtime.setAllConfig({});
  });
  afterEach(() => {
    if (environmentBefore === undefined) delete process.env.SCW_DEFAULT_PROJECT_ID;
    else process.env.SCW_DEFAULT_PROJECT_ID = environmentBefore;
    pulumi.runtime.setAllConfig({});
  });

  it("prefers decoder.registryProjectId, then scaleway:projectId, then SCW_DEFAULT_PROJECT_ID", () => {
    process.env.SCW_DEFAULT_PROJECT_ID = FROM_ENV;
    expect(registryProjectId(parsed())).toBe(FROM_ENV);
    pulumi.runtime.setAllConfig({ "scaleway:projectId": FROM_PROVIDER });
    expect(registryProjectId(parsed())).toBe(FROM_PROVIDER);
    expect(registryProjectId(parsed((c) => (c.decoder.registryProjectId = EXPLICIT)))).toBe(EXPLICIT);
  });

  it("is a config error when no project is known", () => {
    expect(() => registryProjectId(parsed())).toThrow(ConfigError);
    try {
      registryProjectId(parsed());
    } catch (error) {
      expect((error as ConfigError).problems.map((problem) => problem.path)).toEqual(["decoder.registryProjectId"]);
    }
  });

  it("is a config error when the provider's project is not a Project id", () => {
    process.env.SCW_DEFAULT_PROJECT_ID = "not-a-uuid";
    expect(() => registryProjectId(parsed())).toThrow(
      /decoder\.registryProjectId: SCW_DEFAULT_PROJECT_ID \(not-a-uuid\) is not a Scaleway Project id/,
    );
  });
});
