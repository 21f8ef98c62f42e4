import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

export const REPOSITORY_ROOT = path.resolve(__dirname, "../..");
export const STACKS = ["preview", "prod"] as const;

/** The `config:` map of Pulumi.<stack>.yaml, as Pulumi hands it to the program: every value as text. */
export function pulumiConfigOfStack(stack: string): Record<string, string> {
  const file = path.join(REPOSITORY_ROOT, `Pulumi.${stack}.yaml`);
  const document = parse(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(document.config).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
  );
}

/** The project's own sections of a stack file, parsed. */
export function rawConfigOfStack(stack: string): Record<string, unknown> {
  const config = pulumiConfigOfStack(stack);
  return Object.fromEntries(
    Object.entries(config)
      .filter(([key]) => key.startsWith("iot-udp-ingress:"))
      .map(([key, text]) => [key.slice("iot-udp-ingress:".length), parseText(text)]),
  );
}

function parseText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Where an existing cluster and an external gateway host are, for `onExistingCluster`. */
export interface ExistingPlacement {
  readonly kubeconfig: string;
  readonly ingressNodes: number;
  readonly gatewayPublicIp: string;
}

/**
 * A stack file's sections moved onto an existing cluster and an external gateway host: the cluster section keeps the
 * keys that still apply (name, address plan, tags, protect) and gains `existing`; the gateway loses its VM keys (the
 * pair's `highAvailability` among them) and gains `externalHost`. Everything else is the stack file's.
 */
export function onExistingCluster(sections: Record<string, unknown>, placement: ExistingPlacement): Record<string, any> {
  const copy = JSON.parse(JSON.stringify(sections)) as Record<string, any>;
  const { name, podCidr, serviceCidr, tags, protect } = copy.cluster;
  copy.cluster = {
    name,
    existing: { kubeconfig: placement.kubeconfig, ingressNodes: placement.ingressNodes },
    ...(podCidr !== undefined ? { podCidr } : {}),
    ...(serviceCidr !== undefined ? { serviceCidr } : {}),
    ...(tags !== undefined ? { tags } : {}),
    ...(protect !== undefined ? { protect } : {}),
  };
  const { zone: _zone, instanceType: _instanceType, image: _image, highAvailability: _highAvailability, ...gateway } = copy.gateway;
  copy.gateway = { ...gateway, externalHost: { publicIp: placement.gatewayPublicIp } };
  return copy;
}

/** Sections back into Pulumi's flat config map (`iot-udp-ingress:<section>` -> JSON text), other keys of `stack` kept. */
export function pulumiConfigWithSections(stack: string, sections: Record<string, unknown>): Record<string, string> {
  const providers = Object.entries(pulumiConfigOfStack(stack)).filter(([key]) => !key.startsWith("iot-udp-ingress:"));
  return Object.fromEntries([
    ...providers,
    ...Object.entries(sections).map(([key, value]) => [`iot-udp-ingress:${key}`, typeof value === "string" ? value : JSON.stringify(value)]),
  ]);
}
