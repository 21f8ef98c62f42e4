import { ConfigError, parseStackConfig } from "../../stacks/config";
import { createEnvironment } from "../../stacks/environment";
import { UNPINNED_SHA256 } from "../../stacks/gateway-config";
import { withSecretsRevealed } from "../support/kubernetes-schema";
import { loggedWarnings, onlyResource, recordResources, settle, valueOf, type RecordedResource } from "../support/pulumi-mocks";
import { rawConfigOfStack } from "../support/stack-files";

describe("a download sum that is not pinned yet", () => {
  let recorded: RecordedResource[];
  let projectIdBefore: string | undefined;
  beforeAll(() => {
    // The decoder's registry credentials are scoped to the provider's project, as SCW_DEFAULT_PROJECT_ID gives it.
    projectIdBefore = process.env.SCW_DEFAULT_PROJECT_ID;
    process.env.SCW_DEFAULT_PROJECT_ID = "00000000-0000-4000-8000-0000000000aa";
    recorded = recordResources({ stack: "preview" });
  });
  afterAll(() => {
    if (projectIdBefore === undefined) delete process.env.SCW_DEFAULT_PROJECT_ID;
    else process.env.SCW_DEFAULT_PROJECT_ID = projectIdBefore;
  });

  it("stops a deployment before the gateway exists, naming the key", () => {
    const config = parseStackConfig(rawConfigOfStack("preview"));
    expect(config.gateway.tools.kgctl.sha256).toBeUndefined();
    expect(() => createEnvironment("deploy", config, false)).toThrow(ConfigError);
    expect(() => createEnvironment("deploy-again", config, false)).toThrow(
      "gateway.tools.kgctl.sha256: is required to deploy: download the binary on a trusted machine",
    );
  });

  it("lets a plan through with a sum no download matches, so the gateway would refuse it", async () => {
    const config = parseStackConfig(rawConfigOfStack("preview"));
    const environment = createEnvironment("plan", config, true);
    await valueOf(environment.gateway.cloudInit);
    await settle();
    const server = onlyResource(recorded, "scaleway:instance/server:Server", "plan-gateway-vm");
    const cloudInit = (withSecretsRevealed(server.inputs.userData) as Record<string, string>)["cloud-init"];
    expect(cloudInit).toContain(UNPINNED_SHA256);
    expect(cloudInit).toContain(config.gateway.tools.kubectl.sha256);
    expect(loggedWarnings).toEqual([
      "gateway.tools.kgctl.sha256 is not pinned: this plan carries a placeholder sum that no download matches, and `pulumi up` will refuse to run until it is pinned.",
    ]);
  });

  it("deploys once the sum is pinned", () => {
    const raw = rawConfigOfStack("preview") as any;
    raw.gateway.tools.kgctl.sha256 = "b".repeat(64);
    expect(() => createEnvironment("pinned", parseStackConfig(raw), false)).not.toThrow();
  });
});
