import * as pulumi from "@pulumi/pulumi";
import { validateAgainstKubernetesSchema } from "../support/kubernetes-schema";
import {
  isSecret,
  isSecretInput,
  onlyResource,
  plainStrings,
  resourcesOfType,
  settle,
  unwrapSecret,
  valueOf,
  type RecordedResource,
} from "../support/pulumi-mocks";

const APPLICATION = "scaleway:iam/application:Application";
const POLICY = "scaleway:iam/policy:Policy";
const API_KEY = "scaleway:iam/apiKey:ApiKey";
const SECRET = "kubernetes:core/v1:Secret";
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const PROJECT = "11111111-2222-4333-8444-555555555555";
/** What the mock cloud returns as the API key's secret key. */
const SECRET_KEY = "99999999-8888-4777-8666-555555555555";

let recorded: RecordedResource[];
import { isScalewayRegistryImage, registryHostOf } from "../../components/registry-host";

let components: typeof import("../../components");

/**
 * Mocks that record every resource like test/support/pulumi-mocks.ts and, like Scaleway, issue an API key's
 * secret key at creation (the shared harness computes no IAM outputs).
 */
function recordWithIssuedKeys(): RecordedResource[] {
  const list: RecordedResource[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        list.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true });
        const issued = args.type === API_KEY ? { accessKey: "SCWACCESSKEY00000000", secretKey: SECRET_KEY } : {};
        return { id: `${args.name}-id`, state: { ...args.inputs, ...issued } };
      },
      call: (args) => args.inputs,
    },
    "iot-udp-ingress",
    "test",
    false,
  );
  return list;
}

beforeAll(async () => {
  recorded = recordWithIssuedKeys();
  components = await import("../../components");
});
beforeEach(() => recorded.splice(0));

type Args = import("../../components").RegistryPullSecretArgs;

function createPullSecret(extra: Partial<Args> = {}) {
  return new components.RegistryPullSecret("pull", {
    registry: "rg.fr-par.scw.cloud",
    projectId: PROJECT,
    namespace: "iot-decoder",
    tags: ["project=iot"],
    ...extra,
  });
}

describe("RegistryPullSecret", () => {
  it("creates an IAM application whose only policy reads the registry of one Project", async () => {
    createPullSecret();
    await settle();
    expect(onlyResource(recorded, APPLICATION, "pull-application").inputs).toEqual({
      name: "pull",
      description: "Pulls container images from rg.fr-par.scw.cloud (read-only); managed by Pulumi (iot-udp-ingress)",
      tags: ["project=iot"],
    });
    expect(onlyResource(recorded, POLICY, "pull-policy").inputs).toEqual({
      name: "pull-registry-read",
      description: "Read-only access to the Container Registry for pull",
      applicationId: "pull-application-id",
      rules: [{ projectIds: [PROJECT], permissionSetNames: ["ContainerRegistryReadOnly"] }],
      tags: ["project=iot"],
    });
    expect(onlyResource(recorded, API_KEY, "pull-api-key").inputs).toEqual({
      applicationId: "pull-application-id",
      description: "Registry pull key of pull; managed by Pulumi",
    });
    // Nothing else: no user, group or organization-wide grant.
    expect(recorded.map((resource) => resource.type).sort()).toEqual([
      "iot-udp-ingress:index:RegistryPullSecret",
      SECRET,
      APPLICATION,
      API_KEY,
      POLICY,
    ].sort());
  });

  it("writes a dockerconfigjson Secret for the registry host, user nologin, password the key's secret, as a secret", async () => {
    const component = createPullSecret({ secretName: "decoder-registry" });
    await settle();
    const secret = onlyResource(recorded, SECRET, "pull-secret");
    expect(secret.inputs.type).toBe("kubernetes.io/dockerconfigjson");
    expect(secret.inputs.metadata).toEqual({
      name: "decoder-registry",
      namespace: "iot-decoder",
      labels: {
        "app.kubernetes.io/name": "decoder-registry",
        "app.kubernetes.io/component": "registry-credentials",
        "app.kubernetes.io/part-of": "iot-udp-ingress",
        "app.kubernetes.io/managed-by": "pulumi",
      },
    });
    // The whole stringData arrives as one secret (its only value is secret).
    expect(isSecretInput(secret.inputs.stringData)).toBe(true);
    const stringData = unwrapSecret(secret.inputs.stringData) as Record<string, unknown>;
    expect(Object.keys(stringData)).toEqual([".dockerconfigjson"]);
    const config = JSON.parse(unwrapSecret(stringData[".dockerconfigjson"]) as string);
    expect(config).toEqual({
      auths: {
        "rg.fr-par.scw.cloud": {
          username: "nologin",
          password: SECRET_KEY,
          auth: Buffer.from(`nologin:${SECRET_KEY}`).toString("base64"),
        },
      },
    });
    for (const resource of recorded) {
      for (const { path, text } of plainStrings(resource.inputs)) {
        expect(`${resource.name}.${path}: ${text}`).not.toContain(SECRET_KEY);
      }
    }
    expect(await valueOf(component.secretName)).toBe("decoder-registry");
    expect(await valueOf(component.applicationId)).toBe("pull-application-id");
    expect(await valueOf(component.accessKey)).toBe("SCWACCESSKEY00000000");
    expect(await isSecret(component.secretName)).toBe(false);
    // The rendered Secret is a valid Kubernetes object.
    expect(() => validateAgainstKubernetesSchema(secret)).not.toThrow();
  });

  it("creates the Secret only once the key's policy exists", async () => {
    const dependsOn = new Map<string, string[]>();
    new components.RegistryPullSecret(
      "pull",
      { registry: "rg.fr-par.scw.cloud", projectId: PROJECT, namespace: "iot-decoder" },
      {
        transformations: [
          (args) => {
            const list = ([] as pulumi.Resource[]).concat((args.opts.dependsOn as pulumi.Resource[] | undefined) ?? []);
            dependsOn.set(args.name, list.map((resource) => (resource as unknown as { __name: string }).__name));
            return undefined;
          },
        ],
      },
    );
    await settle();
    expect(dependsOn.get("pull-secret")).toEqual(["pull-policy"]);
  });

  it("defaults the Secret name to scaleway-registry", async () => {
    createPullSecret();
    await settle();
    expect((onlyResource(recorded, SECRET).inputs.metadata as { name: string }).name).toBe("scaleway-registry");
  });

  it.each([
    [{ registry: "docker.io" }, "registry"],
    [{ registry: "rg.fr-par.scw.cloud/iot" }, "registry"],
    [{ registry: "rg.eu-west.scw.cloud" }, "registry"],
    [{ projectId: "not-a-project" }, "projectId"],
    [{ secretName: "Bad_Name" }, "secretName"],
    [{ applicationName: " " }, "applicationName"],
  ] as Array<[Partial<Args>, string]>)("rejects %p at property %p", (extra, propertyPath) => {
    expect(() => createPullSecret(extra)).toThrow(expect.objectContaining({ propertyPath }));
    expect(resourcesOfType(recorded, APPLICATION)).toEqual([]);
  });
});

