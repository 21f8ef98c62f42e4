import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DECODER_DEFAULTS } from "../infra/decoder";
import { appLabels, selectorLabels } from "./kubernetes-placement";

/** Name of the decoder Service's UDP port; Envoy's EDS sidecar looks the port up by this name. */
export const DECODER_PORT_NAME = "udp";

export interface DecoderServiceArgs {
  /** Name of the Service and of the decoder app. Default: `decoder`. */
  name?: string;
  /** Namespace of the decoders. Required. */
  namespace: string;
  /** Create the namespace too. Default: `false`. */
  createNamespace?: boolean;
  /** UDP port the decoders listen on. Default: `5683`. */
  port?: pulumi.Input<number>;
}

/**
 * The headless Service in front of the decoder pods. It has no cluster IP on purpose: kube-proxy would
 * source-NAT traffic to a Service IP, and Envoy only needs the endpoints, which it follows per node.
 */
export class DecoderService extends pulumi.ComponentResource {
  /** Name of the Service. */
  public readonly serviceName: pulumi.Output<string>;
  /** Namespace of the Service (created by this component when asked to). */
  public readonly namespace: pulumi.Output<string>;
  /** In-cluster DNS name; it resolves to the ready decoder pod IPs. */
  public readonly fqdn: pulumi.Output<string>;
  /** The decoder UDP port. */
  public readonly port: pulumi.Output<number>;
  /** Labels the decoder pods must carry to be selected. */
  public readonly selectorLabels: Record<string, string>;

  constructor(name: string, args: DecoderServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:DecoderService", name, {}, opts);
    const appName = args.name ?? DECODER_DEFAULTS.name;
    const port = args.port ?? DECODER_DEFAULTS.port;
    this.selectorLabels = selectorLabels(appName, "decoder");

    const namespace = args.createNamespace
      ? new k8s.core.v1.Namespace(
          `${name}-namespace`,
          { metadata: { name: args.namespace, labels: appLabels(appName, "decoder") } },
          { parent: this },
        ).metadata.name
      : pulumi.output(args.namespace);

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: appName, namespace, labels: appLabels(appName, "decoder") },
        spec: {
          clusterIP: "None",
          selector: this.selectorLabels,
          publishNotReadyAddresses: false,
          ports: [{ name: DECODER_PORT_NAME, protocol: "UDP", port, targetPort: DECODER_PORT_NAME }],
        },
      },
      { parent: this },
    );

    this.serviceName = service.metadata.name;
    this.namespace = service.metadata.namespace;
    this.port = pulumi.output(port);
    this.fqdn = pulumi.interpolate`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`;
    this.registerOutputs({ serviceName: this.serviceName, namespace: this.namespace, fqdn: this.fqdn, port: this.port });
  }
}
