import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as scaleway from "@pulumiverse/scaleway";
import { appLabels } from "./kubernetes-placement";
import { SCALEWAY_REGISTRY_HOST } from "./registry-host";

/**
 * Scaleway's permission set for pulling images: "List and read access to Container Registry", scoped by Project
 * (scaleway/docs-content pages/iam/reference-content/permission-sets.mdx; the name as the provider's own tests use
 * it: terraform-provider-scaleway v2.80.0 internal/services/iam/policy_test.go).
 */
export const REGISTRY_READ_PERMISSION_SET = "ContainerRegistryReadOnly";

/**
 * The user name of a Scaleway registry login; the password is an API key's secret key
 * (`docker login rg.fr-par.scw.cloud/<namespace> -u nologin --password-stdin <<< "$SCW_SECRET_KEY"`,
 * scaleway/docs-content pages/container-registry/how-to/connect-docker-cli.mdx).
 */
export const SCALEWAY_REGISTRY_USERNAME = "nologin";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface RegistryPullSecretArgs {
  /** The Scaleway registry host the images come from, `rg.<region>.scw.cloud` (e.g. `rg.fr-par.scw.cloud`). */
  registry: string;
  /** UUID of the Scaleway Project that owns the registry namespace(s); the read permission is scoped to it. */
  projectId: pulumi.Input<string>;
  /** Kubernetes namespace of the Secret: pods can only use pull secrets of their own namespace. */
  namespace: pulumi.Input<string>;
  /** Name of the Secret, what pods list in `imagePullSecrets`. Default: `scaleway-registry`. */
  secretName?: string;
  /** Name of the IAM application (and the prefix of its policy's name). Default: the component name. */
  applicationName?: string;
  /** Tags on the IAM application and policy. Default: none. */
  tags?: pulumi.Input<string>[];
}

export const DEFAULT_REGISTRY_PULL_SECRET_NAME = "scaleway-registry";

/**
 * Least-privilege credentials for pulling private images from Scaleway's Container Registry into a cluster: an IAM
 * application whose only policy reads the registry of one Project, an API key of that application, and a
 * `kubernetes.io/dockerconfigjson` Secret with the key (user `nologin`). The key's secret never leaves Pulumi
 * secrets. The Kubernetes provider comes through `opts.provider(s)`; the Scaleway resources use the default
 * Scaleway provider unless `opts.providers` names one.
 *
 * Rotation: `pulumi up --replace <urn of the api key>` issues a new key and rewrites the Secret.
 */
export class RegistryPullSecret extends pulumi.ComponentResource {
  /** Name of the Secret, for `imagePullSecrets`; resolves once the Secret exists. */
  public readonly secretName: pulumi.Output<string>;
  /** Id of the IAM application that owns the key. */
  public readonly applicationId: pulumi.Output<string>;
  /** Access key of the API key (not secret: it identifies the key). */
  public readonly accessKey: pulumi.Output<string>;

  constructor(name: string, args: RegistryPullSecretArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:RegistryPullSecret", name, {}, opts);
    validateArgs(args);
    const applicationName = args.applicationName ?? name;
    const secretName = args.secretName ?? DEFAULT_REGISTRY_PULL_SECRET_NAME;

    const application = new scaleway.iam.Application(
      `${name}-application`,
      {
        name: applicationName,
        description: `Pulls container images from ${args.registry} (read-only); managed by Pulumi (iot-udp-ingress)`,
        tags: args.tags,
      },
      { parent: this },
    );

    // The policy is the application's only grant: read access to the Container Registry of one Project.
    const policy = new scaleway.iam.Policy(
      `${name}-policy`,
      {
        name: `${applicationName}-registry-read`,
        description: `Read-only access to the Container Registry for ${applicationName}`,
        applicationId: application.id,
        rules: [{ projectIds: [args.projectId], permissionSetNames: [REGISTRY_READ_PERMISSION_SET] }],
        tags: args.tags,
      },
      { parent: this },
    );

    const apiKey = new scaleway.iam.ApiKey(
      `${name}-api-key`,
      { applicationId: application.id, description: `Registry pull key of ${applicationName}; managed by Pulumi` },
      { parent: this, additionalSecretOutputs: ["secretKey"] },
    );

    const dockerConfigJson = pulumi.secret(
      apiKey.secretKey.apply((password) => {
        if (password === undefined || password === "") {
          throw new Error(`RegistryPullSecret ${name}: the API key has no secret key (an imported key has none; replace it)`);
        }
        return dockerConfigJsonOf(args.registry, SCALEWAY_REGISTRY_USERNAME, password);
      }),
    );

    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: { name: secretName, namespace: args.namespace, labels: appLabels(secretName, "registry-credentials") },
        type: "kubernetes.io/dockerconfigjson",
        stringData: { ".dockerconfigjson": dockerConfigJson },
      },
      // The key only pulls once its policy exists; a pod that starts earlier would back off on the pull.
      { parent: this, dependsOn: [policy], additionalSecretOutputs: ["data", "stringData"] },
    );

    this.secretName = secret.metadata.name;
    this.applicationId = application.id;
    this.accessKey = apiKey.accessKey;
    this.registerOutputs({ secretName: this.secretName, applicationId: this.applicationId, accessKey: this.accessKey });
  }
}

/** The `.dockerconfigjson` of a Secret of type `kubernetes.io/dockerconfigjson` for one registry host. */
export function dockerConfigJsonOf(registry: string, username: string, password: string): string {
  const auth = Buffer.from(`${username}:${password}`).toString("base64");
  return JSON.stringify({ auths: { [registry]: { username, password, auth } } });
}

function validateArgs(args: RegistryPullSecretArgs): void {
  if (!SCALEWAY_REGISTRY_HOST.test(args.registry)) {
    throw new pulumi.InputPropertyError({
      propertyPath: "registry",
      reason: `expected a Scaleway registry host rg.<region>.scw.cloud (fr-par, nl-ams or pl-waw), got "${args.registry}"`,
    });
  }
  if (typeof args.projectId === "string" && !UUID.test(args.projectId)) {
    throw new pulumi.InputPropertyError({
      propertyPath: "projectId",
      reason: `expected the UUID of a Scaleway Project, got "${args.projectId}"`,
    });
  }
  if (args.secretName !== undefined && (args.secretName.length > 253 || !DNS_SUBDOMAIN.test(args.secretName))) {
    throw new pulumi.InputPropertyError({
      propertyPath: "secretName",
      reason: `expected a Kubernetes object name (DNS subdomain), got "${args.secretName}"`,
    });
  }
  if (args.applicationName !== undefined && args.applicationName.trim() === "") {
    throw new pulumi.InputPropertyError({ propertyPath: "applicationName", reason: "must not be empty" });
  }
}
