import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  LEADERSHIP_EXIT_API_ERROR,
  LEADERSHIP_EXIT_FENCED,
  LEADERSHIP_EXIT_LOST_RACE,
  leadershipRbacRules,
  type GatewayLeadershipOptions,
} from "../../infra/gateway";
import { requireTool } from "../../harness/commands";
import { checkedMetricValues } from "../observability/support/promtool";
import { apply, clusterEnv, createNamespace, eventually, kubectl, kubectlOk, report, type KubectlResult } from "./support/cluster";
import {
  PairGateway,
  RaceKubectl,
  activeSpans,
  closedPort,
  microTimeMs,
  overlaps,
  serviceAccountToken,
  sleep,
  tokenKubeconfig,
  type StepResult,
} from "./support/leadership";

/*
 * The gateway pair's leadership agent (infra/gateway/leadership.ts, scripts/gateway-leadership.sh) against the real API
 * server: two gateways, A and B, each the rendered agent with the real kubectl and jq, a kubeconfig with the token of a
 * ServiceAccount bound to nothing but the Role leadershipRbacRules() renders, and hooks that leave in a file what
 * forwarding would do. On a VM a timer runs a step every retryPeriodSeconds; here the test runs the steps on that
 * period, so the measured times are the agent's own (plus up to one period of the schedule).
 */

const NAMESPACE = "iot-leadership";
const LEASE = "iot-gateway-pair";
const SERVICE_ACCOUNT = "gateway-pair";
// Short, so the tests are quick; the same rules hold as for the defaults (renewDeadline + retryPeriod < leaseDuration).
const TIMING = { leaseDurationSeconds: 5, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 } as const;
const LEASE_MS = TIMING.leaseDurationSeconds * 1000;
const DEADLINE_MS = TIMING.renewDeadlineSeconds * 1000;
const PERIOD_MS = TIMING.retryPeriodSeconds * 1000;
const OPTIONS: Omit<GatewayLeadershipOptions, "identity" | "onActive" | "onStandby"> = { leaseName: LEASE, namespace: NAMESPACE, ...TIMING };
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const USER = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;

let work = "";
let kubectlBin = "";
let saKubeconfig = "";
let a: PairGateway;
let b: PairGateway;

interface LeaseJson {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

async function lease(name: string = LEASE): Promise<LeaseJson | undefined> {
  const result = await kubectl(["-n", NAMESPACE, "get", "lease", name, "-o", "json"]);
  return result.code === 0 ? (JSON.parse(result.stdout) as LeaseJson) : undefined;
}

async function mustLease(name: string = LEASE): Promise<LeaseJson> {
  const found = await lease(name);
  if (found === undefined) throw new Error(`no Lease ${NAMESPACE}/${name}`);
  return found;
}

const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

/** As the admin: the Lease held by `holder`, renewed at `renewMs` (another gateway, or one with a skewed clock). */
async function writeLeaseAsAdmin(name: string, holder: string, renewMs: number = Date.now()): Promise<LeaseJson> {
  const current = await lease(name);
  const spec = {
    holderIdentity: holder,
    leaseDurationSeconds: TIMING.leaseDurationSeconds,
    acquireTime: current?.spec.acquireTime ?? microTime(renewMs),
    renewTime: microTime(renewMs),
    leaseTransitions: current?.spec.leaseTransitions ?? 0,
  };
  const object = current ? { ...current, spec } : { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace: NAMESPACE }, spec };
  await kubectlOk([current ? "replace" : "create", "-f", "-"], JSON.stringify(object));
  return mustLease(name);
}

/** kubectl as the gateways' ServiceAccount. */
function asServiceAccount(args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(kubectlBin, ["--kubeconfig", saKubeconfig, "--cache-dir", path.join(work, "sa-cache"), ...args], (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end(input ?? "");
  });
}

/** The metrics of a gateway's last step as `name{labels}` -> value, after promtool found nothing wrong with them. */
function metrics(gateway: PairGateway): Map<string, number> {
  return checkedMetricValues(gateway.metricsText());
}

