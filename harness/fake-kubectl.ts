/**
 * A stand-in for kubectl, as a shell script: answers `get nodes`, `get pods` and `get endpointslices` with the lists it
 * was given, or fails like an unreachable API server, and logs every command line. For running the gateway's
 * steering agent without an API server (the cluster tier and the lab use a real one).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** What `kubectl get <resource> -o json` prints, per resource the steering agent reads. */
export interface FakeKubectlLists {
  readonly nodes: unknown;
  readonly pods: unknown;
  readonly slices: unknown;
}

export class FakeKubectl {
  /** The executable to give the agent as its kubectl. */
  readonly path: string;
  private readonly apiDir: string;
  private readonly logFile: string;

  constructor(dir: string) {
    this.path = join(dir, "kubectl");
    this.apiDir = join(dir, "api");
    this.logFile = join(dir, "kubectl.log");
    mkdirSync(this.apiDir, { recursive: true });
    writeFileSync(
      this.path,
      `#!/bin/sh
# Stand-in for kubectl: serves the fixture lists, or fails like an unreachable API server.
printf '%s\\n' "$*" >>'${this.logFile}'
if [ -e '${this.apiDir}/down' ]; then echo 'The connection to the server was refused' >&2; exit 1; fi
case " $* " in
  *" get nodes "*) cat '${this.apiDir}/nodes.json' ;;
  *" get pods "*) cat '${this.apiDir}/pods.json' ;;
  *" get endpointslices.discovery.k8s.io "*) cat '${this.apiDir}/slices.json' ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`,
    );
    chmodSync(this.path, 0o755);
  }

  /** Answers with these lists from now on (the API is up again). */
  serve(lists: FakeKubectlLists): void {
    for (const [resource, list] of Object.entries(lists)) this.answer(resource as keyof FakeKubectlLists, list);
    rmSync(join(this.apiDir, "down"), { force: true });
  }

  /** Answers `get <resource>` with `body` (a list, or an error object a broken API server might send). */
  answer(resource: keyof FakeKubectlLists, body: unknown): void {
    writeFileSync(join(this.apiDir, `${resource}.json`), JSON.stringify(body));
  }

  /** Fails every command from now on, like an unreachable API server. */
  down(): void {
    writeFileSync(join(this.apiDir, "down"), "");
  }

  /** The command lines received since the last `clearLog`, one per line. */
  log(): string {
    return readFileSync(this.logFile, "utf8");
  }

  clearLog(): void {
    rmSync(this.logFile, { force: true });
  }
}
