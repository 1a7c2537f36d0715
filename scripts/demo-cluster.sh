# shellcheck shell=bash
# Sourced by `scripts/demo --cluster` (not run on its own): the fleet demo.
# Uses what scripts/demo has set up: $dir (temp dir, removed on exit), pids
# (stopped by PID on exit), free_port, $backend_port (the three backends on
# 127.0.0.21-.23 already run), $dir/admin.token, $dir/demo.zone, $GEODNSD, $check.
#
#   etcd members e1..e3   127.0.0.41, .42, .43 (client and peer port each)
#   geodnsd node A        127.0.0.31 (DNS and admin API)
#   geodnsd node B        127.0.0.32
ETCD=$(command -v etcd || echo /usr/bin/etcd)
if [ ! -x "$ETCD" ]; then
  echo "demo: etcd not found (scripts/install-deps installs etcd-server)" >&2
  exit 1
fi
token=$(cut -d: -f2 "$dir/admin.token")

# ---- a 3-member etcd cluster, each member on its own loopback address ----
etcd_urls=() peer_urls=() etcd_pids=() initial=""
for i in 1 2 3; do
  host=127.0.0.4$i
  etcd_urls+=("http://$host:$(free_port "$host")")
  peer_urls+=("http://$host:$(free_port "$host")")
  initial+="${initial:+,}e$i=${peer_urls[$((i - 1))]}"
done
for i in 1 2 3; do
  "$ETCD" --name "e$i" --data-dir "$dir/etcd-e$i" \
    --listen-client-urls "${etcd_urls[$((i - 1))]}" --advertise-client-urls "${etcd_urls[$((i - 1))]}" \
    --listen-peer-urls "${peer_urls[$((i - 1))]}" --initial-advertise-peer-urls "${peer_urls[$((i - 1))]}" \
    --initial-cluster "$initial" --initial-cluster-token geodnsd-demo --initial-cluster-state new \
    > "$dir/etcd-e$i.log" 2>&1 &
  pids+=($!)
  etcd_pids+=($!)
done
etcd_ok=0
for _ in $(seq 1 100); do
  n=0
  for u in "${etcd_urls[@]}"; do
    curl -fsS --max-time 1 "$u/health" 2>/dev/null | grep -q '"health":"true"' && n=$((n + 1))
  done
  if [ "$n" = 3 ]; then etcd_ok=1; break; fi
  sleep 0.2
done
if [ "$etcd_ok" != 1 ]; then
  echo "demo: etcd cluster not healthy within 20 s" >&2
  for i in 1 2 3; do echo "--- etcd e$i log" >&2; tail -20 "$dir/etcd-e$i.log" >&2; done
  exit 1
fi

# ---- two geodnsd nodes: docker/geodnsd.json plus "cluster", on loopback ----
declare -A nhost ndns nadmin
nhost[a]=127.0.0.31 nhost[b]=127.0.0.32
for n in a b; do
  ndns[$n]=$(free_port "${nhost[$n]}")
  nadmin[$n]=$(free_port "${nhost[$n]}")
done
etcd_json=$(printf '"%s",' "${etcd_urls[@]}")
for n in a b; do
  python3 - "$dir" "$n" "${nhost[$n]}" "${ndns[$n]}" "${nadmin[$n]}" "$backend_port" "[${etcd_json%,}]" <<'PY'
import json, sys
d, n, host, dns_port, admin_port, backend_port, etcd = sys.argv[1:8]
cfg = json.load(open("docker/geodnsd.json"))
cfg["listen"] = ["%s:%s" % (host, dns_port)]
cfg["zones"] = [{"origin": "gslb.demo.test", "file": "demo.zone"}]
cfg["health"]["database"] = "state-" + n
cfg["admin"] = {"listen": "%s:%s" % (host, admin_port), "token_file": "admin.token"}
cfg["probes"]["web"].update({"port": int(backend_port), "interval_ms": 1000, "timeout_ms": 500})
for i, region in enumerate(("us-east", "eu-central", "ap-northeast")):
    cfg["pools"]["www"]["regions"][region]["members"] = [{"address": "127.0.0.2%d" % (i + 1)}]
cfg["cluster"] = {"etcd": json.loads(etcd), "prefix": "/geodnsd-demo/", "node": "node-" + n,
                  "site": "demo-" + n, "lease_ttl_s": 5}
