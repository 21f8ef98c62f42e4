#!/bin/bash
# Leadership agent of the gateway pair: of the two gateways (active and standby), the one that holds the
# coordination.k8s.io/v1 Lease $LEASE_NAMESPACE/$LEASE_NAME forwards device traffic (it runs $ON_ACTIVE), the other
# stands by ($ON_STANDBY). One invocation is one step of client-go's leader election
# (staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go, tryAcquireOrRenew); a timer runs it every
# $RETRY_PERIOD seconds. `iot-gateway-leadership` (or `step`) runs one step.
#
# A step reads the Lease and
#   - absent: creates it, held by $IDENTITY, leaseTransitions 0;
#   - held by $IDENTITY: renews it (renewTime now; acquireTime and leaseTransitions kept);
#   - held by another whose claim is still valid: stands by and writes nothing;
#   - held by another whose claim expired, or by nobody: takes it over (acquireTime now, leaseTransitions + 1).
# The spec is written as staging/src/k8s.io/client-go/tools/leaderelection/resourcelock/leaselock.go writes it
# (LeaderElectionRecordToLeaseSpec): holderIdentity, leaseDurationSeconds, acquireTime, renewTime (metav1.MicroTime,
# RFC 3339 with microseconds) and leaseTransitions, nothing else.
#
# Optimistic concurrency: a write is `kubectl replace` of the object as read, its resourceVersion included, or
# `kubectl create` when there was none. The API server refuses it with 409 Conflict (AlreadyExists for a create) when
# another write came in since the read, so of two gateways acting on the same read exactly one wins; the other has
# lost the race and stands by this round (exit $EXIT_LOST_RACE). A resourceVersion must never be missing from a
# replace: kubectl would then fetch the current one itself and overwrite whatever another gateway just wrote
# (staging/src/k8s.io/cli-runtime/pkg/resource/helper.go, Replace with overwrite, as kubectl replace calls it).
#
# Expiry is judged as client-go judges it, by this gateway's own clock only. The state file keeps the Lease record as
# last seen and the local time it was first seen so (client-go's observedRecord and observedTime, set when the
# record read differs from the one observed); another holder's claim is valid until leaseDurationSeconds after that,
# whatever its renewTime says. renewTime comes from the holder's clock: comparing it with ours would make a takeover
# depend on the skew between the two gateways (a holder whose clock is behind would be taken over while it renews),
# so only its change counts, as the holder's proof of life. The cost: a gateway without state (first start, state
# lost) waits a full lease duration before it takes over a Lease another holds.
#
# Fencing: a holder that cannot renew (API unreachable or slow, forbidden, anything but a lost race) keeps forwarding
# while its renew deadline, $RENEW_DEADLINE seconds after the start of its last successful renew, is more than a retry
# period away; the failed step after which the next one would come too late runs $ON_STANDBY (exit $EXIT_FENCED). Its
# API calls are cut off at the deadline, and a step that starts past it (the timer stalled, the machine was suspended)
# fences before it calls the API at all. So it stops forwarding by the deadline, while the other gateway takes over
# no sooner than $LEASE_DURATION seconds after it saw the last renew; infra/gateway/leadership.ts keeps LEASE_DURATION
# above RENEW_DEADLINE + RETRY_PERIOD, a margin for a late step. This is stricter than client-go, whose renew loop
# gives up RenewDeadline after the start of a retry round (leaderelection.go, renew). A step that fails for a reason
# of its own (full disk, a tool missing) runs $ON_STANDBY as well.
#
# Hooks run on every step, not only on a change (the one a previous step ran may have failed, the machine may have
# rebooted), so they must be idempotent. They get LEADERSHIP_ROLE (active|standby), LEADERSHIP_HOLDER and
# LEADERSHIP_CHANGED (1 when the role differs from the previous step's) in their environment.
#
# Outcome: $STATE_FILE (role, holder, the Lease's renewTime and leaseTransitions, the observed record and when it was
# observed, error and conflict counts) and, for prometheus-node-exporter's textfile collector,
# $TEXTFILE_DIR/$METRICS_FILE; both are written next to their target and renamed. Exit 0 when the step did what the
# Lease says, else $EXIT_API_ERROR, $EXIT_LOST_RACE, $EXIT_FENCED or $EXIT_HOOK_FAILED.
#
# jq programs are single-quoted on purpose: their $variables belong to jq, not to the shell.
# shellcheck disable=SC2016
set -euo pipefail

