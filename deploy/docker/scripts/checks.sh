# shellcheck shell=bash
# Checks for test-migration.sh and the scripts it calls: each check runs, prints PASS or FAIL with its
# detail and duration as it ends, and appends one JSON line to $CHECKS_FILE. There is no third outcome.
# Needs jq.

: "${CHECKS_FILE:=$TEST_DIR/checks.jsonl}"
: "${PHASE:=0}"
export CHECKS_FILE PHASE

now_ns() { date +%s%N; }

# record NAME PASS|FAIL DETAIL SECONDS
record() {
  local name=$1 result=$2 detail=$3 seconds=$4 mark
  mkdir -p "$(dirname "$CHECKS_FILE")"
  jq -nc --arg name "$name" --argjson phase "$PHASE" --arg result "$result" --arg detail "$detail" \
    --argjson duration "$seconds" \
    '{name: $name, phase: $phase, result: $result, detail: $detail, duration: $duration}' >> "$CHECKS_FILE"
  if [[ $result == PASS ]]; then mark="PASS"; else mark="FAIL"; fi
  printf '  %s  %s (%ss)%s\n' "$mark" "$name" "$seconds" "${detail:+: ${detail:0:300}}"
}

# check NAME CMD...: runs CMD; PASS if it exits 0. What it prints (stdout and stderr) is the detail.
check() {
  local name=$1 out rc=0 t0 seconds
  shift
  t0=$(now_ns)
  out=$("$@" 2>&1) || rc=$?
  seconds=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  out=$(printf '%s' "$out" | tr '\n' '\t' | sed -e 's/\t\+$//' -e 's/\t/ | /g')
  if ((rc == 0)); then
    record "$name" PASS "${out:0:2000}" "$seconds"
  else
    record "$name" FAIL "${out:0:2000}" "$seconds"
  fi
  return "$rc"
}

# fail NAME DETAIL: a check that cannot run because what it needs failed earlier.
fail() {
  record "$1" FAIL "$2" 0
  return 1
}

phase() {
  PHASE=$1
  printf '\n== Phase %s: %s ==\n' "$1" "$2"
}

# failures_in_file: how many checks failed so far
failures_so_far() {
  [[ -s $CHECKS_FILE ]] || {
    echo 0
    return
  }
  jq -s '[.[] | select(.result != "PASS")] | length' "$CHECKS_FILE"
}

# --- the test's own state (job ids, ...) in $TEST_DIR/state.env ----------------------------------------
state_set() {
  mkdir -p "$TEST_DIR"
  touch "$TEST_DIR/state.env"
  grep -v "^$1=" "$TEST_DIR/state.env" > "$TEST_DIR/state.env.tmp" || true
  printf '%s=%s\n' "$1" "$2" >> "$TEST_DIR/state.env.tmp"
  mv -f "$TEST_DIR/state.env.tmp" "$TEST_DIR/state.env"
}

state_get() {
  [[ -f $TEST_DIR/state.env ]] || return 1
  local line
  line=$(grep "^$1=" "$TEST_DIR/state.env" | tail -n1) || return 1
  printf '%s' "${line#*=}"
}

# --- SLURM clients -------------------------------------------------------------------------------------
# job_field CONF JOBID FIELD: one field of `scontrol show job -o` (the first record)
job_field() {
  SLURM_CONF=$1 timeout 30 scontrol show job -o "$2" 2> /dev/null | head -n1 | tr ' ' '\n' \
    | sed -n "s/^$3=//p" | head -n1
}

# wait_job_state CONF JOBID SECONDS STATE...: until the job is in one of the states; prints the last one
wait_job_state() {
  local conf=$1 job=$2 timeout=$3 st deadline
  shift 3
  deadline=$((SECONDS + timeout))
  while :; do
    st=$(job_field "$conf" "$job" JobState)
    local s
    for s in "$@"; do
      if [[ $st == "$s" ]]; then
        echo "job $job is $st"
        return 0
      fi
    done
    if ((SECONDS >= deadline)); then
      echo "job $job is ${st:-unknown} after ${timeout}s, not one of: $*"
      return 1
    fi
    sleep 0.5
  done
}