json.dump(cfg, open("%s/node-%s.json" % (d, n), "w"), indent=2)
PY
done
declare -A node_pid
# Stop the nodes before etcd (a node revokes its lease on SIGTERM), then the etcd
# members one at a time (a leader stopping hands its leadership to a member that
# is still running; with all stopped at once that waits ~7 s), then the rest.
cleanup() {
  for p in "${node_pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${node_pid[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${etcd_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
for n in a b; do
  "$GEODNSD" --config "$dir/node-$n.json" > "$dir/node-$n.log" 2>&1 &
  pids+=($!)
  node_pid[$n]=$!
done

show_logs() {
  for n in a b; do echo "--- node $n log"; tail -40 "$dir/node-$n.log"; done
  for i in 1 2 3; do echo "--- etcd e$i log"; tail -10 "$dir/etcd-e$i.log"; done
}
ask_node() {  # node subnet -> the node's answer
  dig @"${nhost[$1]}" -p "${ndns[$1]}" www.gslb.demo.test A +short +tries=1 +time=1 +subnet="$2" 2>/dev/null |
    grep -E "^[0-9.]+$" | head -1 || true
}
api() {  # node method path [body]
  curl -fsS --max-time 10 -X "$2" -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
    ${4:+-d "$4"} "http://${nhost[$1]}:${nadmin[$1]}$3"
}
# Ready when both nodes see the fleet (2 nodes) and every backend up.
ready=0
for _ in $(seq 1 150); do
  for n in a b; do
    if ! kill -0 "${node_pid[$n]}" 2>/dev/null; then
      echo "demo: geodnsd node $n exited:" >&2; cat "$dir/node-$n.log" >&2; exit 1
    fi
  done
  ok=0
  for n in a b; do
    api "$n" GET /v1/status 2>/dev/null | python3 2>/dev/null -c '
import json, sys
s = json.load(sys.stdin)
up = all(m["state"] == "up" for p in s["pools"] for r in p["regions"] for m in r["members"])
sys.exit(0 if up and len(s["cluster"]["nodes"]) == 2 else 1)' && ok=$((ok + 1))
  done
  if [ "$ok" = 2 ]; then ready=1; break; fi
  sleep 0.2
done

echo "etcd cluster: ${etcd_urls[*]}"
echo "node A (node-a): DNS ${nhost[a]}:${ndns[a]}, admin API ${nhost[a]}:${nadmin[a]}"
echo "node B (node-b): DNS ${nhost[b]}:${ndns[b]}, admin API ${nhost[b]}:${nadmin[b]}"
echo "backends: 127.0.0.21 (us-east), 127.0.0.22 (eu-central), 127.0.0.23 (ap-northeast), port $backend_port"
echo
fail=0
if [ "$ready" != 1 ]; then echo "demo: the fleet was not ready within 30 s"; fail=1; fi
printf '%-16s %-14s %-14s %s\n' "client subnet" "node A" "node B" "expected"
for pair in "10.1.0.0/24 127.0.0.21" "10.2.0.0/24 127.0.0.22" "10.3.0.0/24 127.0.0.23"; do
  set -- $pair
  ga=$(ask_node a "$1") gb=$(ask_node b "$1")
  printf '%-16s %-14s %-14s %s\n' "$1" "${ga:-(none)}" "${gb:-(none)}" "$2"
  [ "$ga" = "$2" ] && [ "$gb" = "$2" ] || fail=1
done
echo

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# change NODE REGION ACTION REASON WATCH EXPECTED: ACTION (drain|undrain) the
# region through NODE's admin API, then ask node WATCH for 10.2.0.0/24 until it
# answers EXPECTED, for at most one second from the call.
change() {
  local via=$1 region=$2 action=$3 reason=$4 watch=$5 want=$6 t0 got="" ms
  local V=${via^^} W=${watch^^}
  echo "$action $region through node $V's admin API: POST http://${nhost[$via]}:${nadmin[$via]}/v1/regions/$region/$action"
  t0=$(now_ms)
  if ! api "$via" POST "/v1/regions/$region/$action" "{\"reason\": \"$reason\"}" >/dev/null; then
    echo "  the API call failed"; fail=1; return
  fi
  while :; do
    got=$(ask_node "$watch" 10.2.0.0/24)
    ms=$(( $(now_ms) - t0 ))
    if [ "$got" = "$want" ] || [ "$ms" -gt 1000 ]; then break; fi
    sleep 0.02
  done
  if [ "$got" = "$want" ]; then
    echo "  node $W answers 10.2.0.0/24 with $got after $ms ms (expected $want within 1 s)"
  else
    echo "  node $W still answers 10.2.0.0/24 with ${got:-(none)} after $ms ms (expected $want within 1 s)"
    fail=1
  fi
}
change a eu-central drain "demo drain" b 127.0.0.21
if [ "$check" = 1 ]; then
  "$GEODNSD" ctl --config "$dir/node-b.json" status | grep -q "DRAINED" || {
    echo "  node B's status does not show the drain"; fail=1; }
fi
change b eu-central undrain "demo over" a 127.0.0.22
echo
echo "try: dig @${nhost[b]} -p ${ndns[b]} www.gslb.demo.test +subnet=10.2.0.0/24"
echo "     $GEODNSD ctl --config $dir/node-a.json drain region eu-central --reason test"
echo "     $GEODNSD ctl --config $dir/node-b.json status"

if [ "$check" = 1 ]; then
  if [ "$fail" = 0 ]; then echo "demo: OK"; else echo "demo: FAILED"; show_logs; fi
  exit "$fail"
fi
echo "Ctrl-C stops everything."
wait
exit 0
