import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

/** A resource the program registered, as the engine would have received it. */
export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  readonly custom: boolean;
}

/** Outputs the cloud would compute, so components that read them (URLs, certificates) see realistic values. */
function computedOutputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case "random:index/randomBytes:RandomBytes": {
      // Deterministic per name, so tests can recompute the derived WireGuard keys.
      const bytes = createHash("sha256").update(name).digest();
      return { base64: bytes.toString("base64"), hex: bytes.toString("hex") };
    }
    case "kubernetes:core/v1:Secret":
      return inputs.type === "kubernetes.io/service-account-token"
        ? { data: { token: Buffer.from(`sa-token-of-${name}`).toString("base64") } }
        : {};
    case "scaleway:kubernetes/cluster:Cluster":
      return {
        apiserverUrl: `https://${name}.api.k8s.fr-par.scw.cloud:6443`,
        kubeconfigs: [
          {
            configFile: `apiVersion: v1\nkind: Config\n# admin kubeconfig of ${name}\n`,
            host: `https://${name}.api.k8s.fr-par.scw.cloud:6443`,
            token: `admin-token-of-${name}`,
            clusterCaCertificate: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
          },
        ],
      };
    case "pulumi:pulumi:StackReference":
      return {
        outputs: { kubeconfig: `apiVersion: v1\nkind: Config\n# admin kubeconfig of ${name}\n`, clusterId: "fr-par/cluster" },
        secretOutputNames: ["kubeconfig"],
      };
    case "scaleway:iam/apiKey:ApiKey":
      // Scaleway returns the secret key once, at creation.
      return { accessKey: "SCWMOCKACCESSKEY0000", secretKey: `00000000-0000-4000-8000-${createHash("sha256").update(name).digest("hex").slice(0, 12)}` };
    case "scaleway:instance/ip:Ip":
      return { address: mockIpAddress(name), projectId: inputs.projectId ?? process.env.SCW_DEFAULT_PROJECT_ID ?? MOCK_PROJECT_ID };
    default:
      return {};
  }
}

/** The Project of Scaleway resources when neither the resource nor SCW_DEFAULT_PROJECT_ID names one, as the provider defaults it. */
export const MOCK_PROJECT_ID = "00000000-0000-4000-8000-0000000000ff";

/** The address Scaleway gives the flexible IP named `name`: distinct per name, so tests can tell a pair's IPs apart. */
export function mockIpAddress(name: string): string {
  const digest = createHash("sha256").update(name).digest();
  return `51.15.${digest[0]}.${(digest[1] % 254) + 1}`;
}

/**
 * The resource's ID as the cloud would give it. Scaleway's zonal resources are `<zone>/<uuid>` (the provider's
 * zonal.NewIDString), and the gateway pair takes the flexible IP's UUID out of its ID; the others keep `<name>-id`.
 */
export function mockId(type: string, name: string, inputs: Record<string, unknown>): string {
  if (type !== "scaleway:instance/ip:Ip") return `${name}-id`;
  const hex = createHash("sha256").update(`id:${name}`).digest("hex");
  const zone = typeof inputs.zone === "string" ? inputs.zone : "fr-par-1";
  return `${zone}/${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The warnings the program logged with `pulumi.log.warn` since the mocks were installed. Without an engine the SDK
 * prints them with console.warn, which jest shows as a block with a code frame; a test that expects one asserts it
 * here instead, and a passing run reads clean.
 */
export const loggedWarnings: string[] = [];

/** Pulumi's own prefix for a log.warn without an engine (@pulumi/pulumi log/index.js). */
const PULUMI_WARNING = /^warning: \[runtime\] /;

function captureLoggedWarnings(): void {
  const original = console.warn.bind(console);
  if ((console.warn as { captured?: boolean }).captured) return;
  const capture = Object.assign(
    (...args: unknown[]) => {
      const text = args.map(String).join(" ");
      if (PULUMI_WARNING.test(text)) loggedWarnings.push(text.replace(PULUMI_WARNING, ""));
      else original(...args);
    },
    { captured: true },
  );
  console.warn = capture;
}

/**
 * Installs Pulumi mocks that record every resource. Returns the live list: it fills as the program runs.
 * Call from `beforeAll`, before the program or component module is loaded. Pulumi's logged warnings go to
 * `loggedWarnings`.
 */
export function recordResources(options: { project?: string; stack?: string; preview?: boolean } = {}): RecordedResource[] {
  captureLoggedWarnings();
  const recorded: RecordedResource[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true });
        return {
          id: mockId(args.type, args.name, args.inputs),
          state: { ...args.inputs, ...computedOutputs(args.type, args.name, args.inputs) },
        };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    options.project ?? "iot-udp-ingress",
    options.stack ?? "test",
    options.preview ?? false,
  );
  return recorded;
}

/** Resolves an Output (or a plain value) for assertions; mocks resolve every output. */
export function valueOf<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((value) => resolve(value as T)));
}

/** Whether an Output is marked secret. */
export function isSecret<T>(output: pulumi.Output<T>): Promise<boolean> {
  return pulumi.isSecret(output);
}

/** Lets the engine finish registering resources created from `apply` callbacks. */
export async function settle(): Promise<void> {
  for (let round = 0; round < 5; round += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export function resourcesOfType(recorded: readonly RecordedResource[], type: string): RecordedResource[] {
  return recorded.filter((resource) => resource.type === type);
}

export function onlyResource(recorded: readonly RecordedResource[], type: string, name?: string): RecordedResource {
  const matches = resourcesOfType(recorded, type).filter((resource) => name === undefined || resource.name === name);
  if (matches.length !== 1) {
    throw new Error(`expected exactly one ${type}${name ? ` named ${name}` : ""}, found ${matches.length}`);
  }
  return matches[0];
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a recorded input value arrived as a secret. */
export function isSecretInput(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value inside a secret input, or the value itself. */
export function unwrapSecret(value: unknown): unknown {
  return isSecretInput(value) ? (value as { value: unknown }).value : value;
}

/**
 * Every string of a resource's inputs that is NOT inside a secret, with its path. Tests search it for key material
 * and tokens to prove they never travel in plain text.
 */
export function plainStrings(value: unknown, path = ""): Array<{ path: string; text: string }> {
  if (isSecretInput(value)) return [];
  if (typeof value === "string") return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((item, index) => plainStrings(item, `${path}[${index}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => plainStrings(item, path === "" ? key : `${path}.${key}`));
  }
  return [];
}
