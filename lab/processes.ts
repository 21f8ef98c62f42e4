import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { homedir } from "os";
import { join } from "path";
import { runOk } from "../harness/commands";
import { listNetns } from "../harness/netns";
import { startWireguardGo as startWireguardGoIn } from "../harness/processes";
import { PREFIX } from "./plan";

/** Where the lab keeps its run state (pids, configs with keys, EDS files); removed at clean-up. */
export const STATE_DIR = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "iot-udp-ingress", "lab", "run");
const PID_FILE = join(STATE_DIR, "pids.json");

/**
 * Records every process the lab starts (wireguard-go, stand-ins), so that clean-up, also
 * of a previous crashed run, ends exactly those, by pid.
 */
export class ProcessRegistry {
  private readonly pids = new Set<number>();

  add(pid: number): void {
    this.pids.add(pid);
    this.save();
  }

  private save(): void {
    mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(PID_FILE, JSON.stringify([...this.pids]));
  }

  /** Ends recorded processes that still run a lab binary. */
  killAll(): void {
    for (const pid of this.pids) killIfLab(pid);
    this.pids.clear();
  }
}

function killIfLab(pid: number): void {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return; // already gone
  }
  // Prometheus, its node exporter and the gateways' agent loops are the machine's programs; they are the lab's when
  // they name its state directory.
  if (!/wireguard-go|standins/.test(cmdline) && !cmdline.includes(STATE_DIR)) return; // pid reused by something else
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* exited meanwhile */
  }
}

export function labNamespaces(): string[] {
  return listNetns().filter((n) => n.startsWith(`${PREFIX}-`));
}

/**
 * Removes everything a lab run leaves: its processes (recorded pids, then any process still
 * inside a lab namespace), namespaces, wireguard-go control sockets, state files.
 */
export function cleanAll(registry: ProcessRegistry): void {
  registry.killAll();
  if (existsSync(PID_FILE)) {
    try {
      for (const pid of JSON.parse(readFileSync(PID_FILE, "utf8")) as number[]) killIfLab(pid);
    } catch {
      /* unreadable pid file from a crashed run: namespaces below still name the processes */
    }
  }
  for (const ns of labNamespaces()) {
    try {
      for (const pid of runOk("ip", ["netns", "pids", ns]).split("\n").filter(Boolean)) killIfLab(Number(pid));
    } catch {
      /* namespace vanished */
    }
  }
  for (const ns of labNamespaces()) {
    try {
      runOk("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
  const sockDir = "/var/run/wireguard";
  if (existsSync(sockDir)) {
    for (const f of runOk("ls", [sockDir]).split("\n")) {
      if (f.startsWith(PREFIX) && f.endsWith(".sock")) rmSync(join(sockDir, f), { force: true });
    }
  }
  rmSync(STATE_DIR, { recursive: true, force: true });
}

/** Starts wireguard-go in the foreground inside a namespace, recorded by pid, and waits for its control socket. */
export function startWireguardGo(registry: ProcessRegistry, ns: string, ifname: string): Promise<number> {
  return startWireguardGoIn(ns, ifname, (pid) => registry.add(pid));
}

export function killPid(pid: number): void {
  killIfLab(pid);
}

const LOCK_FILE = join(STATE_DIR, "..", "lab.lock");

/**
 * One lab run at a time: namespace and interface names are fixed, so a second run would tear
 * the first one down. A lock left by a run that no longer exists is taken over.
 */
export function takeRunLock(): () => void {
  mkdirSync(join(STATE_DIR, ".."), { recursive: true });
  if (existsSync(LOCK_FILE)) {
    const pid = Number(readFileSync(LOCK_FILE, "utf8"));
    let alive = false;
    try {
      alive = pid !== process.pid && /lab\/main|bench\/main/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    } catch {
      alive = false;
    }
    if (alive) throw new Error(`another lab run (pid ${pid}) is active; wait for it or stop it first`);
  }
  writeFileSync(LOCK_FILE, String(process.pid));
  return () => rmSync(LOCK_FILE, { force: true });
}
