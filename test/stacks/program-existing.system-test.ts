import * as pulumi from "@pulumi/pulumi";
import { cloudInitSchema } from "../gateway/support/checkers";
import { valueOf } from "../support/pulumi-mocks";
import { type ProgramRun } from "../support/run-program";
import { existingClusterConfig, stackProgramRun } from "./program-shared";

/* The preview stack file on an existing cluster with an external gateway host: its exported cloud-init, judged by cloud-init. */

const program = stackProgramRun("preview", existingClusterConfig());
let run: ProgramRun;
beforeAll(() => {
  run = program();
});

describe("the preview stack on an existing cluster with an external gateway host", () => {
  it("exports a gateway cloud-init that `cloud-init schema` accepts", async () => {
    const result = cloudInitSchema(await valueOf(run.outputs.gatewayCloudInit as pulumi.Output<string>));
    expect(`${result.stdout}${result.stderr}`).toContain("Valid cloud-config");
  });
});
