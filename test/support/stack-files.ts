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
