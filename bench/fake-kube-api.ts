/**
 * A small stand-in for the Kubernetes API's EndpointSlice list and watch, on loopback: serves the current slices
 * (paged by `limit`/`continue` as the API server does) and holds each watch open as a chunked stream that the bench
 * writes events to.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

const SLICES_PATH = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/[^/]+\/endpointslices$/;

export class FakeKubeApi {
  /** What a list returns. */
  items: ReadonlyArray<Record<string, unknown>> = [];
  resourceVersion = "1";
  private readonly watches: http.ServerResponse[] = [];
  private readonly watchWaiters: Array<() => void> = [];
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.watches.length = 0;
  }

  /** Resolves once a watch is open. */
  async watchOpen(timeoutMs = 30_000): Promise<void> {
    if (this.watches.some((w) => !w.writableEnded)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the sidecar opened no watch")), timeoutMs);
      this.watchWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Writes one event to every open watch. */
  send(type: "ADDED" | "MODIFIED" | "DELETED", object: unknown): void {
    const line = `${JSON.stringify({ type, object })}\n`;
    for (const watch of this.watches) if (!watch.writableEnded) watch.write(line);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    if (req.method !== "GET" || !SLICES_PATH.test(url.pathname)) {
      res.writeHead(404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 }));
      return;
    }
    if (url.searchParams.get("watch") === "1") {
      res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
      res.flushHeaders();
      this.watches.push(res);
      for (const waiter of this.watchWaiters.splice(0)) waiter();
      return;
    }
    const start = Number(url.searchParams.get("continue") ?? "0");
    const limit = Number(url.searchParams.get("limit") ?? "0");
    const end = limit > 0 ? start + limit : this.items.length;
    const more = end < this.items.length;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(
      JSON.stringify({
        kind: "EndpointSliceList",
        apiVersion: "discovery.k8s.io/v1",
        metadata: { resourceVersion: this.resourceVersion, ...(more ? { continue: String(end) } : {}) },
        items: this.items.slice(start, end),
      }),
    );
  }
}
