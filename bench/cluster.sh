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

n=${BENCH_N:-200000}
rounds=${BENCH_ROUNDS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)

for tool in redis-server redis-cli redis-benchmark; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringstore-cluster-bench.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port that nobody answers on and that this
# script has not handed out yet. A start that loses a race for it fails its
# readiness check and is retried on other ports.
used_ports=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		[[ $used_ports == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			echo "$p"
			return
		fi
	done
}

# wait_ready PORT PID: poll PING until PONG (0), or fail (1) if PID exits or
# 30 s pass.
wait_ready() {
	local port=$1 pid=$2
	for _ in $(seq 600); do
		[[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

if [[ -n ${RINGSTORE_BIN:-} ]]; then
	bin=$RINGSTORE_BIN
else
	echo "building ./cmd/ringstore ..."
	(cd "$root" && go build -o "$tmp/ringstore" ./cmd/ringstore)
	bin=$tmp/ringstore
fi

# start_node I [JOIN]: start ringstore node I (RESP, gossip and peer ports
# free), joining gossip address JOIN if given; sets port[I] and gossip[I].
port=() gossip=()
start_node() {
	local i=$1 join=${2:-} attempt pid
	mkdir -p "$tmp/node$i"
	for attempt in 1 2 3; do
		port[i]=$(free_port)
		gossip[i]=$(free_port)
		local peer
		peer=$(free_port)
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

# wait_converged: until a write through every node reads back through every
# node (membership has spread), or fail after 30 s.
wait_converged() {
	local token i j ok
	for _ in $(seq 300); do
		token=$RANDOM$RANDOM
		ok=1
		for i in 1 2 3; do
			[[ $(redis-cli -p "${port[i]}" set "bench:converge:$i" "$token" 2>/dev/null) == OK ]] || ok=0
		done
		if ((ok)); then
			for i in 1 2 3; do
				for j in 1 2 3; do
					[[ $(redis-cli -p "${port[j]}" get "bench:converge:$i" 2>/dev/null) == "$token" ]] || ok=0
				done
			done
		fi
		((ok)) && return
		sleep 0.1
	done
	echo "bench: the 3 nodes did not converge within 30 s; node logs:" >&2
	tail -n 20 "$tmp"/node*.log >&2
	exit 1
}

start_node 1
start_node 2 "127.0.0.1:${gossip[1]}"
start_node 3 "127.0.0.1:${gossip[1]}"
wait_converged
rs_port=${port[1]}

redis_port=$(free_port)
mkdir -p "$tmp/redis-data"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis-data" --save '' \
	--appendonly yes --appendfsync everysec --daemonize no >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_ready "$redis_port" "$!" || { echo "bench: redis-server did not start:" >&2; cat "$tmp/redis.log" >&2; exit 1; }

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

for round in $(seq "$rounds"); do
	for p in 1 16; do
		# Alternate which server goes first, so that drift (page cache, CPU
		# frequency, compactions) does not favour one of them.
		if ((round % 2)); then
			run ringstore "$rs_port" "$p"
			run redis "$redis_port" "$p"
		else
			run redis "$redis_port" "$p"
			run ringstore "$rs_port" "$p"
		fi
		printf 'round %d/%d, -P %-2d done\n' "$round" "$rounds" "$p"
	done
done

# stats FILE prints "median min max" of the numbers in FILE, with %s
# precision given by FMT (default %.0f).
stats() {
	sort -g "$1" | awk -v fmt="${2:-%.0f}" '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf fmt " " fmt " " fmt "\n", m, v[1], v[NR] }'
}

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