# Parameters: readonly variables rendered from the leadership options by infra/gateway/leadership.ts.
# @parameters

log() {
  printf '%s\n' "$*" >&2
}

# Microseconds since the epoch (EPOCHREALTIME's decimal point follows the locale, so every non-digit goes).
now_us() {
  local t=$EPOCHREALTIME
  printf '%s\n' "${t//[!0-9]/}"
}

# metav1.MicroTime as the API server writes it (RFC3339Micro in UTC), e.g. 2026-12-02T10:00:00.000000Z. printf's
# own strftime: a step runs on a timer every few seconds, and each process it starts counts.
micro_time() {
  local TZ=UTC t
  printf -v t '%(%Y-%m-%dT%H:%M:%S)T' $(($1 / 1000000))
  printf '%s.%06dZ\n' "$t" $(($1 % 1000000))
}

# Microseconds $1 as seconds with six decimals.
seconds() {
  printf '%d.%06d\n' $(($1 / 1000000)) $(($1 % 1000000))
}

# Sets the variables named $@ to digits only, or 0: whatever reaches $(( )) must be a plain number.
numbers() {
  local name
  for name in "$@"; do
    if [[ ! ${!name} =~ ^[0-9]+$ ]]; then printf -v "$name" 0; fi
  done
}

# The previous step's state, as shell assignments (jq's @sh quotes them). A state file that cannot be read counts as
# none: the step then judges like a gateway that has just started. The Lease's fields as last seen stand until this
# step reads the Lease.
load_state() {
  local assignments=""
  previous_role=standby last_renew=0 observed_record="" observed_at=0 errors=0 conflicts=0 last_error_at=0 last_error=""
  holder="" renew_time="" acquire_time="" transitions="" lease_seconds=""
  if [[ -f $STATE_FILE ]]; then
    assignments=$("$JQ" -r '@sh "previous_role=\(.role // "standby") last_renew=\(.lastRenewMicros // 0)
      observed_record=\(.observed.record // "" | if type == "object" then tojson else "" end)
      observed_at=\(.observed.timeMicros // 0) errors=\(.errorsTotal // 0) conflicts=\(.conflictsTotal // 0)
      last_error_at=\(.lastError.timeMicros // 0) last_error=\(.lastError.message // "")
      holder=\(.holder // "") renew_time=\(.renewTime // "") acquire_time=\(.acquireTime // "")
      transitions=\(.transitions // "") lease_seconds=\(.leaseDurationSeconds // "")"' "$STATE_FILE" 2>/dev/null) ||
      assignments=""
  fi
  eval "$assignments"
  numbers last_renew observed_at errors conflicts last_error_at
  if [[ ! $transitions =~ ^[0-9]+$ ]]; then transitions=""; fi
  if [[ ! $lease_seconds =~ ^[0-9]+$ ]]; then lease_seconds=""; fi
}

# Milliseconds an API call may take: a retry period, so a step ends before the next one is due, and for a holder no
# more than what is left before its renew deadline.
budget_ms() {
  local ms=${RETRY_PERIOD}000 left
  if ((active_until > 0)); then
    left=$(((active_until - $(now_us)) / 1000))
    if ((left < ms)); then ms=$left; fi
  fi
  echo "$ms"
}

# kubectl with the step's budget for the whole process (its start and discovery included, which --request-timeout
# alone would not bound); 124 when the budget is spent. systemd's CacheDirectory= sets CACHE_DIRECTORY.
kube() {
  local ms
  ms=$(budget_ms)
  if ((ms <= 0)); then
    echo "no time left before the renew deadline" >&2
    return 124
  fi
  timeout --kill-after=1 "$(seconds $((ms * 1000)))" "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" \
    --cache-dir "${CACHE_DIRECTORY:-/var/cache/iot-gateway-leadership}" --request-timeout="${ms}ms" "$@"
}

# The first line of an error file, for logs and the state (kubectl's message, or what timeout left).
first_line() {
  local line=""
  IFS= read -r line <"$1" || true
  printf '%s\n' "${line:-exit status $2 without a message}"
}

# Stops forwarding now: the claim this gateway held can no longer be trusted.
fence() {
  log "error: $1; stopping forwarding (fenced)"
  active_until=0
  fenced=1
  run_hook standby || hook_status=$?
  standby_hook_ran=1
}

# A failed read or write ($1: what, $2: its error file, $3: its exit status) that is not a lost race.
failure() {
  local message now
  message="$1: $(first_line "$2" "$3")"
  if (($3 == 124)); then message="$1: no answer within the step's time budget"; fi
  errors=$((errors + 1))
  last_error_at=$(now_us)
  last_error=$message
  status=$EXIT_API_ERROR
  outcome=api-error
  if ((active_until > 0)); then
    now=$(now_us)
    # The next step is due a retry period from now: if the deadline comes first, this is the last chance to fence.
    if ((now + RETRY_PERIOD * 1000000 < active_until)); then
      role=active
      holder=$IDENTITY
      log "error: $message; still forwarding for $(((active_until - now) / 1000)) ms unless a renew succeeds"
      return 0
    fi
    fence "$message, and the renew deadline (${RENEW_DEADLINE} s after the last renew, $(((now - last_renew) / 1000)) ms ago) comes before the next step"
    return 0
  fi
  log "error: $message"
}

# The hooks do not get the step's lock (fd 9): a process a hook leaves running would otherwise hold it, and every
# later step would find it taken and do nothing.
run_hook() {
  local status=0
  if [[ $1 == active ]]; then
    LEADERSHIP_ROLE=active LEADERSHIP_HOLDER=$holder LEADERSHIP_CHANGED=$changed "${ON_ACTIVE[@]}" </dev/null >&2 9>&- || status=$?
  else
    LEADERSHIP_ROLE=standby LEADERSHIP_HOLDER=$holder LEADERSHIP_CHANGED=$changed "${ON_STANDBY[@]}" </dev/null >&2 9>&- || status=$?
  fi
  if ((status != 0)); then log "error: the $1 hook failed with exit status $status"; fi
  return "$status"
}

# Writes the Lease ($1: create or replace) from $work/write.json, the object to send. Sets the step's outcome.
write_lease() {
  local verb=$1 result=$2 wrote=0 now
  kube "$verb" -f "$work/write.json" -o json >"$work/written.json" 2>"$work/write.err" || wrote=$?
  if ((wrote != 0)); then
    if grep -q -e '(Conflict)' -e '(AlreadyExists)' "$work/write.err"; then
      # Another gateway wrote between our read and our write: it has won this round.
      conflicts=$((conflicts + 1))
      log "lost the race for the Lease: $(first_line "$work/write.err" "$wrote")"
      role=standby
      holder=""
      active_until=0
      status=$EXIT_LOST_RACE
      outcome=lost-race
      return 0
    fi
    failure "cannot $verb the Lease $LEASE_NAMESPACE/$LEASE_NAME" "$work/write.err" "$wrote"
    return 0
  fi
  now=$(now_us)
  if ! read_lease "$work/written.json"; then
    echo "kubectl $verb answered with something other than the Lease" >"$work/write.err"
    failure "cannot $verb the Lease $LEASE_NAMESPACE/$LEASE_NAME" "$work/write.err" 1
    return 0
  fi
  # Our own write is the record observed last, now (client-go's setObservedRecord after Update).
  observed_record=$record
  observed_at=$now
  role=active
  holder=$IDENTITY
  last_renew=$start
  outcome=$result
}

# From Lease object $1: $record, the record as client-go compares it (resourcelock.LeaseSpecToLeaderElectionRecord:
# a change of any of its fields is a sign of life of the holder), and the fields a step decides on. Returns 1 when $1
# is not a Lease with a resourceVersion (an error object, an empty answer).
read_lease() {
  local assignments
  assignments=$("$JQ" -r 'select(.kind == "Lease" and (.metadata.resourceVersion | type == "string" and length > 0))
    | @sh "record=\(.spec // {} | {holderIdentity: (.holderIdentity // ""), leaseDurationSeconds: (.leaseDurationSeconds // 0),
        acquireTime: (.acquireTime // null), renewTime: (.renewTime // null), leaseTransitions: (.leaseTransitions // 0)} | tojson)
      lease_holder=\(.spec.holderIdentity // "") renew_time=\(.spec.renewTime // "") acquire_time=\(.spec.acquireTime // "")
      transitions=\(.spec.leaseTransitions // 0) lease_seconds=\(.spec.leaseDurationSeconds // 0)"' "$1" 2>/dev/null) || return 1
  [[ -n $assignments ]] || return 1
  record="" lease_holder="" renew_time="" acquire_time="" transitions=0 lease_seconds=0
  eval "$assignments"
  numbers transitions lease_seconds
}

# One leadership step in work directory $1.
step() {
  work=$1
  local got=0 read_at time
  start=$(now_us)
  time=$(micro_time "$start")
  load_state
  role=standby outcome="" status=0
  active_until=0 fenced=0 hook_status=0 standby_hook_ran=0 changed=0
  if [[ $previous_role == active ]]; then
    changed=1
    active_until=$((last_renew + RENEW_DEADLINE * 1000000))
    if ((start >= active_until)); then
      # A late step (the timer stalled, the machine was suspended): another gateway may hold the Lease already.
      fence "the last renew was $(((start - last_renew) / 1000)) ms ago, past the renew deadline of ${RENEW_DEADLINE} s"
    fi
  fi

  kube get lease "$LEASE_NAME" --namespace "$LEASE_NAMESPACE" -o json >"$work/lease.json" 2>"$work/read.err" || got=$?
  read_at=$(now_us)
  if ((got != 0)) && ! grep -q '(NotFound)' "$work/read.err"; then
    failure "cannot read the Lease $LEASE_NAMESPACE/$LEASE_NAME" "$work/read.err" "$got"
  elif ((got != 0)); then
    "$JQ" -n --arg name "$LEASE_NAME" --arg namespace "$LEASE_NAMESPACE" --arg holder "$IDENTITY" \
      --argjson duration "$LEASE_DURATION" --arg time "$time" \
      '{apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: {name: $name, namespace: $namespace},
        spec: {holderIdentity: $holder, leaseDurationSeconds: $duration, acquireTime: $time, renewTime: $time, leaseTransitions: 0}}' \
      >"$work/write.json"
    write_lease create created
  elif ! read_lease "$work/lease.json"; then
    echo "the answer is not a Lease with a resourceVersion" >"$work/read.err"
    failure "cannot read the Lease $LEASE_NAMESPACE/$LEASE_NAME" "$work/read.err" 1
  else
    # client-go's observedTime: when this gateway first saw the record as it is now, by its own clock.
    if [[ $record != "$observed_record" ]]; then
      observed_record=$record
      observed_at=$read_at
    fi
    holder=$lease_holder
    local acquire=$time next=$((transitions + 1)) result=acquired
    if [[ $holder == "$IDENTITY" ]]; then
      acquire=${acquire_time:-$time} next=$transitions result=renewed
    elif [[ -n $holder ]] && ((observed_at + lease_seconds * 1000000 > read_at)); then
      result=""
      outcome=standby
      role=standby
      if ((active_until > 0 || fenced == 1)); then log "the Lease is held by $holder now; standing by"; fi
      active_until=0
    fi
    if [[ -n $result ]]; then
      "$JQ" --arg holder "$IDENTITY" --argjson duration "$LEASE_DURATION" --arg acquire "$acquire" --arg renew "$time" \
        --argjson transitions "$next" \
        '.spec = {holderIdentity: $holder, leaseDurationSeconds: $duration, acquireTime: $acquire, renewTime: $renew, leaseTransitions: $transitions}' \
        "$work/lease.json" >"$work/write.json"
      if [[ $result == acquired ]]; then log "taking over the Lease from ${holder:-nobody} (leaseTransitions $next)"; fi
      write_lease replace "$result"
    fi
  fi

  if [[ $role == active ]]; then
    holder=$IDENTITY
  fi
  if [[ $role == "$previous_role" ]]; then changed=0; else changed=1; fi
  if ((fenced == 1)) && { ((status == EXIT_API_ERROR)) || { ((status == 0)) && [[ $role == standby ]]; }; }; then
    status=$EXIT_FENCED
  fi
  write_state
  if [[ $role == active ]]; then
    run_hook active || hook_status=$?
  elif ((standby_hook_ran == 0)); then
    run_hook standby || hook_status=$?
  fi
  if ((status == 0 && hook_status != 0)); then status=$EXIT_HOOK_FAILED; fi
  write_metrics || log "warning: could not write $TEXTFILE_DIR/$METRICS_FILE (leadership is not affected)"
  : >"$work/done"
  return "$status"
}

write_state() {
  "$JQ" -n --arg role "$role" --arg holder "$holder" --arg renewTime "$renew_time" --arg acquireTime "$acquire_time" \
    --arg transitions "$transitions" --arg leaseDuration "$lease_seconds" --arg record "$observed_record" \
    --argjson observedAt "$observed_at" --arg observedTime "$( ((observed_at == 0)) || micro_time "$observed_at")" \
    --argjson lastRenew "$last_renew" --arg lastRenewTime "$( ((last_renew == 0)) || micro_time "$last_renew")" \
    --arg outcome "$outcome" --argjson exit "$status" --argjson stepAt "$start" --arg stepTime "$(micro_time "$start")" \
    --argjson errors "$errors" --argjson conflicts "$conflicts" --argjson lastErrorAt "$last_error_at" \
    --arg lastError "$last_error" --arg lastErrorTime "$( ((last_error_at == 0)) || micro_time "$last_error_at")" \
    --arg identity "$IDENTITY" --arg lease "$LEASE_NAMESPACE/$LEASE_NAME" \
    '{role: $role, identity: $identity, lease: $lease, holder: $holder,
      renewTime: ($renewTime | select(. != "") // null), acquireTime: ($acquireTime | select(. != "") // null),
      transitions: (if $transitions == "" then null else ($transitions | tonumber) end),
      leaseDurationSeconds: (if $leaseDuration == "" then null else ($leaseDuration | tonumber) end),
      observed: (if $record == "" then null else {record: ($record | fromjson), time: $observedTime, timeMicros: $observedAt} end),
      lastRenew: ($lastRenewTime | select(. != "") // null), lastRenewMicros: $lastRenew,
      step: {time: $stepTime, timeMicros: $stepAt, outcome: $outcome, exit: $exit},
      errorsTotal: $errors, conflictsTotal: $conflicts,
      lastError: (if $lastErrorAt == 0 then null else {time: $lastErrorTime, timeMicros: $lastErrorAt, message: $lastError} end)}' \
    >"$STATE_FILE.new"
  mv -f "$STATE_FILE.new" "$STATE_FILE"
}

# Writes $TEXTFILE_DIR/$METRICS_FILE from the state just written: next to the target and renamed, so a scrape never
# reads half a file. Every step returns explicitly on failure (this runs as an || operand, where errexit does not
# apply). A value not known yet (no Lease ever read, no renew, no error) is left out rather than written as 0.
write_metrics() {
  local out="$TEXTFILE_DIR/.$METRICS_FILE.$$"
  mkdir -p "$TEXTFILE_DIR" || return 1
  "$JQ" -r --arg lastRenew "$( ((last_renew == 0)) || seconds "$last_renew")" \
    --arg observedAt "$( ((observed_at == 0)) || seconds "$observed_at")" \
    --arg lastError "$( ((last_error_at == 0)) || seconds "$last_error_at")" --arg stepAt "$(seconds "$start")" '
    def esc: tostring | gsub("\\\\"; "\\\\") | gsub("\n"; "\\n") | gsub("\""; "\\\"");
    def family($name; $type; $help; $samples):
      if ($samples | length) == 0 then empty else
        "# HELP \($name) \($help)", "# TYPE \($name) \($type)", ($samples[] | "\($name)\(.labels // "") \(.value)")
      end;
    def one($value): if $value == null or $value == "" then [] else [{value: $value}] end;
    family("iot_gateway_leader"; "gauge"; "1 when this gateway holds the Lease of its pair and forwards device traffic, 0 when it stands by."; one(if .role == "active" then 1 else 0 end)),
    family("iot_gateway_lease_holder_info"; "gauge"; "holderIdentity of the Lease as this gateway last read or wrote it."; if (.holder // "") == "" then [] else [{labels: "{holder=\"\(.holder | esc)\"}", value: 1}] end),
    family("iot_gateway_lease_transitions"; "gauge"; "leaseTransitions of the Lease as this gateway last read or wrote it."; one(.transitions)),
    family("iot_gateway_lease_last_renew_timestamp_seconds"; "gauge"; "Unix time (local clock) of the last successful acquire or renew of the Lease by this gateway."; one($lastRenew)),
    family("iot_gateway_lease_observed_timestamp_seconds"; "gauge"; "Unix time (local clock) this gateway first saw the Lease record it last read."; one($observedAt)),
    family("iot_gateway_lease_errors_total"; "counter"; "Leadership steps that could not read or write the Lease (lost races excluded)."; one(.errorsTotal)),
    family("iot_gateway_lease_conflicts_total"; "counter"; "Writes of the Lease that lost the race to another gateway (409 Conflict or AlreadyExists)."; one(.conflictsTotal)),
    family("iot_gateway_lease_last_error_timestamp_seconds"; "gauge"; "Unix time of the last step that could not read or write the Lease."; one($lastError)),
    family("iot_gateway_leadership_last_step_timestamp_seconds"; "gauge"; "Unix time of the last step of the leadership agent."; one($stepAt)),
    family("iot_gateway_leadership_last_exit_code"; "gauge"; "Exit status of the last step: 0 ok, 2 Lease unreadable or unwritable, 3 lost race, 4 fenced, 5 hook failed."; one(.step.exit))
  ' "$STATE_FILE" >"$out" || { rm -f "$out"; return 1; }
  chmod 0644 "$out" || { rm -f "$out"; return 1; }
  mv -f "$out" "$TEXTFILE_DIR/$METRICS_FILE" || { rm -f "$out"; return 1; }
}

# One step, and the fail-safe around it. The step runs in a subshell with errexit of its own (as an operand of || it
# would lose errexit, and a failing jq or mv would go unnoticed); whatever ends it before it is done (a missing tool,
# a full disk) also ends forwarding, since the agent can then not tell whether this gateway still holds the Lease.
main() {
  local work status=0
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/lock"
  flock -n 9 || { log "another step holds $STATE_DIR/lock"; return 0; }
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local to this function
  trap "rm -rf '$work'" EXIT
  set +e
  (
    set -e
    step "$work"
  )
  status=$?
  set -e
  if [[ ! -e $work/done ]]; then
    log "error: the leadership step failed (exit status $status); stopping forwarding"
    holder="" changed=0
    run_hook standby || true
    ((status != 0)) || status=1
  fi
  return "$status"
}

case "${1:-step}" in
  step) main ;;
  *)
    log "usage: $0 [step]"
    exit 64
    ;;
esac
