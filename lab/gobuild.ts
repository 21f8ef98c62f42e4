import { createHash } from "crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "fs";
import { homedir } from "os";
import { join } from "path";
import { runOk } from "../harness/commands";

const SOURCES = join(__dirname, "standins");

function goTool(): string {
  for (const candidate of ["go", "/usr/local/go/bin/go"]) {
    try {
      runOk(candidate, ["version"]);
      return candidate;
    } catch {
      /* try the next */
    }
  }
  throw new Error("the lab needs Go (https://go.dev/dl) to build its stand-ins: install it or put `go` on PATH");
}

/** Builds the stand-ins once per source content into a cache outside the repository. */
export function buildStandins(): string {
  const files = readdirSync(SOURCES).filter((f) => f.endsWith(".go") || f === "go.mod").sort();
  const hash = createHash("sha256");
  for (const f of files) hash.update(f).update("\0").update(readFileSync(join(SOURCES, f))).update("\0");
  // The same cache root as the Pulumi toolchain (tools/pulumi/build.sh).
  const cacheRoot = process.env.IOT_UDP_INGRESS_CACHE ?? join(homedir(), ".cache", "iot-udp-ingress");
  const dir = join(cacheRoot, "lab", hash.digest("hex").slice(0, 16));
  const binary = join(dir, "standins");
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    runOk(goTool(), ["-C", SOURCES, "build", "-trimpath", "-o", binary, "."]);
  }
  return binary;
}