describe("registryHostOf / isScalewayRegistryImage", () => {
  it.each([
    ["rg.fr-par.scw.cloud/iot/decoder:1.8.0", "rg.fr-par.scw.cloud", true],
    ["rg.nl-ams.scw.cloud/ns/app@sha256:" + "a".repeat(64), "rg.nl-ams.scw.cloud", true],
    ["rg.pl-waw.scw.cloud/ns/app:1.0.0", "rg.pl-waw.scw.cloud", true],
    ["envoyproxy/envoy:v1.40.2", "docker.io", false],
    ["node:22.21.1-alpine3.22", "docker.io", false],
    ["ghcr.io/acme/decoder:1.0.0", "ghcr.io", false],
    ["localhost:5000/decoder:1.0.0", "localhost:5000", false],
    ["rg.fr-par.scw.cloud.evil.example/x:1.0.0", "rg.fr-par.scw.cloud.evil.example", false],
  ])("%s is served by %s (Scaleway: %p)", (image, host, scaleway) => {
    expect(registryHostOf(image)).toBe(host);
    expect(isScalewayRegistryImage(image)).toBe(scaleway);
  });
});

describe("DecoderDeployment imagePullSecrets", () => {
  const placement = {
    nodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
    nodeTaint: { key: "iot-udp-ingress/role", value: "ingress", effect: "NoSchedule" as const },
  };
  function createDecoder(imagePullSecrets?: import("@pulumi/pulumi").Input<string>[]) {
    return new components.DecoderDeployment("dec", {
      namespace: "iot-decoder",
      selectorLabels: { "app.kubernetes.io/name": "decoder" },
      image: "rg.fr-par.scw.cloud/iot/decoder:1.8.0",
      replicas: 2,
      port: 5683,
      placement,
      deviceSubnets: ["10.200.0.0/20"],
      imagePullSecrets,
    });
  }
  const podSpec = () => (onlyResource(recorded, DEPLOYMENT).inputs as any).spec.template.spec;

  it("lists the pull secrets in the pod spec", async () => {
    const pull = createPullSecret();
    createDecoder([pull.secretName, "other-registry"]);
    await settle();
    expect(podSpec().imagePullSecrets).toEqual([{ name: "scaleway-registry" }, { name: "other-registry" }]);
  });

  it.each([undefined, []])("has no imagePullSecrets by default (%p)", async (imagePullSecrets) => {
    createDecoder(imagePullSecrets);
    await settle();
    expect(podSpec()).not.toHaveProperty("imagePullSecrets");
  });
});

