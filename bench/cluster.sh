#!/usr/bin/env bash
# bench/cluster.sh: a local 3-node ringstore ring (N=3 R=2 W=2) against one
# redis-server under the same redis-benchmark load, in one run. The load goes
# through ONE ringstore node (a plain client: no smart routing), so every
# request pays a quorum of replica calls. Prints throughput, p50 and p99 and
# the ringstore/redis throughput ratio per test, with issue 3's targets. A
# benchmark, not a test: it always exits 0 once it has measured.
#
#   bench/cluster.sh                 # full run (several minutes on 2 cores)
#   BENCH_N=20000 bench/cluster.sh   # quick run
#
# Environment:
#   BENCH_N        requests per redis-benchmark run (default 200000)
#   BENCH_ROUNDS   rounds per test (default 3; the median is reported)
#   GOMAXPROCS     passed through to the ringstore nodes (default: unset)
#   RINGSTORE_BIN  benchmark this binary instead of building ./cmd/ringstore
set -euo pipefail
source "$(dirname "$0")/lib.sh"

n=${BENCH_N:-200000}
rounds=${BENCH_ROUNDS:-3}

for tool in redis-server redis-cli redis-benchmark; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

bench_tmp ringstore-cluster-bench

build_bin

# start_node I [JOIN]: start ringstore node I (RESP, gossip and peer ports
# free), joining gossip address JOIN if given; sets port[I] and gossip[I].
port=() gossip=()
start_node() {
	local i=$1 join=${2:-} attempt pid
	mkdir -p "$tmp/node$i"
	for attempt in 1 2 3; do
		free_port "port[i]"
		free_port "gossip[i]"
		local peer
		free_port peer
		local args=(--bind 127.0.0.1 --port "${port[i]}" --gossip-port "${gossip[i]}" --peer-port "$peer"
			--data-dir "$tmp/node$i" --gossip-profile local --fsync everysec --n 3 --r 2 --w 2)
		[[ -n $join ]] && args+=(--join "$join")
		"$bin" "${args[@]}" >>"$tmp/node$i.log" 2>&1 &
		pid=$!
		pids+=("$pid")
		if wait_ready "${port[i]}" "$pid"; then
			return
		fi
		kill -KILL "$pid" 2>/dev/null || true
		echo "bench: node $i did not start on ports ${port[i]}/${gossip[i]}/$peer (attempt $attempt)" >&2
	done
	echo "bench: node $i did not start; its log:" >&2
	cat "$tmp/node$i.log" >&2
	exit 1
}

start_node 1
start_node 2 "127.0.0.1:${gossip[1]}"
start_node 3 "127.0.0.1:${gossip[1]}"
wait_converged
rs_port=${port[1]}

start_redis
wait_up "$redis_port" "$redis_pid" redis-server "$tmp/redis.log"

common=(-t set,get -n "$n" -r 100000 -d 100 -c 50 --csv)
redis_version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
echo "ringstore: 3 nodes (N=3 R=2 W=2, --fsync everysec) on :${port[1]} :${port[2]} :${port[3]}, load through :$rs_port only"
echo "redis-server $redis_version (appendonly yes, appendfsync everysec) on :$redis_port"
echo "redis-benchmark ${common[*]} -P 1|16, $rounds rounds, alternating servers"
echo "cores: $(nproc), GOMAXPROCS=${GOMAXPROCS:-unset}, load average: $(cut -d' ' -f1-3 /proc/loadavg); all 3 nodes, redis-server and the load generator share the machine"

# results/<server>.<TEST>.P<p>.<rps|p50|p99> hold one figure per round.
mkdir -p "$tmp/results"
run() { # run SERVER PORT PIPELINE
	local out
	out=$(redis-benchmark -h 127.0.0.1 -p "$2" "${common[@]}" -P "$3" 2>&1) || {
		echo "bench: redis-benchmark against $1 (-P $3) failed:" >&2
		echo "$out" >&2
		exit 1
	}
	# CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	echo "$out" | tr -d '"' | awk -F, -v dir="$tmp/results" -v srv="$1" -v p="$3" '
		$1 == "SET" || $1 == "GET" {
			f = dir "/" srv "." $1 ".P" p
			print $2 >> (f ".rps"); print $5 >> (f ".p50"); print $7 >> (f ".p99")
		}'
	if ! redis-cli -p "$2" ping >/dev/null 2>&1; then
		echo "bench: $1 stopped answering after redis-benchmark -P $3" >&2
		exit 1
	fi
}

run_rounds

echo
echo "rps: median (min..max) of the rounds; p50/p99 in ms: median of the rounds"
printf '%-7s  %-24s %7s %7s   %-24s %7s %7s  %5s  %s\n' test "ringstore rps" p50 p99 "redis rps" p50 p99 ratio "target (issue 3)"
for p in 1 16; do
	for t in SET GET; do
		f=$tmp/results/ringstore.$t.P$p
		g=$tmp/results/redis.$t.P$p
		read -r rm rlo rhi < <(stats "$f.rps")
		read -r r50 _ _ < <(stats "$f.p50" %.3f)
		read -r r99 _ _ < <(stats "$f.p99" %.3f)
		read -r dm dlo dhi < <(stats "$g.rps")
		read -r d50 _ _ < <(stats "$g.p50" %.3f)
		read -r d99 _ _ < <(stats "$g.p99" %.3f)
		ratio=$(awk -v a="$rm" -v b="$dm" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
		if ((p == 1)); then target=0.4; else target=0.25; fi
		verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "met" : "below" }')
		extra=
		if [[ $t == GET && $p == 1 ]]; then
			extra=$(awk -v l="$r50" 'BEGIN { print (l < 1) ? "; p50 < 1 ms met" : "; p50 < 1 ms missed" }')
		fi
		printf '%-7s  %-24s %7s %7s   %-24s %7s %7s  %5s  >= %sx %s%s\n' "$t P$p" "$rm ($rlo..$rhi)" "$r50" "$r99" \
			"$dm ($dlo..$dhi)" "$d50" "$d99" "$ratio" "$target" "$verdict" "$extra"
	done
done
