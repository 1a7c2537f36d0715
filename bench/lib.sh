# Shared by the bench scripts: CPU accounting, readiness, one dnsperf run, medians.
# Sourced; expects $WORK and $SECS.

cpu_ticks() {  # sum utime+stime over all threads of a process and its children
  local total=0 p
  for p in "$@"; do
    for t in /proc/"$p"/task/*/stat; do
      [ -r "$t" ] || continue
      # the command name may hold spaces ("nsd: server 1"): count fields after the last ')'
      total=$(( total + $(sed 's/.*) //' "$t" 2>/dev/null | awk '{print $12 + $13}' || echo 0) ))
    done
  done
  echo "$total"
}
tree_pids() {  # a pid and its descendants
  local p=$1
  echo "$p"
  for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}
wait_ready() {  # port: polls (bounded) until the server answers bench.test SOA
  for _ in $(seq 1 100); do
    dig +tries=1 +time=1 +short @127.0.0.1 -p "$1" bench.test SOA 2>/dev/null | grep -q hostmaster && return 0
    sleep 0.1
  done
  echo "server on port $1 not ready" >&2; return 1
}

HZ=$(getconf CLK_TCK)

run_one() {  # name port pid queryfile [dnsperf args...] -> "name qps=… avg_latency_ms=… cpu_us_per_query=… lost=…"
  local name=$1 port=$2 pid=$3 queries=$4
  shift 4
  local pids before after out
  pids=$(tree_pids "$pid")
  before=$(cpu_ticks $pids)
  # QPS=N: a fixed offered load (dnsperf -Q), so CPU per query compares like with like
  out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$queries" -l "$SECS" -c 8 -q 200 -T 1 ${QPS:+-Q "$QPS"} "$@" 2>&1)
  after=$(cpu_ticks $pids)
  local completed qps lat
  completed=$(echo "$out" | awk '/Queries completed:/ {print $3}')
  qps=$(echo "$out" | awk '/Queries per second:/ {print $4}')
  lat=$(echo "$out" | awk '/Average Latency/ {print $4}')
  local lost
  lost=$(echo "$out" | awk '/Queries lost:/ {print $3}')
  awk -v n="$name" -v q="$qps" -v l="$lat" -v c="$completed" -v t=$(( after - before )) -v hz="$HZ" -v lost="$lost" \
    'BEGIN { printf "%-8s qps=%-10.0f avg_latency_ms=%-7.3f cpu_us_per_query=%-7.3f lost=%s\n", n, q, l*1000, (t/hz)*1e6/c, lost }'
}

medians() {  # results-file names... -> "name median_qps=… median_cpu_us_per_query=…"
  local results=$1 s q c
  shift
  for s in "$@"; do
    q=$(grep "^$s " "$results" | sed 's/[a-z_]*=//g' | awk '{print $2}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    c=$(grep "^$s " "$results" | sed 's/[a-z_]*=//g' | awk '{print $4}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    printf "%-14s median_qps=%s median_cpu_us_per_query=%s\n" "$s" "$q" "$c"
  done
}

ratio() {  # medians-file a b -> qps and CPU ratios of a against b
  awk -v a="$2" -v b="$3" '{for(i=2;i<=NF;i++){split($i,kv,"="); v[$1,kv[1]]=kv[2]}} END {
    printf "# %s vs %s: qps %.2fx; CPU per query %.2fx less\n", a, b,
      v[a,"median_qps"]/v[b,"median_qps"], v[b,"median_cpu_us_per_query"]/v[a,"median_cpu_us_per_query"] }' "$1"
}
