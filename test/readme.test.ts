import * as fs from "fs";
import * as path from "path";
import type { z } from "zod";
import { extractTables } from "../bench/tables";
import { renderSizingTable } from "../scripts/sizing-table";
import { schemaAlternatives, stackConfigSchema } from "../stacks/config-schema";

const README = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");

/** Every key path of the config schema, arrays written `[]`. */
function keyPaths(schema: z.ZodType, prefix: string): string[] {
  const alternatives = schemaAlternatives(schema);
  if (alternatives !== undefined) return [...new Set(alternatives.flatMap((alternative) => keyPaths(alternative, prefix)))];
  const def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
  switch (def.type) {
    case "optional":
    case "default":
    case "nullable":
      return keyPaths(def.innerType, prefix);
    case "array":
      return keyPaths(def.element, `${prefix}[]`);
    case "object":
      return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([key, value]) =>
        keyPaths(value, prefix === "" ? key : `${prefix}.${key}`),
      );
    default:
      return [prefix];
  }
}

/** Every key whose schema has a plain default (number, string, boolean), with that default. */
function plainDefaults(schema: z.ZodType, prefix: string): Array<[string, unknown]> {
  const alternatives = schemaAlternatives(schema);
  if (alternatives !== undefined) return alternatives.flatMap((alternative) => plainDefaults(alternative, prefix));
  const def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
  switch (def.type) {
    case "default": {
      const value = typeof def.defaultValue === "function" ? def.defaultValue() : def.defaultValue;
      if (["number", "string", "boolean"].includes(typeof value)) return [[prefix, value]];
      return plainDefaults(def.innerType, prefix);
    }
    case "optional":
    case "nullable":
    case "pipe":
      return plainDefaults(def.innerType ?? def.in, prefix);
    case "array":
      return plainDefaults(def.element, `${prefix}[]`);
    case "object":
      return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([key, value]) =>
        plainDefaults(value, prefix === "" ? key : `${prefix}.${key}`),
      );
    default:
      return [];
  }
}

/** The default column of the README table row that documents `keyPath` on its own, if there is one. */
function documentedDefault(keyPath: string): string | undefined {
  const row = README.split("\n").find((line) => line.startsWith(`| \`${keyPath}\` |`));
  return row?.split(" | ")[1];
}

function ancestors(keyPath: string): string[] {
  const parts = keyPath.split(".");
  return parts.slice(2).map((_, index) => parts.slice(0, parts.length - 1 - index).join("."));
}

describe("README.md", () => {
  it("starts with the main job and the test command", () => {
    const firstBlock = README.split("```")[1];
    expect(firstBlock).toContain("npm run preview");
    expect(firstBlock).toContain("npm test");
  });

  it("documents every config key (or the object that holds it)", () => {
    const paths = keyPaths(stackConfigSchema, "").map((keyPath) => keyPath.replace(/\[\]$/, ""));
    expect(paths.length).toBeGreaterThan(50);
    const undocumented = paths.filter(
      (keyPath) => ![keyPath, ...ancestors(keyPath)].some((candidate) => README.includes(`\`${candidate}\``)),
    );
    expect(undocumented).toEqual([]);
  });

  it("gives each key the default the code applies (the defaults' one home, read through the schema)", () => {
    const defaults = plainDefaults(stackConfigSchema, "");
    expect(defaults.length).toBeGreaterThan(20);
    const wrong = defaults
      .map(([keyPath, value]) => [keyPath, value, documentedDefault(keyPath)] as const)
      .filter(([, value, documented]) => documented !== undefined && !documented.includes(`\`${String(value)}\``));
    expect(wrong).toEqual([]);
    // Rows of the keys whose defaults come from the plans, so that the check above cannot pass by finding no row.
    for (const keyPath of ["gateway.kiloListenPort", "gateway.uplink.listenPort", "gateway.steering.buckets", "ingress.adminPort", "decoder.port"]) {
      expect(documentedDefault(keyPath)).toBeDefined();
    }
  });

  it("shows the bench's tables as bench/results.md holds them", () => {
    const results = fs.readFileSync(path.join(__dirname, "..", "bench", "results.md"), "utf8");
    expect(extractTables(README)).toBe(extractTables(results));
  });

  it("shows the sizing table the code computes", () => {
    const table = README.split("<!-- sizing-table:start -->\n")[1]?.split("\n<!-- sizing-table:end -->")[0];
    expect(table).toBe(renderSizingTable());
  });
});
