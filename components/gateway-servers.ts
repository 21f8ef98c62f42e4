import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as scaleway from "@pulumiverse/scaleway";
import { renderGatewayCloudInit, type GatewayPairMember, type GatewayPlan, type GatewaySecrets } from "../infra/gateway";

/*
 * The gateway's Scaleway servers: the options every gateway VM is created with, and the active/standby pair of
 * `WireguardGatewayArgs.highAvailability`.
 */

/**
 * Resource options of a gateway VM. cloud-init only runs on first boot, so a changed cloud-init needs a new VM (the
 * gateway keeps no state; the flexible IP attaches to one server at a time, hence delete first). The trigger is a
 * hash of OUR cloud-init only, never `userData` as a whole: the Scaleway provider reads every user-data key back into
 * `userData` (terraform-provider-scaleway internal/services/instance/server.go `ResourceInstanceServerRead`: `for
 * key, value := range allUserData.UserData`), and Scaleway's images add their own keys such as
 * `ssh-host-fingerprints` (terraform-provider-scaleway #2800), which `replaceOnChanges: ["userData"]` would turn into a
 * replacement. The engine compares `replacementTrigger` with the value recorded at the last deployment.
 */
export function gatewayServerOptions(cloudInit: pulumi.Input<string>): pulumi.CustomResourceOptions {
  return {
    additionalSecretOutputs: ["userData", "cloudInit"],
    // The digest is plain on purpose: the engine keeps the trigger outside the masked inputs and outputs (a secret one
    // made `pulumi preview --json` panic in the CLI's display), and a sha256 of text holding 256-bit keys reveals nothing.
    replacementTrigger: pulumi.unsecret(pulumi.output(cloudInit).apply((text) => createHash("sha256").update(text).digest("hex"))),
    deleteBeforeReplace: true,
  };
}

/** The two gateways of a pair, in order: the suffix of each one's Lease identity, server name and resource names. */
export const GATEWAY_PAIR_MEMBERS = ["a", "b"] as const;

/** The Lease of a pair and the holderIdentity of each gateway, in the order of GATEWAY_PAIR_MEMBERS. */
export interface GatewayPairLease {
  readonly leaseName: string;
  readonly namespace: string;
  readonly identities: readonly [string, string];
}

/** The pair's Lease is named after the Kilo Peer, in the namespace of the gateway's ServiceAccount. */
export function gatewayPairLease(peerName: string, namespace: string): GatewayPairLease {
  return { leaseName: `${peerName}-leader`, namespace, identities: [`${peerName}-a`, `${peerName}-b`] };
}

/**
 * What the pair's IAM application may do: the role hook reads the flexible IP and moves it (GET and PATCH
 * /instance/v1/zones/{zone}/ips/{id}). Scaleway has no permission set narrower than all of Instances that can update
 * an IP: the Instances sets are InstancesFullAccess, InstancesReadOnly, InstancesServerStart and InstancesServerStop
 * (scaleway/docs-content pages/iam/reference-content/permission-sets.mdx, "CPU & GPU Instances"). Nor can a rule be
 * limited to the one IP: resource-level conditions exist for IAM, Key Manager and Secret Manager only
 * (pages/iam/reference-content/supported-products-resource-level.mdx). What limits the key is the Project scope and
 * the request-level condition (gatewayPairRequestCondition).
 */
export const GATEWAY_PAIR_PERMISSION_SET = "InstancesFullAccess";

/**
 * The policy's condition: requests from the two servers' own routed IPs only (`request.ip`, which Scaleway supports
 * for public addresses only: pages/iam/reference-content/understanding-request-level-conditions.mdx; `==` and `||`
 * as pages/iam/reference-content/understanding-policy-conditions.mdx writes them). The shared address is left out:
 * the role hook calls the API before it puts that address on the interface, and a standby never calls it
 * (scripts/gateway-role.sh), so the call leaves from the server's own address. A key copied off a server (the user
 * data is readable through the Instance API) is then of no use anywhere else.
 */