# blank_unpromised: blanks the `scontrol show -o` fields that no copy of slurmctld's state can follow:
# RunTime (the client computes it from its clock) and LastSchedEval (slurmctld's schedulers stamp it on
# every pending job they look at, without moving the job table's update time: nothing asking "what changed
# since" ever sees it move, the mirror included)
blank_unpromised() {
  sed -e 's/RunTime=[^ ]*/RunTime=*/' -e 's/LastSchedEval=[^ ]*/LastSchedEval=*/'
}

# show_objects CONF KIND: `scontrol show KIND -o` as "key<TAB>line", sorted, what no copy can follow blanked
show_objects() {
  local conf=$1 kind=$2 key
  case $kind in
    job) key=JobId ;;
    node) key=NodeName ;;
    partition) key=PartitionName ;;
  esac
  SLURM_CONF=$conf timeout 30 scontrol show "$kind" -o 2> /dev/null \
    | blank_unpromised \
    | awk -v k="$key" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2) "\t" $0; break } }' \
    | sort
}

# flurm_port_conf: a copy of the clients' slurm.conf whose SlurmctldPort is flurm's (the comparisons'
# "through flurm" side; phase 5 makes the clients' own switched copy with `flurm switch`)
flurm_port_conf() {
  local out=$TEST_DIR/slurm-flurm-port.conf
  mkdir -p "$TEST_DIR"
  sed "s/^SlurmctldPort=.*/SlurmctldPort=$FLURM_PORT/" "$CLIENT_CONF" > "$out.tmp" && mv -f "$out.tmp" "$out"
  printf '%s' "$out"
}

# --- what slurmctld says and what flurm says, one object at a time ---------------------------------------
# Each view prints "key<TAB>value" lines, sorted.
view_scontrol_direct() { show_objects "$CLIENT_CONF" "$1"; }
view_scontrol_flurm() { show_objects "$FLURM_PORT_CONF" "$1"; }

# slurmctld's own JSON (squeue/sinfo --json) and `scontrol show partition -o`, projected onto the
# fields of flurm's HTTP API (docs/http-api.md)
view_api_source() {
  case $1 in
    job)
      SLURM_CONF=$CLIENT_CONF timeout 30 squeue --json 2> /dev/null | jq -r '.jobs[] | [(.job_id | tostring), ({
        state: .job_state, name, partition, user: .user_name, nodes: (if .nodes == "" then null else .nodes end),
        array_job_id: (if .array_job_id == 0 then null else .array_job_id end),
        num_nodes: .node_count, num_cpus: .cpus} | tojson)] | @tsv' | sort
      ;;
    node)
      SLURM_CONF=$CLIENT_CONF timeout 30 sinfo --json 2> /dev/null | jq -r '.nodes[] | [.name, ({
        state, cpus, alloc_cpus, memory_mb: .real_memory, alloc_memory_mb: .alloc_memory} | tojson)] | @tsv' | sort
      ;;
    partition)
      SLURM_CONF=$CLIENT_CONF timeout 30 scontrol show partition -o 2> /dev/null | jq -Rr '
        [splits(" +") | select(length > 0) | capture("^(?<key>[^=]+)=(?<value>.*)$")] | from_entries
        | [.PartitionName, ({available: (.State | ascii_downcase), default: (.Default == "YES"),
           time_limit: .MaxTime, total_nodes: (.TotalNodes | tonumber), total_cpus: (.TotalCPUs | tonumber),
           nodes: .Nodes} | tojson)] | @tsv' | sort
      ;;
  esac
}

view_api_flurm() {
  local path
  case $1 in
    job) path="/api/jobs?limit=10000" ;;
    node) path=/api/nodes ;;
    partition) path=/api/partitions ;;
  esac
  http_split "$(http GET "$path" "" --no-token)"
  [[ $HTTP_STATUS == 200 ]] || return 1
  case $1 in
    job) jq -r '.jobs[] | [(.id | tostring), ({state, name, partition, user, nodes, array_job_id,
      num_nodes, num_cpus} | tojson)] | @tsv' <<< "$HTTP_BODY" | sort ;;
    node) jq -r '.nodes[] | [.name, ({state, cpus, alloc_cpus, memory_mb, alloc_memory_mb} | tojson)] | @tsv' \
      <<< "$HTTP_BODY" | sort ;;
    partition) jq -r '.partitions[] | [.name, ({available, default, time_limit, total_nodes, total_cpus,
      nodes} | tojson)] | @tsv' <<< "$HTTP_BODY" | sort ;;
  esac
}