/** Both gateways' roles now: they must never both forward. */
function expectNoSplitBrain(when: string): void {
  expect({ when, a: a.role(), b: b.role() }).not.toMatchObject({ a: "active", b: "active" });
}

/**
 * Runs the gateways' steps on the timer's period until `done` says so; returns every step. The gateways step at the
 * same time, as two VMs with a timer each do (one after the other, the holder's renews would drift apart by the
 * other's steps).
 */
async function stepUntil(gateways: PairGateway[], done: (results: StepResult[]) => boolean, deadlineMs = 30_000): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const start = Date.now();
  for (;;) {
    const roundStart = Date.now();
    results.push(...(await Promise.all(gateways.map((gateway) => gateway.step()))));
    expectNoSplitBrain(`after round ${results.length / gateways.length}`);
    if (done(results)) return results;
    if (Date.now() - start > deadlineMs) throw new Error(`gave up after ${deadlineMs} ms: ${JSON.stringify(results.map((r) => [r.gateway, r.status, r.role]))}`);
    await sleep(roundStart + PERIOD_MS - Date.now());
  }
}

const row = (r: StepResult, from: number) => ({
  gateway: r.gateway,
  atMs: Math.round(r.endedAt - from),
  exit: r.status,
  outcome: r.state.step.outcome,
  forwarding: r.role,
  holder: r.state.holder,
  stderr: r.stderr.trim().split("\n").join(" | "),
});

beforeAll(async () => {
  for (const tool of ["bash", "jq", "flock", "timeout", "promtool"]) requireTool(tool);
  work = fs.mkdtempSync(path.join(os.tmpdir(), "leadership-cluster-"));
  kubectlBin = path.join(clusterEnv().bin, "kubectl");
  await kubectl(["delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=60s"]);
  await createNamespace(NAMESPACE);
  const rules = leadershipRbacRules({ ...OPTIONS, identity: "gw-a", onActive: ["true"], onStandby: ["true"] });
  const applied = await apply([
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SERVICE_ACCOUNT, namespace: NAMESPACE } },
    {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: { name: `${SERVICE_ACCOUNT}-token`, namespace: NAMESPACE, annotations: { "kubernetes.io/service-account.name": SERVICE_ACCOUNT } },
    },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: `${SERVICE_ACCOUNT}-leadership`, namespace: NAMESPACE }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${SERVICE_ACCOUNT}-leadership`, namespace: NAMESPACE },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${SERVICE_ACCOUNT}-leadership` },
      subjects: [{ kind: "ServiceAccount", name: SERVICE_ACCOUNT, namespace: NAMESPACE }],
    },
  ]);
  if (applied.code !== 0) throw new Error(`applying the ServiceAccount and its Role failed: ${applied.stderr}`);
  const { token, ms: tokenMs } = await serviceAccountToken(NAMESPACE, `${SERVICE_ACCOUNT}-token`);
  saKubeconfig = path.join(work, "sa.kubeconfig");
  fs.writeFileSync(saKubeconfig, tokenKubeconfig(token, SERVICE_ACCOUNT), { mode: 0o600 });
  // The RBAC authorizer reads bindings through an informer: wait until the binding is in its cache.
  const { ms: rbacMs } = await eventually("the Role to apply to the ServiceAccount", async () => {
    const answer = await asServiceAccount(["auth", "can-i", "get", `leases.coordination.k8s.io/${LEASE}`, "-n", NAMESPACE]);
    return answer.stdout.trim() === "yes" ? true : undefined;
  });
  a = new PairGateway("gw-a", path.join(work, "a"));
  b = new PairGateway("gw-b", path.join(work, "b"));
  for (const gateway of [a, b]) {
    gateway.render(OPTIONS, saKubeconfig, kubectlBin);
    await gateway.warm(saKubeconfig, kubectlBin);
  }
  report("setup", [
    { step: "ServiceAccount token Secret filled by the token controller", ms: tokenMs },
    { step: "Role of leadershipRbacRules() in force for the ServiceAccount", ms: rbacMs },
    { step: `timings: lease ${TIMING.leaseDurationSeconds} s, renew deadline ${TIMING.renewDeadlineSeconds} s, retry period ${TIMING.retryPeriodSeconds} s`, ms: 0 },
  ]);
}, 180_000);