export function gatewayPairRequestCondition(addresses: readonly string[]): string {
  return addresses.map((address) => `request.ip == "${address}"`).join(" || ");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The UUID of a zonal resource from the provider's ID, which is `<zone>/<uuid>` (internal/services/instance/ip.go,
 * ResourceInstanceIPCreate: `zonal.NewIDString(zone, res.IP.ID)`); the Instance API's paths take the UUID alone.
 */
export function zonalResourceUuid(id: string, zone: string): string {
  const [idZone, uuid, ...rest] = id.split("/");
  if (rest.length > 0 || idZone !== zone || uuid === undefined || !UUID.test(uuid)) {
    throw new Error(`expected a Scaleway ID <zone>/<uuid> in zone ${zone}, got ${JSON.stringify(id)}`);
  }
  return uuid;
}

/** What the pair is made from: the component's settings, its plan and secrets, and the security group both share. */
export interface GatewayPairInputs {
  readonly name: string;
  readonly zone: string;
  readonly instanceType: string;
  readonly image: string;
  readonly tags?: string[];
  readonly protectPublicIp: boolean;
  readonly plan: GatewayPlan;
  readonly lease: GatewayPairLease;
  readonly secrets: pulumi.Output<GatewaySecrets>;
  readonly securityGroupId: pulumi.Input<string>;
}

/** What the component exposes of the pair. */
export interface GatewayPair {
  /** The shared flexible IP's address. */
  readonly publicIp: pulumi.Output<string>;
  /** The servers' IDs and their own routed IPs' addresses, in the order of GATEWAY_PAIR_MEMBERS. */
  readonly serverIds: pulumi.Output<string[]>;
  readonly serverPublicIps: pulumi.Output<string[]>;
  /** The IAM application whose key moves the flexible IP. */
  readonly applicationId: pulumi.Output<string>;
  /** Each server's cloud-init (secret), in the same order. */
  readonly cloudInits: pulumi.Output<string[]>;
}

/**
 * Two gateway VMs in one zone on different hypervisors, one shared flexible IP that neither server references (the
 * active's role hook routes it to itself at run time), and the IAM application, policy and API key the hook moves it
 * with. The API key's secret key goes into the two cloud-inits only.
 */
