import { renderBootstrapScript } from "../../infra/gateway";
import { installFunctionOf } from "./support/bootstrap";
import { gatewayPlan } from "./support/plan";

// The bootstrap script as rendered; bootstrap.system-test.ts runs it (bash, curl, sha256sum).

const script = renderBootstrapScript(gatewayPlan());
const installFunction = installFunctionOf(script);

describe("bootstrap download check", () => {
  it("is present in the rendered script", () => {
    expect(installFunction).toContain("sha256sum --check --status");
  });
});
