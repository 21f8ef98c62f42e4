import { readFileSync } from "fs";
import {
  DEFAULT_ROLE_PATHS,
  ROLE_API_TIMEOUT_SECONDS,
  SCALEWAY_API_URL,
  SHELL_PARAMETERS_MARKER,
  gatewayRoleParameters,
  gatewayScriptPath,
  renderGatewayRoleScript,
  renderShellParameters,
  type GatewayRoleOptions,
} from "../../infra/gateway";
import { planProblems } from "../support/plan-problems";

// The role hook's options and parameters. The script itself runs in the lab's gateway pair (lab/pair.ts, scenarios l
// and m) against the Instance API stand-in, and shellcheck checks it in checkers.system-test.ts.

const options: GatewayRoleOptions = {
  zone: "fr-par-1",
  sharedIpId: "0b4c1f0e-3a59-4d8e-9a51-2f6f3c1d7e42",
  sharedAddress: "51.15.10.20",
  publicInterface: "ens2",
  startForwarding: ["/usr/bin/systemctl", "start", "wg-quick@wg-uplink.service", "kilo-connect.service"],
  stopForwarding: ["/usr/bin/systemctl", "stop", "wg-quick@wg-uplink.service", "kilo-connect.service"],
};

function problems(overrides: Partial<GatewayRoleOptions>): string[] {
  return planProblems(() => gatewayRoleParameters({ ...options, ...overrides }));
}

describe("gateway role hook", () => {
  it("renders its parameters: the flexible IP's API path parts, this server's ID file, the key file, the forwarding commands", () => {
    expect(gatewayRoleParameters(options)).toEqual([
      { name: "CURL", value: "/usr/bin/curl" },
      { name: "IP", value: "/usr/sbin/ip" },
      { name: "JQ", value: "/usr/bin/jq" },
      { name: "API_URL", value: SCALEWAY_API_URL },
      { name: "API_TIMEOUT", value: ROLE_API_TIMEOUT_SECONDS, comment: "seconds" },
      { name: "RECHECK_SECONDS", value: 60, comment: "seconds" },
      { name: "ZONE", value: "fr-par-1" },
      { name: "SHARED_IP_ID", value: options.sharedIpId },
      { name: "SHARED_ADDRESS", value: "51.15.10.20" },
      { name: "PUBLIC_INTERFACE", value: "ens2" },
      { name: "SERVER_ID_FILE", value: "/var/lib/cloud/data/instance-id" },
      { name: "SECRET_KEY_FILE", value: "/etc/iot-gateway/scaleway-secret-key" },
      { name: "RUN_DIR", value: "/run/iot-gateway-role" },
      { name: "START_FORWARDING", value: options.startForwarding },
      { name: "STOP_FORWARDING", value: options.stopForwarding },
    ]);
    expect(SCALEWAY_API_URL).toBe("https://api.scaleway.com");
    expect(DEFAULT_ROLE_PATHS.serverIdFile).toBe("/var/lib/cloud/data/instance-id");
  });

  it("renders the script file with the parameter block in place of its marker, the rest byte for byte", () => {
    const file = readFileSync(gatewayScriptPath("gateway-role.sh"), "utf8");
    const rendered = renderGatewayRoleScript({ ...options, apiUrl: "http://198.51.100.250:8080" });
    const block = renderShellParameters(gatewayRoleParameters({ ...options, apiUrl: "http://198.51.100.250:8080" })).trimEnd();
    expect(rendered).toBe(file.replace(SHELL_PARAMETERS_MARKER, block));
    expect(rendered).toContain("readonly API_URL=http://198.51.100.250:8080\n");
    expect(rendered).toContain("readonly START_FORWARDING=(/usr/bin/systemctl start wg-quick@wg-uplink.service kilo-connect.service)\n");
    // The secret key is read from its file at run time: it is never a parameter of the script.
    expect(rendered).not.toMatch(/readonly SECRET_KEY=/);
  });

  it("accepts the options as given", () => {
    expect(problems({})).toEqual([]);
  });

  it("reports every bad option at once, at its name", () => {
    expect(
      problems({
        zone: "fr-par",
        sharedIpId: "fr-par-1/0b4c1f0e-3a59-4d8e-9a51-2f6f3c1d7e42",
        sharedAddress: "51.15.10",
        publicInterface: "an-interface-name-too-long",
        startForwarding: [],
        stopForwarding: [""],
        apiUrl: "https://api.scaleway.com/instance",
      }),
    ).toEqual([
      'zone: must be a Scaleway zone such as fr-par-1, got "fr-par"',
      'sharedIpId: must be the flexible IP\'s ID (a lower case UUID, no zone prefix), got "fr-par-1/0b4c1f0e-3a59-4d8e-9a51-2f6f3c1d7e42"',
      'sharedAddress: must be an IPv4 address, got "51.15.10"',
      'publicInterface: must be an interface name (at most 15 characters), got "an-interface-name-too-long"',
      "startForwarding: must be a command: a non-empty argv whose first word names the program",
      "stopForwarding: must be a command: a non-empty argv whose first word names the program",
      'apiUrl: must be a scheme and host without a path, got "https://api.scaleway.com/instance"',
    ]);
  });
});