export function createGatewayPair(parent: pulumi.Resource, inputs: GatewayPairInputs): GatewayPair {
  const { name, zone, tags } = inputs;
  // Instance IPs are zonal (/instance/v1/zones/{zone}/ips/{id}): a flexible IP moves between servers of its own zone
  // only, so both servers live there, spread over hypervisors by the placement group.
  const sharedIp = new scaleway.instance.Ip(
    `${name}-ip`,
    { type: "routed_ipv4", zone, tags },
    { parent, protect: inputs.protectPublicIp },
  );
  // max_availability spreads the servers over hypervisors; `enforced` refuses to start a server where it cannot
  // (`optional` would start both on one hypervisor rather than fail: the Instance API's placement groups reference).
  // The provider's schema marks policy_mode deprecated for the Instance API's v1 but still sends it
  // (internal/services/instance/placement_group.go, ResourceInstancePlacementGroupCreate).
  const placementGroup = new scaleway.instance.PlacementGroup(
    `${name}-pg`,
    { name: `${name}-pair`, zone, policyType: "max_availability", policyMode: "enforced", tags },
    { parent },
  );
  const ownIps = GATEWAY_PAIR_MEMBERS.map((member) => new scaleway.instance.Ip(`${name}-ip-${member}`, { type: "routed_ipv4", zone, tags }, { parent }));
  const ownAddresses = pulumi.all(ownIps.map((ip) => ip.address));

  const application = new scaleway.iam.Application(
    `${name}-pair-application`,
    {
      name: `${name}-pair`,
      description: `Moves the flexible IP of the gateway pair ${name} between its two servers; managed by Pulumi (iot-udp-ingress)`,
      tags,
    },
    { parent },
  );
  // The application's only policy: a grant of another policy without the condition would widen it (Scaleway applies
  // the union: pages/iam/reference-content/understanding-policy-conditions.mdx, "Multiple policies").
  const policy = new scaleway.iam.Policy(
    `${name}-pair-policy`,
    {
      name: `${name}-pair-ip-failover`,
      description: `Moves the flexible IP of the gateway pair ${name}, from its servers' own addresses only`,
      applicationId: application.id,
      rules: [
        {
          // The Project the flexible IP is in (the provider's default Project, like every resource of the gateway).
          projectIds: [sharedIp.projectId],
          permissionSetNames: [GATEWAY_PAIR_PERMISSION_SET],
          condition: ownAddresses.apply(gatewayPairRequestCondition),
        },
      ],
      tags,
    },
    { parent },
  );
  const apiKey = new scaleway.iam.ApiKey(
    `${name}-pair-api-key`,
    { applicationId: application.id, description: `Flexible IP failover key of the gateway pair ${name}; managed by Pulumi` },
    { parent, additionalSecretOutputs: ["secretKey"] },
  );
  const secretKey = pulumi.secret(
    apiKey.secretKey.apply((key) => {
      if (key === undefined || key === "") throw new Error(`WireguardGateway ${name}: the pair's API key has no secret key (an imported key has none; replace it)`);
      return key;
    }),
  );

  const servers = GATEWAY_PAIR_MEMBERS.map((member, index) => {
    const identity = inputs.lease.identities[index];
    const cloudInit = pulumi.secret(
      pulumi.all([inputs.secrets, sharedIp.id, sharedIp.address, secretKey]).apply(([secrets, sharedIpId, sharedAddress, scalewaySecretKey]) => {
        const pairMember: GatewayPairMember = {
          identity,
          leaseName: inputs.lease.leaseName,
          leaseNamespace: inputs.lease.namespace,
          zone,
          sharedIpId: zonalResourceUuid(sharedIpId, zone),
          sharedAddress,
        };
        return renderGatewayCloudInit(inputs.plan, secrets, { member: pairMember, secrets: { scalewaySecretKey } });
      }),
    );
    const server = new scaleway.instance.Server(
      `${name}-vm-${member}`,
      {
        name: identity,
        zone,
        type: inputs.instanceType,
        image: inputs.image,
        // ipId, not ipIds: the provider's read sets ip_ids from every public IP the server has, so the shared IP on
        // the active would show as drift and the next `pulumi up` would detach it; with ip_id it looks for its own IP
        // only (internal/services/instance/server.go, ResourceInstanceServerRead: FindIPInList(ipID, ...) for ip_id,
        // flattenServerIPIDs(server.PublicIPs) for ip_ids).
        ipId: ownIps[index].id,
        placementGroupId: placementGroup.id,
        securityGroupId: inputs.securityGroupId,
        userData: { "cloud-init": cloudInit },
        tags,
      },
      {
        parent,
        // The key moves the IP only once its policy exists.
        dependsOn: [policy],
        ...gatewayServerOptions(cloudInit),
        // The single VM becomes the first of the pair: its replacement deletes it first, and so its delete, which
        // detaches the IP in its ip_id from whichever server holds it (server.go, ResourceInstanceServerDelete), runs
        // before either new server boots; deleted after them, it would take the shared IP from the new active.
        ...(index === 0 ? { aliases: [{ name: `${name}-vm` }] } : {}),
      },
    );
    return { server, cloudInit };
  });

  return {
    publicIp: sharedIp.address,
    serverIds: pulumi.all(servers.map(({ server }) => server.id)),
    serverPublicIps: ownAddresses,
    applicationId: application.id,
    cloudInits: pulumi.secret(pulumi.all(servers.map(({ cloudInit }) => cloudInit))),
  };
}
