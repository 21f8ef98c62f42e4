#!/bin/bash
# The role hook of the gateway pair: the leadership agent (gateway-leadership.sh) runs `iot-gateway-role active` in
# every step in which this gateway holds the pair's Lease and `iot-gateway-role standby` in every other, fencing
# included. Both must be idempotent: they run every few seconds.
#
# active:
#   1. the pair's flexible IP is routed to this server: unless $RUN_DIR/shared-ip says so and is younger than
#      $RECHECK_SECONDS, the IP is read from the Instance API (GET /instance/v1/zones/$ZONE/ips/$SHARED_IP_ID) and,
#      when another server (or none) holds it, moved here (PATCH with {"server": <this server's ID>}; the Instance
#      API's UpdateIPRequest, as scaleway-sdk-go api/instance/v1 and terraform-provider-scaleway
#      internal/services/instance/ip.go call it); the answer must name this server. So the API is called at a
#      takeover and then once per $RECHECK_SECONDS, not every step: often enough to take the IP back when something
#      else detached it (a server deleted by `pulumi up` detaches the IPs it was created with).
#   2. the address is on $PUBLIC_INTERFACE (as a /32; `ip address replace` is a no-op when it is there already);
#   3. $START_FORWARDING runs (the WireGuard interfaces of the uplink and of the Kilo mesh come up).
# standby:
#   1. $STOP_FORWARDING runs (both WireGuard interfaces go down: a standby holds the pair's WireGuard keys and must not
#      send a single handshake with them, or the peers would roam their endpoint to it);
#   2. the flexible IP's address leaves $PUBLIC_INTERFACE, and $RUN_DIR/shared-ip is removed.
#   The standby never calls the API: it must be able to stop forwarding when it can reach nothing.
#
# This server's ID is the instance ID cloud-init recorded ($SERVER_ID_FILE): its Scaleway datasource takes it from the
# metadata service's /conf?format=json "id" (cloudinit/sources/DataSourceScaleway.py, get_instance_id).
# The API key is the pair's own IAM application's, in $SECRET_KEY_FILE (readable by root only).
#
# jq programs are single-quoted on purpose: their $variables belong to jq, not to the shell.
# shellcheck disable=SC2016
set -euo pipefail

# Parameters: readonly variables rendered from the pair's options by infra/gateway/role.ts.
# @parameters

log() {
  printf 'iot-gateway-role: %s\n' "$*" >&2
}

# The Instance API at the flexible IP's path; the key goes in a header file descriptor, never on a command line.
ip_api() {
  local method=$1 body=${2:-}
  local key
  key=$(<"$SECRET_KEY_FILE")
  "$CURL" --silent --show-error --fail-with-body --max-time "$API_TIMEOUT" --request "$method" \
    --header @<(printf 'X-Auth-Token: %s\nContent-Type: application/json\n' "$key") \
    ${body:+--data "$body"} "$API_URL/instance/v1/zones/$ZONE/ips/$SHARED_IP_ID"
}

server_id() {
  local id
  id=$(<"$SERVER_ID_FILE")
  if [[ ! $id =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then
    log "error: $SERVER_ID_FILE does not hold a server ID (got '$id')"
    return 1
  fi
  printf '%s\n' "$id"
}

attach_shared_ip() {
  local me holder answer
  me=$(server_id)
  if [[ -f $RUN_DIR/shared-ip && $(<"$RUN_DIR/shared-ip") == "$me" ]] &&
    (($(printf '%(%s)T' -1) - $(stat -c %Y "$RUN_DIR/shared-ip") < RECHECK_SECONDS)); then
    return 0
  fi
  answer=$(ip_api GET) || {
    log "error: cannot read the flexible IP $SHARED_IP_ID: $answer"
    return 1
  }
  holder=$("$JQ" -r '.ip.server.id // ""' <<<"$answer")
  if [[ $holder != "$me" ]]; then
    log "moving the flexible IP $SHARED_ADDRESS from ${holder:-no server} to this server ($me)"
    answer=$(ip_api PATCH "$("$JQ" -cn --arg server "$me" '{server: $server}')") || {
      log "error: cannot move the flexible IP $SHARED_IP_ID: $answer"
      return 1
    }
    holder=$("$JQ" -r '.ip.server.id // ""' <<<"$answer")
    if [[ $holder != "$me" ]]; then
      log "error: the Instance API answered the move with server '${holder}', not this server ($me)"
      return 1
    fi
  fi
  mkdir -p "$RUN_DIR"
  printf '%s\n' "$me" >"$RUN_DIR/shared-ip.new"
  mv -f "$RUN_DIR/shared-ip.new" "$RUN_DIR/shared-ip"
}

active() {
  attach_shared_ip
  "$IP" address replace "$SHARED_ADDRESS/32" dev "$PUBLIC_INTERFACE"
  "${START_FORWARDING[@]}"
}

standby() {
  local status=0
  "${STOP_FORWARDING[@]}" || status=$?
  if "$IP" -o address show dev "$PUBLIC_INTERFACE" to "$SHARED_ADDRESS/32" | grep -q .; then
    "$IP" address del "$SHARED_ADDRESS/32" dev "$PUBLIC_INTERFACE" || status=$?
  fi
  rm -f "$RUN_DIR/shared-ip"
  return "$status"
}

case "${1:-}" in
  active) active ;;
  standby) standby ;;
  *)
    log "usage: $0 active|standby"
    exit 64
    ;;
esac