afterAll(async () => {
  await kubectl(["delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"]);
  if (work !== "") fs.rmSync(work, { recursive: true, force: true });
});

describe("gateway pair leadership against the real API server", () => {
  it("A creates the Lease and holds it; B stands by and writes nothing", async () => {
    expect(await lease()).toBeUndefined();
    const first = await a.step();
    expect([first.status, first.stderr, first.role]).toEqual([0, "", "active"]);
    const created = await mustLease();
    expect(created.spec).toEqual({
      holderIdentity: "gw-a",
      leaseDurationSeconds: TIMING.leaseDurationSeconds,
      acquireTime: created.spec.renewTime,
      renewTime: expect.stringMatching(MICRO_TIME),
      leaseTransitions: 0,
    });
    const renewMs = microTimeMs(created.spec.renewTime!);
    expect(renewMs).toBeGreaterThanOrEqual(first.startedAt - 1);
    expect(renewMs).toBeLessThanOrEqual(first.endedAt + 1);
    expect(first.state).toMatchObject({ role: "active", holder: "gw-a", transitions: 0, renewTime: created.spec.renewTime, step: { outcome: "created", exit: 0 } });

    const standby = await b.step();
    expect([standby.status, standby.stderr, standby.role]).toEqual([0, "", "standby"]);
    expect(standby.state).toMatchObject({ role: "standby", holder: "gw-a", transitions: 0, step: { outcome: "standby" } });
    expect((await mustLease()).metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expectNoSplitBrain("after the first steps");
    expect(metrics(a).get("iot_gateway_leader")).toBe(1);
    expect(metrics(b).get("iot_gateway_leader")).toBe(0);
    expect(metrics(b).get('iot_gateway_lease_holder_info{holder="gw-a"}')).toBe(1);
    report("first steps", [row(first, first.startedAt), row(standby, first.startedAt)]);
  });

  it("A renews: renewTime advances, acquireTime and leaseTransitions stay", async () => {
    const before = await mustLease();
    await sleep(PERIOD_MS);
    const renew = await a.step();
    expect([renew.status, renew.stderr, renew.role, renew.state.step.outcome]).toEqual([0, "", "active", "renewed"]);
    const after = await mustLease();
    expect(after.spec).toMatchObject({ holderIdentity: "gw-a", acquireTime: before.spec.acquireTime, leaseTransitions: 0 });
    expect(after.metadata.resourceVersion).not.toBe(before.metadata.resourceVersion);
    const advancedMs = microTimeMs(after.spec.renewTime!) - microTimeMs(before.spec.renewTime!);
    expect(advancedMs).toBeGreaterThanOrEqual(PERIOD_MS);
    const standby = await b.step();
    expect([standby.status, standby.role]).toEqual([0, "standby"]);
    expect(metrics(a).get("iot_gateway_lease_last_renew_timestamp_seconds")).toBeCloseTo(renew.state.lastRenewMicros / 1e6, 5);
    report("renew", [{ renewTimeBefore: before.spec.renewTime, renewTimeAfter: after.spec.renewTime, advancedMs, transitions: after.spec.leaseTransitions }]);
  });

  it("B judges expiry by its own clock: a holder's renewTime an hour old does not let it take over", async () => {
    // As A would write it if its clock were an hour behind. A rule comparing renewTime + leaseDurationSeconds with
    // B's clock would take the Lease over at once; client-go's (and the agent's) only counts the record's change.
    const skewed = await writeLeaseAsAdmin(LEASE, "gw-a", Date.now() - 3600_000);
    const standby = await b.step();
    expect([standby.status, standby.stderr, standby.role, standby.state.step.outcome]).toEqual([0, "", "standby", "standby"]);
    expect((await mustLease()).metadata.resourceVersion).toBe(skewed.metadata.resourceVersion);
    const renew = await a.step();
    expect([renew.status, renew.state.step.outcome]).toEqual([0, "renewed"]);
  });

  it("A stops: B takes over only after leaseDurationSeconds, with leaseTransitions + 1", async () => {
    const last = await a.step();
    expect(last.state.step.outcome).toBe("renewed");
    a.down();
    const stoppedAt = last.endedAt;
    const steps = await stepUntil([b], (results) => results[results.length - 1].role === "active");
    const takeover = steps[steps.length - 1];
    const waiting = steps.slice(0, -1);
    const takeoverMs = takeover.endedAt - stoppedAt;
    report(`A stopped after its last renew; B took over ${takeoverMs} ms later (lease duration ${LEASE_MS} ms)`, steps.map((r) => row(r, stoppedAt)));
    for (const step of waiting) expect([step.status, step.role, step.state.step.outcome]).toEqual([0, "standby", "standby"]);
    expect(waiting.length).toBeGreaterThanOrEqual(TIMING.leaseDurationSeconds - 1);
    expect(takeover.status).toBe(0);
    expect(takeover.stderr).toBe("taking over the Lease from gw-a (leaseTransitions 1)\n");
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS);
    // B first sees A's last renew within a period, and acts within a period of its expiry.
    expect(takeoverMs).toBeLessThan(LEASE_MS + 3 * PERIOD_MS);
    const taken = await mustLease();
    expect(taken.spec).toEqual({ holderIdentity: "gw-b", leaseDurationSeconds: TIMING.leaseDurationSeconds, acquireTime: taken.spec.renewTime, renewTime: expect.stringMatching(MICRO_TIME), leaseTransitions: 1 });
    expect(microTimeMs(taken.spec.renewTime!)).toBeGreaterThanOrEqual(takeover.startedAt - 1);
    expect(metrics(b).get("iot_gateway_lease_transitions")).toBe(1);
  });

  it("A comes back and stands by while B renews; they never forward at the same time", async () => {
    a.up();
    const upAt = Date.now();
    const before = await mustLease();
    const steps = await stepUntil([a, b], (results) => results.length >= 16);
    report("A back, B holding", steps.map((r) => row(r, upAt)));
    const [back, ...rest] = steps.filter((r) => r.gateway === "gw-a");
    // Its state said active and its last renew is long past the deadline: it fences first, then sees B's claim.
    expect(back.status).toBe(LEADERSHIP_EXIT_FENCED);
    expect(back.stderr).toMatch(/past the renew deadline of 3 s; stopping forwarding \(fenced\)\nthe Lease is held by gw-b now; standing by\n$/);
    expect(back.role).toBe("standby");
    for (const step of rest) expect([step.status, step.stderr, step.role, step.state.holder]).toEqual([0, "", "standby", "gw-b"]);
    const renewTimes: number[] = [];
    for (const step of steps.filter((r) => r.gateway === "gw-b")) {
      expect([step.status, step.stderr, step.role, step.state.step.outcome]).toEqual([0, "", "active", "renewed"]);
      renewTimes.push(microTimeMs(step.state.renewTime!));
    }
    expect([...renewTimes].sort((x, y) => x - y)).toEqual(renewTimes);
    expect(new Set(renewTimes).size).toBe(renewTimes.length);
    const after = await mustLease();
    expect(after.spec).toMatchObject({ holderIdentity: "gw-b", leaseTransitions: 1, acquireTime: before.spec.acquireTime });
    expect(a.hookEvents().filter((event) => event.at >= upAt && event.role === "active")).toEqual([]);
  });

  it("of two gateways acting on the same read, exactly one wins and the other gets a Conflict", async () => {
    const race = new RaceKubectl(path.join(work, "race"), kubectlBin, 2);
    const rows: Array<Record<string, unknown>> = [];
    const errorsBefore = a.state().errorsTotal + b.state().errorsTotal;
    const conflictsBefore = a.state().conflictsTotal + b.state().conflictsTotal;
    // A create race (no Lease), then update races for a Lease whose holder has gone.
    for (let round = 0; round < 4; round++) {
      // Both see a holder that has gone (so the one forwarding now stands down), ...
      const gone = await writeLeaseAsAdmin(LEASE, `gw-gone-${round}`);
      for (const gateway of [a, b]) expect((await gateway.step()).state.step.outcome).toBe("standby");
      expectNoSplitBrain(`round ${round}, before the race`);
      let transitions = (gone.spec.leaseTransitions ?? 0) + 1;
      if (round === 0) {
        // ... then the Lease is gone altogether (both create), ...
        await kubectlOk(["-n", NAMESPACE, "delete", "lease", LEASE]);
        transitions = 0;
      } else {
        // ... or they wait a lease duration: by their own clocks the gone holder's claim has expired.
        await sleep(LEASE_MS + 200);
      }
      const before = await lease();
      race.reset();
      for (const gateway of [a, b]) gateway.render(OPTIONS, saKubeconfig, race.path);
      const results = await Promise.all([a.step(), b.step()]);
      for (const gateway of [a, b]) gateway.render(OPTIONS, saKubeconfig, kubectlBin);
      expectNoSplitBrain(`round ${round}, after the race`);
      const winners = results.filter((r) => r.status === 0);
      const losers = results.filter((r) => r.status === LEADERSHIP_EXIT_LOST_RACE);
      for (const r of results) rows.push({ round, ...row(r, r.startedAt), resourceVersionRead: before?.metadata.resourceVersion ?? "(none)" });
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(1);
      // The first write went through, the second carried the same (now stale) resourceVersion and was refused.
      expect(race.writes()).toEqual([0, 1]);
      const [winner, loser] = [winners[0], losers[0]];
      expect(winner.role).toBe("active");
      expect(winner.state.step.outcome).toBe(round === 0 ? "created" : "acquired");
      expect(loser.role).toBe("standby");
      expect(loser.state).toMatchObject({ role: "standby", step: { outcome: "lost-race", exit: LEADERSHIP_EXIT_LOST_RACE } });
      expect(loser.stderr).toMatch(
        round === 0
          ? /^lost the race for the Lease: Error from server \(AlreadyExists\): error when creating ".*": leases\.coordination\.k8s\.io "iot-gateway-pair" already exists\n$/
          : /^taking over the Lease from gw-gone-\d \(leaseTransitions \d+\)\nlost the race for the Lease: Error from server \(Conflict\): error when replacing ".*": Operation cannot be fulfilled on leases\.coordination\.k8s\.io "iot-gateway-pair": the object has been modified; please apply your changes to the latest version and try again\n$/,
      );
      const held = await mustLease();
      expect(held.spec).toMatchObject({ holderIdentity: winner.gateway, leaseTransitions: transitions });
    }
    report("races (each row one gateway; both read the same Lease before either wrote)", rows);
    const conflicts = a.state().conflictsTotal + b.state().conflictsTotal;
    expect(conflicts - conflictsBefore).toBe(4);
    expect(metrics(a).get("iot_gateway_lease_conflicts_total")! + metrics(b).get("iot_gateway_lease_conflicts_total")!).toBe(conflicts);
    // A lost race is not an API error.
    expect(a.state().errorsTotal + b.state().errorsTotal).toBe(errorsBefore);
  });

  it("shows what the resourceVersion is for: a copy that replaces without it lets both gateways win the same race", async () => {
    // Two more gateways on a Lease of their own, with the admin's kubeconfig (the point here is the API server's
    // optimistic concurrency, not RBAC). kubectl replace without a resourceVersion fetches the current one itself.
    const name = "broken-pair";
    const race = new RaceKubectl(path.join(work, "broken-race"), kubectlBin, 2);
    const c = new PairGateway("gw-c", path.join(work, "c"));
    const d = new PairGateway("gw-d", path.join(work, "d"));
    const options = { ...OPTIONS, leaseName: name };
    const correct = "'.spec = {holderIdentity";
    const broken = (text: string) => {
      expect(text).toContain(correct);
      return text.replace(correct, "'del(.metadata.resourceVersion) | .spec = {holderIdentity");
    };
    await writeLeaseAsAdmin(name, "gw-gone");
    for (const gateway of [c, d]) {
      gateway.render(options, clusterEnv().kubeconfig, kubectlBin, broken);
      await gateway.warm(clusterEnv().kubeconfig, kubectlBin);
      expect((await gateway.step()).state.step.outcome).toBe("standby");
    }
    await sleep(LEASE_MS + 200);
    for (const gateway of [c, d]) gateway.render(options, clusterEnv().kubeconfig, race.path, broken);
    const results = await Promise.all([c.step(), d.step()]);
    report("the broken copy (no resourceVersion on replace)", results.map((r) => row(r, r.startedAt)));
    expect(results.map((r) => [r.status, r.role])).toEqual([
      [0, "active"],
      [0, "active"],
    ]);
    expect(race.writes()).toEqual([0, 0]);
    // The split-brain check of the last test catches exactly this.
    expect(overlaps(activeSpans(c.hookEvents(), Date.now()), activeSpans(d.hookEvents(), Date.now())).length).toBeGreaterThan(0);
  });

  it("a holder that cannot reach the API stops forwarding by its renew deadline, before the other takes over", async () => {
    const holderName = (await mustLease()).spec.holderIdentity;
    const [holder, other] = holderName === "gw-a" ? [a, b] : [b, a];
    const renew = await holder.step();
    expect([renew.status, renew.state.step.outcome]).toEqual([0, "renewed"]);
    const errorsBefore = renew.state.errorsTotal;
    const lastRenewMs = renew.state.lastRenewMicros / 1000;
    const unreachable = path.join(work, "unreachable.kubeconfig");
    fs.writeFileSync(unreachable, tokenKubeconfig("unused", SERVICE_ACCOUNT, `https://127.0.0.1:${await closedPort()}`), { mode: 0o600 });
    holder.render(OPTIONS, unreachable, kubectlBin);
    const steps = await stepUntil([holder, other], (results) => results[results.length - 1].gateway === other.identity && results[results.length - 1].role === "active");
    holder.render(OPTIONS, saKubeconfig, kubectlBin);
    report(`API unreachable for ${holder.identity} after its last renew (times from the start of that renew)`, steps.map((r) => row(r, lastRenewMs)));
    const holderSteps = steps.filter((r) => r.gateway === holder.identity);
    const fenceAt = holderSteps.findIndex((r) => r.status === LEADERSHIP_EXIT_FENCED);
    expect(fenceAt).toBeGreaterThanOrEqual(1);
    for (const step of holderSteps.slice(0, fenceAt)) {
      expect([step.status, step.role]).toEqual([LEADERSHIP_EXIT_API_ERROR, "active"]);
      expect(step.stderr).toMatch(/^error: cannot read the Lease iot-leadership\/iot-gateway-pair: .*; still forwarding for \d+ ms unless a renew succeeds\n$/);
    }
    const fence = holderSteps[fenceAt];
    expect(fence.role).toBe("standby");
    expect(fence.stderr).toMatch(/the renew deadline \(3 s after the last renew, \d+ ms ago\) comes before the next step; stopping forwarding \(fenced\)\n$/);
    for (const step of holderSteps.slice(fenceAt + 1)) expect([step.status, step.role]).toEqual([LEADERSHIP_EXIT_API_ERROR, "standby"]);
    const takeover = steps[steps.length - 1];
    const fenceMs = fence.endedAt - lastRenewMs;
    const takeoverMs = takeover.endedAt - renew.endedAt;
    report("fencing", [
      { what: `${holder.identity} ran onStandby`, msAfterLastRenew: Math.round(fenceMs), bound: `renew deadline ${DEADLINE_MS} ms` },
      { what: `${other.identity} took over`, msAfterLastRenew: Math.round(takeover.endedAt - lastRenewMs), bound: `at least the lease duration ${LEASE_MS} ms after it saw the renew` },
    ]);
    // Fenced no earlier than a retry period before its deadline, and by the deadline (plus the fencing step's own
    // hook and files); the other took over only after the lease duration, well after that.
    expect(fence.endedAt).toBeGreaterThanOrEqual(lastRenewMs + DEADLINE_MS - PERIOD_MS);
    expect(fenceMs).toBeLessThanOrEqual(DEADLINE_MS + 500);
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS);
    expect(fence.endedAt).toBeLessThan(takeover.startedAt);
    const m = metrics(holder);
    expect(m.get("iot_gateway_leader")).toBe(0);
    expect(m.get("iot_gateway_lease_errors_total")).toBe(errorsBefore + holderSteps.length);
    expect(m.get("iot_gateway_leadership_last_exit_code")).toBe(LEADERSHIP_EXIT_API_ERROR);
    expect(m.get("iot_gateway_lease_last_error_timestamp_seconds")! * 1000).toBeGreaterThan(fence.startedAt);

    const backOnline = await holder.step();
    expect([backOnline.status, backOnline.stderr, backOnline.role, backOnline.state.holder]).toEqual([0, "", "standby", other.identity]);
  });

  it("the ServiceAccount may not read or update any other Lease (403), only create one", async () => {
    const stranger = new PairGateway("gw-a", path.join(work, "stranger"));
    stranger.render({ ...OPTIONS, leaseName: "another-lease" }, saKubeconfig, kubectlBin);
    await stranger.warm(saKubeconfig, kubectlBin);
    const denied = await stranger.step();
    const forbiddenGet = `Error from server (Forbidden): leases.coordination.k8s.io "another-lease" is forbidden: User "${USER}" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "${NAMESPACE}"`;
    expect([denied.status, denied.role]).toEqual([LEADERSHIP_EXIT_API_ERROR, "standby"]);
    expect(denied.stderr).toBe(`error: cannot read the Lease ${NAMESPACE}/another-lease: ${forbiddenGet}\n`);

    const another = await writeLeaseAsAdmin("another-lease", "someone-else");
    const takeOver = { ...another, spec: { ...another.spec, holderIdentity: "gw-a" } };
    const update = await asServiceAccount(["replace", "-f", "-"], JSON.stringify(takeOver));
    expect(update.code).not.toBe(0);
    expect(update.stderr).toContain(`User "${USER}" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "${NAMESPACE}"`);
    expect((await mustLease("another-lease")).spec.holderIdentity).toBe("someone-else");
    const pairUpdate = await asServiceAccount(["auth", "can-i", "update", `leases.coordination.k8s.io/${LEASE}`, "-n", NAMESPACE]);
    expect(pairUpdate.stdout.trim()).toBe("yes");
    const elsewhere = await asServiceAccount(["auth", "can-i", "get", `leases.coordination.k8s.io/${LEASE}`, "-n", "default"]);
    expect(elsewhere.stdout.trim()).toBe("no");

    // RBAC cannot restrict create by name: the ServiceAccount can create a Lease of any name, but not read it back.
    const created = await asServiceAccount(
      ["create", "-f", "-"],
      JSON.stringify({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "created-by-gateway", namespace: NAMESPACE }, spec: {} }),
    );
    expect(created.code).toBe(0);
    const readBack = await asServiceAccount(["-n", NAMESPACE, "get", "lease", "created-by-gateway"]);
    expect(readBack.code).not.toBe(0);
    expect(readBack.stderr).toContain(`cannot get resource "leases"`);
    report("the ServiceAccount's RBAC", [
      { request: "get lease another-lease (a leadership step)", answer: forbiddenGet },
      { request: "replace lease another-lease", answer: update.stderr.trim() },
      { request: `update lease ${LEASE}`, answer: "yes (kubectl auth can-i)" },
      { request: `get lease ${LEASE} in namespace default`, answer: "no (kubectl auth can-i)" },
      { request: "create lease created-by-gateway", answer: `${created.stdout.trim()} (create cannot be restricted by name)` },
      { request: "get lease created-by-gateway", answer: readBack.stderr.trim() },
    ]);
  });

  it("over the whole run, A and B never forwarded at the same time", () => {
    const now = Date.now();
    const spansA = activeSpans(a.hookEvents(), now);
    const spansB = activeSpans(b.hookEvents(), now);
    report("forwarding spans over the run", [
      { gateway: "gw-a", spans: spansA.length, activeMs: spansA.reduce((sum, [from, to]) => sum + to - from, 0) },
      { gateway: "gw-b", spans: spansB.length, activeMs: spansB.reduce((sum, [from, to]) => sum + to - from, 0) },
    ]);
    expect(spansA.length).toBeGreaterThan(0);
    expect(spansB.length).toBeGreaterThan(0);
    expect(overlaps(spansA, spansB)).toEqual([]);
  });
});