# import_now: POST /api/import, which returns once flurm has re-read all of slurmctld's jobs, nodes and
# partitions (a full pass: "what changed since" answers miss changes slurmctld does not date, such as a
# node's allocated CPUs at times)
import_now() {
  http_split "$(http POST /api/import)"
  [[ $HTTP_STATUS == 200 ]] || {
    echo "POST /api/import -> HTTP $HTTP_STATUS: $HTTP_BODY"
    return 1
  }
}

# stable_pair SOURCE_VIEW FLURM_VIEW KIND OUT_SOURCE OUT_FLURM: slurmctld's view, an import, flurm's view,
# slurmctld's view again. When slurmctld's two views are equal, the import read the state both show, so
# flurm's view must show it too and the pair is the answer; otherwise slurmctld changed meanwhile (jobs
# start and end all the time) and it is tried again.
stable_pair() {
  local src=$1 fl=$2 kind=$3 out_src=$4 out_fl=$5 try found=0 a b c
  a=$(mktemp) b=$(mktemp) c=$(mktemp)
  for ((try = 0; try < 30; try++)); do
    "$src" "$kind" > "$a" || true
    import_now > /dev/null || break
    "$fl" "$kind" > "$b" || true
    "$src" "$kind" > "$c" || true
    if [[ -s $a ]] && cmp -s "$a" "$c"; then
      cp "$a" "$out_src"
      cp "$b" "$out_fl"
      found=1
      break
    fi
  done
  rm -f "$a" "$b" "$c"
  ((found))
}

# field_diff LINE_A LINE_B: the Key=value fields (or JSON keys) that differ
field_diff() {
  if [[ $1 == \{* ]]; then
    jq -nr --argjson a "$1" --argjson b "$2" \
      '[$a, $b] | (.[0] | keys) + (.[1] | keys) | unique[] as $k
       | select($a[$k] != $b[$k]) | "\($k): slurmctld=\($a[$k]) flurm=\($b[$k])"' 2> /dev/null
  else
    diff <(tr ' ' '\n' <<< "$1") <(tr ' ' '\n' <<< "$2") | sed -n 's/^< /slurmctld: /p; s/^> /flurm: /p'
  fi
}

# same_object KIND KEY SOURCE_FILE FLURM_FILE: the object's value on both sides is the same
same_object() {
  local kind=$1 key=$2 a b
  a=$(awk -F'\t' -v k="$key" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$3")
  b=$(awk -F'\t' -v k="$key" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$4")
  if [[ -z $a ]]; then
    echo "flurm has $kind $key, slurmctld has not: $b"
    return 1
  fi
  if [[ -z $b ]]; then
    echo "slurmctld has $kind $key, flurm has not: $a"
    return 1
  fi
  if [[ $a == "$b" ]]; then
    echo "identical: ${a:0:160}"
    return 0
  fi
  field_diff "$a" "$b"
  return 1
}

# compare_objects KIND LABEL SOURCE_VIEW FLURM_VIEW: one check per object, PASS when flurm's equals slurmctld's
compare_objects() {
  local kind=$1 label=$2 srcview=$3 flview=$4 src fl key failed=0
  src=$(mktemp) fl=$(mktemp)
  if ! stable_pair "$srcview" "$flview" "$kind" "$src" "$fl"; then
    fail "$kind table ($label)" "slurmctld's $kind table was empty or never stood still, or the import failed"
    rm -f "$src" "$fl"
    return 1
  fi
  while read -r key; do
    check "$kind $key: $label" same_object "$kind" "$key" "$src" "$fl" || failed=1
  done < <(cut -f1 "$src" "$fl" | sort -u)
  rm -f "$src" "$fl"
  return "$failed"
}
