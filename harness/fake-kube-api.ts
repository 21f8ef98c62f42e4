/**
 * A fake Kubernetes API server on 127.0.0.1 for EndpointSlice list and watch: serves lists
 * (optionally paged), holds watch requests open as chunked streams the test writes events to, and
 * records every request.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { EndpointSlice } from "../infra/envoy";

export interface RecordedRequest {
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: unknown;
}

export class WatchStream {
  constructor(
    readonly request: RecordedRequest,
    private readonly response: http.ServerResponse,
  ) {}

  send(event: WatchEvent): void {
    this.response.write(`${JSON.stringify(event)}\n`);
  }

  /** The server ending the watch normally, as after timeoutSeconds. */
  end(): void {
    this.response.end();
  }

  /** The connection dying mid-stream. */
  breakConnection(): void {
    this.response.socket?.destroy();
  }
}

const SLICES_PATH = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/;

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  /** What the next list returns. */
  list: { resourceVersion: string; items: EndpointSlice[] } = { resourceVersion: "1", items: [] };
  /** Items per page; 0 serves everything at once. */
  pageSize = 0;
  /** Number of upcoming list requests to answer with HTTP 500. */
  failLists = 0;
  /** Number of upcoming watch requests to answer with HTTP 410 Gone. */
  goneWatches = 0;
  private readonly pendingWatches: WatchStream[] = [];
  private readonly watchWaiters: ((w: WatchStream) => void)[] = [];
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  listRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.query.watch !== "1");
  }

  /** The next watch request the sidecar opens (already open or still to come). */
  nextWatch(timeoutMs = 3000): Promise<WatchStream> {
    const ready = this.pendingWatches.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no watch request arrived")), timeoutMs);
      this.watchWaiters.push((w) => {
        clearTimeout(timer);
        resolve(w);
      });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    const recorded: RecordedRequest = {
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization,
    };
    this.requests.push(recorded);
    if (req.method !== "GET" || !SLICES_PATH.test(url.pathname)) return this.status(res, 404, "NotFound");
    if (recorded.query.watch === "1" && this.goneWatches > 0) {
      this.goneWatches -= 1;
      return this.status(res, 410, "Expired");
    }
    if (recorded.query.watch === "1") return this.openWatch(recorded, res);
    if (this.failLists > 0) {
      this.failLists -= 1;
      return this.status(res, 500, "InternalError");
    }
    return this.serveList(recorded, res);
  }

  private serveList(request: RecordedRequest, res: http.ServerResponse): void {
    const start = Number(request.query.continue ?? "0");
    const end = this.pageSize > 0 ? start + this.pageSize : this.list.items.length;
    const more = end < this.list.items.length;
    const body = {
      kind: "EndpointSliceList",
      apiVersion: "discovery.k8s.io/v1",
      metadata: { resourceVersion: this.list.resourceVersion, ...(more ? { continue: String(end) } : {}) },
      items: this.list.items.slice(start, end),
    };
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private openWatch(request: RecordedRequest, res: http.ServerResponse): void {
    res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
    res.flushHeaders();
    const stream = new WatchStream(request, res);
    const waiter = this.watchWaiters.shift();
    if (waiter) waiter(stream);
    else this.pendingWatches.push(stream);
  }

  private status(res: http.ServerResponse, code: number, reason: string): void {
    res.writeHead(code, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason, code }));
  }
}
