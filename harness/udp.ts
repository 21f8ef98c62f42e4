import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { run } from "./commands";

/*
 * UDP (and TCP probe) endpoints inside network namespaces, run through a small python3 helper (`ip netns exec` runs a
 * process in a namespace; the calling process itself stays in the root namespace). Used by the data-path system
 * tests and by the lab's forward-policy scenario.
 */

const HELPER = String.raw`
import array, fcntl, json, select, socket, struct, sys, time

def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)

mode = sys.argv[1]
if mode == "recv":
    # recv LINGER ADDR:PORT...: prints one JSON line per datagram; stops LINGER seconds after stdin closes
    # (the sender is done by then), or after 20 s at most.
    socks = []
    for spec in sys.argv[3:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(endpoint(spec))
        socks.append(s)
    print("ready", flush=True)
    deadline = time.time() + 20
    watched = socks + [sys.stdin]
    while True:
        left = deadline - time.time()
        if left <= 0:
            break
        readable, _, _ = select.select(watched, [], [], left)
        for s in readable:
            if s is sys.stdin:
                sys.stdin.read()
                watched = socks
                deadline = min(deadline, time.time() + float(sys.argv[2]))
                continue
            data, source = s.recvfrom(4096)
            print(json.dumps({"to": "%s:%d" % s.getsockname(), "from": "%s:%d" % source, "data": data.decode()}), flush=True)
elif mode == "send":
    # send SRC DST PAYLOAD [SRC DST PAYLOAD...]: one datagram each, from a socket bound to SRC.
    args = sys.argv[2:]
    for i in range(0, len(args), 3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(endpoint(args[i]))
        s.sendto(args[i + 2].encode(), endpoint(args[i + 1]))
        s.close()
elif mode == "tcp-listen":
    # tcp-listen LINGER ADDR:PORT...: prints one JSON line per accepted connection, like recv.
    socks = []
    for spec in sys.argv[3:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(endpoint(spec))
        s.listen(16)
        socks.append(s)
    print("ready", flush=True)
    deadline = time.time() + 20
    watched = socks + [sys.stdin]
    while time.time() < deadline:
        readable, _, _ = select.select(watched, [], [], max(0, deadline - time.time()))
        for s in readable:
            if s is sys.stdin:
                sys.stdin.read()
                watched = socks
                deadline = min(deadline, time.time() + float(sys.argv[2]))
                continue
            conn, source = s.accept()
            print(json.dumps({"to": "%s:%d" % s.getsockname(), "from": "%s:%d" % source, "data": "tcp"}), flush=True)
            conn.close()
elif mode == "tcp-connect":
    # tcp-connect SRC DST SECONDS: prints "connected", "refused" or "timeout".
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(endpoint(sys.argv[2]))
    s.settimeout(float(sys.argv[4]))
    try:
        s.connect(endpoint(sys.argv[3]))
        print("connected")
    except ConnectionRefusedError:
        print("refused")
    except (socket.timeout, OSError):
        print("timeout")
elif mode == "ethtool-off":
    # ethtool-off IFNAME CMD...: clears offload flags (ETHTOOL_S* commands) so checksums are computed and checked.
    for cmd in sys.argv[3:]:
        data = array.array("I", [int(cmd, 0), 0])
        ifreq = struct.pack("16sP", sys.argv[2].encode(), data.buffer_info()[0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s.fileno(), 0x8946, ifreq)
`;

export const ETHTOOL_SET_RX_CSUM = "0x15";
export const ETHTOOL_SET_TX_CSUM = "0x17";

export interface Datagram {
  readonly to: string;
  readonly from: string;
  readonly data: string;
}

export function writeUdpHelper(path: string): void {
  writeFileSync(path, HELPER);
}

export interface Receiver {
  /** Tells the receiver the senders are done; it stops after its linger time. */
  readonly finish: () => void;
  /** Resolves with every datagram received. */
  readonly done: Promise<Datagram[]>;
}

/** Starts a receiver in `ns` bound on `endpoints`; resolves once its sockets are bound. */
export function startReceiver(helper: string, ns: string, endpoints: readonly string[], lingerSeconds: number, mode: "recv" | "tcp-listen" = "recv"): Promise<Receiver> {
  return new Promise((resolveReady, rejectReady) => {
    const child = spawn("ip", ["netns", "exec", ns, "python3", helper, mode, String(lingerSeconds), ...endpoints]);
    let stdout = "";
    let stderr = "";
    let ready = false;
    const done = new Promise<Datagram[]>((resolveDone, rejectDone) => {
      child.on("close", (code) => {
        if (code !== 0) {
          const error = new Error(`receiver in ${ns} exited ${code}: ${stderr}`);
          if (!ready) rejectReady(error);
          rejectDone(error);
          return;
        }
        const lines = stdout.split("\n").filter((line) => line.startsWith("{"));
        resolveDone(lines.map((line) => JSON.parse(line) as Datagram));
      });
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!ready && stdout.includes("ready\n")) {
        ready = true;
        resolveReady({ finish: () => child.stdin.end(), done });
      }
    });
  });
}

export interface Send {
  readonly from: string;
  readonly to: string;
  readonly data: string;
}

export function sendDatagrams(helper: string, ns: string, sends: readonly Send[]): void {
  const args = sends.flatMap((send) => [send.from, send.to, send.data]);
  const result = run("ip", ["netns", "exec", ns, "python3", helper, "send", ...args]);
  if (result.status !== 0) throw new Error(`sender in ${ns} failed: ${result.stderr}`);
}

export function disableChecksumOffload(helper: string, ns: string, ifname: string): void {
  const result = run("ip", ["netns", "exec", ns, "python3", helper, "ethtool-off", ifname, ETHTOOL_SET_TX_CSUM, ETHTOOL_SET_RX_CSUM]);
  if (result.status !== 0) throw new Error(`cannot disable checksum offload on ${ifname} in ${ns}: ${result.stderr}`);
}

/** Listens for TCP on `endpoints` in `listenerNs` while `senderNs` connects from `from` to `to`; returns what happened. */
export async function tcpProbe(
  helper: string,
  listenerNs: string,
  endpoints: readonly string[],
  senderNs: string,
  from: string,
  to: string,
  timeoutSeconds = 1,
): Promise<{ connect: string; accepted: Datagram[] }> {
  const listener = await startReceiver(helper, listenerNs, endpoints, 0.3, "tcp-listen");
  let connect = "";
  try {
    const result = run("ip", ["netns", "exec", senderNs, "python3", helper, "tcp-connect", from, to, String(timeoutSeconds)]);
    if (result.status !== 0) throw new Error(`tcp-connect in ${senderNs} failed: ${result.stderr}`);
    connect = result.stdout.trim();
  } finally {
    listener.finish();
  }
  return { connect, accepted: await listener.done };
}

/** Receives on `endpoints` in `receiverNs` while `sends` go out of `senderNs`. */
export async function exchange(
  helper: string,
  receiverNs: string,
  endpoints: readonly string[],
  senderNs: string,
  sends: readonly Send[],
  lingerSeconds = 0.3,
): Promise<Datagram[]> {
  const receiver = await startReceiver(helper, receiverNs, endpoints, lingerSeconds);
  try {
    sendDatagrams(helper, senderNs, sends);
  } finally {
    receiver.finish();
  }
  return receiver.done;
}
