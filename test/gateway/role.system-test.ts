import { chmodSync, existsSync, readFileSync, utimesSync, writeFileSync } from "fs";
import { join } from "path";
import { renderGatewayRoleScript, ROLE_RECHECK_SECONDS, type GatewayRoleOptions } from "../../infra/gateway";
import { requireTool, run } from "../../harness/commands";
import { withTempDir } from "../../harness/temp";

/*
 * The rendered role hook with the real bash and jq, its curl and ip replaced by recorders: which Instance API calls it
 * makes when (a takeover, a step within the recheck period, one after it, a standby), and what it does to the
 * interface. The lab's gateway pair (scenarios l and m) runs it against the Instance API stand-in with the real ip.
 */

const SERVER = "5d7c2a10-8f4e-4b1a-9c3d-6e2f1a0b9c87";
const OTHER = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const IP_ID = "0b4c1f0e-3a59-4d8e-9a51-2f6f3c1d7e42";

/** A curl that records its method and URL and answers as the Instance API does, the IP held by $HOLDER (a file). */
const CURL = `#!/bin/bash
method=GET data="" url="" header=""
while (($#)); do
  case $1 in
    --request) method=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --header) header=$(cat "\${2#@}"); shift 2 ;;
    --max-time) shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
printf '%s %s %s\\n' "$method" "$url" "$data" >>"$DIR/api.log"
[[ $header == *"X-Auth-Token: the-secret-key"* ]] || { echo '{"type":"denied_authentication"}'; exit 22; }
if [[ $method == PATCH ]]; then jq -r .server <<<"$data" >"$DIR/holder"; fi
printf '{"ip":{"id":"%s","address":"51.15.10.20","server":{"id":"%s","name":"gw"}}}\\n' "${IP_ID}" "$(cat "$DIR/holder")"
`;

/** An ip that records its arguments; `address show` answers from $DIR/addresses. */
const IP = `#!/bin/bash
printf '%s\\n' "$*" >>"$DIR/ip.log"
if [[ $1 == -o && $2 == address ]]; then cat "$DIR/addresses" 2>/dev/null; fi
if [[ $1 == address && $2 == replace ]]; then echo "2: ens2 inet 51.15.10.20/32" >"$DIR/addresses"; fi
if [[ $1 == address && $2 == del ]]; then : >"$DIR/addresses"; fi
exit 0
`;

function setUp(dir: string): string {
  for (const [name, text] of Object.entries({ curl: CURL, ip: IP })) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  writeFileSync(join(dir, "instance-id"), `${SERVER}\n`);
  writeFileSync(join(dir, "secret-key"), "the-secret-key", { mode: 0o600 });
  writeFileSync(join(dir, "holder"), OTHER);
  const options: GatewayRoleOptions = {
    zone: "fr-par-1",
    sharedIpId: IP_ID,
    sharedAddress: "51.15.10.20",
    publicInterface: "ens2",
    startForwarding: ["bash", "-c", `echo start >>${dir}/forwarding.log`],
    stopForwarding: ["bash", "-c", `echo stop >>${dir}/forwarding.log`],
  };
  const script = join(dir, "iot-gateway-role");
  writeFileSync(
    script,
    renderGatewayRoleScript(options, { curl: join(dir, "curl"), ip: join(dir, "ip"), jq: requireTool("jq"), serverIdFile: join(dir, "instance-id"), secretKeyFile: join(dir, "secret-key"), runDir: join(dir, "run") }),
  );
  chmodSync(script, 0o755);
  return script;
}

const role = (script: string, dir: string, which: string) => run(script, [which], undefined, { env: { ...process.env, DIR: dir } });
const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);
const URL = `https://api.scaleway.com/instance/v1/zones/fr-par-1/ips/${IP_ID}`;

describe("gateway role hook", () => {
  beforeAll(() => requireTool("jq"));

  it("takes the flexible IP over once, trusts that for the recheck period, then asks again; a standby never calls the API", () =>
    withTempDir("role-", (dir) => {
      const script = setUp(dir);
      const first = role(script, dir, "active");
      expect(first.stderr).toContain(`moving the flexible IP 51.15.10.20 from ${OTHER} to this server (${SERVER})`);
      expect(first.status).toBe(0);
      expect(lines(join(dir, "api.log"))).toEqual([`GET ${URL} `, `PATCH ${URL} {"server":"${SERVER}"}`]);
      expect(lines(join(dir, "ip.log"))).toEqual(["address replace 51.15.10.20/32 dev ens2"]);
      expect(lines(join(dir, "forwarding.log"))).toEqual(["start"]);

      // The next steps, within the recheck period: no API call, the address and forwarding asserted again.
      expect(role(script, dir, "active").status).toBe(0);
      expect(lines(join(dir, "api.log"))).toHaveLength(2);
      expect(lines(join(dir, "forwarding.log"))).toEqual(["start", "start"]);

      // Past it, and someone else has taken the IP meanwhile: the hook reads it and moves it back.
      const past = (Date.now() - (ROLE_RECHECK_SECONDS + 5) * 1000) / 1000;
      utimesSync(join(dir, "run", "shared-ip"), past, past);
      writeFileSync(join(dir, "holder"), OTHER);
      expect(role(script, dir, "active").status).toBe(0);
      expect(lines(join(dir, "api.log")).slice(2)).toEqual([`GET ${URL} `, `PATCH ${URL} {"server":"${SERVER}"}`]);

      // Past it again, the IP still here: one read, no move.
      utimesSync(join(dir, "run", "shared-ip"), past, past);
      expect(role(script, dir, "active").status).toBe(0);
      expect(lines(join(dir, "api.log")).slice(4)).toEqual([`GET ${URL} `]);

      const standby = role(script, dir, "standby");
      expect(standby.status).toBe(0);
      expect(lines(join(dir, "api.log"))).toHaveLength(5);
      expect(lines(join(dir, "forwarding.log")).at(-1)).toBe("stop");
      expect(lines(join(dir, "ip.log")).slice(-2)).toEqual(["-o address show dev ens2 to 51.15.10.20/32", "address del 51.15.10.20/32 dev ens2"]);
      expect(existsSync(join(dir, "run", "shared-ip"))).toBe(false);
    }));

  it("fails without starting forwarding when the API refuses the key, and says why", () =>
    withTempDir("role-", (dir) => {
      const script = setUp(dir);
      writeFileSync(join(dir, "secret-key"), "a-wrong-key");
      const refused = role(script, dir, "active");
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain("error: cannot read the flexible IP");
      expect(lines(join(dir, "forwarding.log"))).toEqual([]);
      expect(existsSync(join(dir, "run", "shared-ip"))).toBe(false);
    }));

  it("refuses a server ID file that holds no server ID", () =>
    withTempDir("role-", (dir) => {
      const script = setUp(dir);
      writeFileSync(join(dir, "instance-id"), "i-0123\n");
      const result = role(script, dir, "active");
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain("does not hold a server ID (got 'i-0123')");
      expect(lines(join(dir, "api.log"))).toEqual([]);
    }));
});
