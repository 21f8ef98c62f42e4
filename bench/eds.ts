/**
 * Part 3: the EDS sidecar as the decoder Service grows. The real sidecar, as its own Node.js process, against a fake
 * API server; the bench writes EndpointSlice changes to the watch and times them until the renamed EDS file holds
 * the assignment the change implies (rendered by the same module the sidecar uses).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { renderEdsFile, type EndpointSlice } from "../infra/envoy";
import { EDS_SIDECAR_DIR, EDS_SIDECAR_MAIN } from "../infra/envoy/eds-sidecar-files";
import { DECODER_NAMESPACE, DECODER_PORT_NAME, DECODER_SERVICE, decoderSlice, decoderSlices, ENDPOINTS_PER_SLICE, endpointsPerNode, nodeName, type EndpointPlacement } from "./api-lists";
import type { Cleanup } from "../harness/cleanup";
import { FakeKubeApi } from "../harness/fake-kube-api";
import { nowMs } from "../harness/timed";
import { EDS_CHANGES_PER_RUN, spread, type EdsRow, type EdsSize } from "./tables";

const NODE = nodeName(0);
const CLUSTER = "decoder";
const EDS_FILE = "endpoints.json";
const selection = { nodeName: NODE, clusterName: CLUSTER, portName: DECODER_PORT_NAME };
const WAIT_MS = 60_000;

/** Resolves with the time the EDS file was renamed into place holding `expected`. */
class EdsFileWatch {
  private readonly watcher: FSWatcher;
  private expected: string | undefined;
  private resolve: ((at: number) => void) | undefined;

  constructor(private readonly dir: string) {
    this.watcher = watch(dir, (_event, filename) => {
      if (filename !== EDS_FILE || this.expected === undefined) return;
      const at = nowMs();
      let content: string;
      try {
        content = readFileSync(join(this.dir, EDS_FILE), "utf8");
      } catch {
        return;
      }
      if (content === this.expected) {
        const resolve = this.resolve;
        this.expected = undefined;
        this.resolve = undefined;
        resolve?.(at);
      }
    });
  }

  expect(content: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the EDS file did not get the expected content in ${WAIT_MS} ms`)), WAIT_MS);
      this.expected = content;
      this.resolve = (at) => {
        clearTimeout(timer);
        resolve(at);
      };
    });
  }

  close(): void {
    this.watcher.close();
  }
}

function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

function placementFor(size: EdsSize): EndpointPlacement {
  if (size.local === size.endpoints) return { count: size.endpoints, nodeOf: () => 0 };
  return endpointsPerNode(size.endpoints / size.local, size.local);
}

async function oneRun(cleanup: Cleanup, size: EdsSize, placement: EndpointPlacement, work: string): Promise<{ startMs: number; changeMs: number[]; rss: number; peak: number }> {
  const api = new FakeKubeApi();
  const slices = decoderSlices(placement);
  api.list = { resourceVersion: "300000", items: slices as unknown as EndpointSlice[] };
  // Pages as the API server answers the sidecar's `limit=500` (infra/envoy/eds-sidecar/kube-api.js).
  api.pageSize = 500;
  const baseUrl = await api.start();
  const edsDir = join(work, "eds");
  mkdirSync(edsDir, { recursive: true });
  const fileWatch = new EdsFileWatch(edsDir);
  let child: ChildProcess | undefined;
  try {
    const full = renderEdsFile(slices as unknown as EndpointSlice[], selection);
    const first = fileWatch.expect(full);
    const started = nowMs();
    child = cleanup.track(
      spawn(process.execPath, [join(EDS_SIDECAR_DIR, EDS_SIDECAR_MAIN)], {
        stdio: ["ignore", "ignore", "pipe"],
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          NODE_NAME: NODE,
          NAMESPACE: DECODER_NAMESPACE,
          SERVICE_NAME: DECODER_SERVICE,
          CLUSTER_NAME: CLUSTER,
          PORT_NAME: DECODER_PORT_NAME,
          EDS_PATH: join(edsDir, EDS_FILE),
          KUBERNETES_API_URL: baseUrl,
          SERVICE_ACCOUNT_DIR: work,
          WATCH_TIMEOUT_SECONDS: "300",
        },
      }),
    );
    let stderr = "";
    child.stderr!.on("data", (data: Buffer) => {
      stderr = (stderr + data.toString()).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => child!.once("exit", (code) => reject(new Error(`the sidecar exited (${code}): ${stderr}`))));
    exited.catch(() => undefined);
    const startMs = (await Promise.race([first, exited])) - started;
    const watch = await Promise.race([api.nextWatch(30_000), exited]);

    // The first local endpoint goes not ready, then ready again, and so on: every change rewrites the file.
    const localIndex = Array.from({ length: placement.count }, (_, k) => k).find((k) => placement.nodeOf(k) === 0)!;
    const sliceIndex = Math.floor(localIndex / ENDPOINTS_PER_SLICE);
    const changeMs: number[] = [];
    const current = [...slices];
    for (let change = 0; change < EDS_CHANGES_PER_RUN; change++) {
      const notReady = new Set(change % 2 === 0 ? [localIndex] : []);
      const modified = decoderSlice(placement, sliceIndex, notReady, String(300001 + change));
      current[sliceIndex] = modified;
      const renamed = fileWatch.expect(renderEdsFile(current as unknown as EndpointSlice[], selection));
      const sent = nowMs();
      watch.send({ type: "MODIFIED", object: modified });
      changeMs.push((await Promise.race([renamed, exited])) - sent);
    }
    const memory = memoryMb(child.pid!);
    return { startMs, changeMs, ...memory };
  } finally {
    fileWatch.close();
    if (child !== undefined && child.exitCode === null) {
      const gone = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    }
    await api.stop();
  }
}

export interface EdsBenchOptions {
  readonly repetitions: number;
  readonly sizes: readonly EdsSize[];
  readonly log: (line: string) => void;
}

export async function edsBench(cleanup: Cleanup, options: EdsBenchOptions): Promise<EdsRow[]> {
  const rows: EdsRow[] = [];
  for (const size of options.sizes) {
    const placement = placementFor(size);
    const starts: number[] = [];
    const changes: number[] = [];
    const rss: number[] = [];
    const peaks: number[] = [];
    for (let rep = 0; rep < options.repetitions; rep++) {
      const work = cleanup.tempDir("eds");
      writeFileSync(join(work, "token"), "bench-token\n");
      const result = await oneRun(cleanup, size, placement, work);
      starts.push(result.startMs);
      changes.push(...result.changeMs);
      rss.push(result.rss);
      peaks.push(result.peak);
      options.log(
        `eds: ${size.endpoints} endpoints (${size.local} local), run ${rep + 1}: start ${result.startMs.toFixed(0)} ms, changes ${result.changeMs.map((ms) => ms.toFixed(1)).join(", ")} ms, ${result.rss.toFixed(1)} MB resident, ${result.peak.toFixed(1)} MB peak`,
      );
    }
    rows.push({
      ...size,
      slices: Math.ceil(size.endpoints / ENDPOINTS_PER_SLICE),
      startMs: spread(starts),
      changeMs: spread(changes),
      rssMb: spread(rss),
      peakMb: spread(peaks),
    });
  }
  return rows;
}
