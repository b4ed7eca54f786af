#!/usr/bin/env bash
# bench/smart.sh: what a smart (cluster-aware) client gains on a 3-node ring,
# issue 5. In one run, under the same load:
#   (a) redis-benchmark --cluster: reads CLUSTER NODES and sends each key
#       straight to its slot's master, one thread per master (3);
#   (b) plain redis-benchmark --threads 3 through node 1 only, which
#       coordinates every key itself or forwards it when it does not
#       replicate the key.
# SET and GET at -P 1, BENCH_ROUNDS rounds alternating (a) and (b); prints
# throughput median (min..max), p50 and p99 for each, the ratios (a)/(b)
# and issue 5's targets. A benchmark, not a test: it exits 0 once it has
# measured, whatever the ratios.
#
#   bench/smart.sh                                 # full run
#   BENCH_N=20000 BENCH_ROUNDS=1 bench/smart.sh    # a quick look
#   BENCH_REPLICAS=2 bench/smart.sh                # N=2 only
#   BENCH_REPLICAS=3 bench/smart.sh                # N=3: no hop to save (see below)
#   BENCH_REPLICAS=1 bench/smart.sh                # N=1: a hop on 2/3 of (b)'s requests
#
# Environment:
#   BENCH_N         requests per redis-benchmark run (default 300000). Both
#                   modes run redis-benchmark threaded, and threaded
#                   redis-benchmark notices the end of a run only at its
#                   250 ms timer tick, so each run's time, and the rps it
#                   prints, is rounded up to a multiple of 250 ms: a run
#                   must last ~10 s for that to stay under 3%.
#   BENCH_ROUNDS    rounds (default 3; medians are reported)
#   BENCH_CLIENTS   redis-benchmark -c, the same for (a) and (b) (default 50)
#   BENCH_REPLICAS  --n of every node, or several values for one run each
#                   (default "2 1"; R and W are min(2, N)). The gain of a smart client
#                   is the forwarding hop it saves, and a hop exists only when
#                   the ring has more nodes than N: with N=3 on three nodes
#                   every node replicates every key, (b) forwards nothing, and
#                   (a) and (b) do the same work (their ratio is ~1 by
#                   construction). N=2 is the smallest Dynamo-style setting
#                   in which (b) forwards: a third of its keys. With N=1
#                   (no replication) (b) forwards two thirds, as a client
#                   behind a load balancer does on a ring much larger than
#                   N: the ratios are then mostly the hop.
#   GOMAXPROCS      passed through to the nodes (default unset: all cores)
#   RINGSTORE_BIN   benchmark this binary instead of building ./cmd/ringstore
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Several replication factors: one full run each, one after the other.
if [[ ${BENCH_REPLICAS:-2 1} == *" "* ]]; then
	for r in ${BENCH_REPLICAS:-2 1}; do
		BENCH_REPLICAS=$r "$0"
		echo
	done
	exit 0
fi

n=${BENCH_N:-300000}
rounds=${BENCH_ROUNDS:-3}
clients=${BENCH_CLIENTS:-50}
replicas=${BENCH_REPLICAS:-2}
quorum=$((replicas < 2 ? replicas : 2)) # R and W: 2, or N when N < 2

for tool in redis-cli redis-benchmark; do
	command -v "$tool" >/dev/null || { echo "smart.sh: $tool not found (apt-get install redis-tools)" >&2; exit 1; }
done

bench_tmp ringstore-smart

# tcp_free PORT: nothing accepts TCP connections on PORT.
tcp_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port sets picked to a port not yet handed out in this run that
# nothing accepts TCP on (UDP, which gossip also needs, is not checked: a
# node that cannot bind exits and start_node tries other ports).
taken=" " picked=
pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768+ on Linux)
		if [[ $taken != *" $p "* ]] && tcp_free "$p"; then
			taken+="$p "
			picked=$p
			return
		fi
	done
}

# wait_node PORT PID LOG: wait_ready; returns 1 if PID exits first (a port
# taken between pick_port and the bind, for instance), exits after 30 s.
wait_node() {
	local port=$1 pid=$2 log=$3 rc=0
	wait_ready "$port" "$pid" || rc=$?
	((rc != 2)) && return "$rc"
	echo "smart.sh: no PONG on port $port within 30s; its log:" >&2
	cat "$log" >&2
	exit 1
}

build_bin

# start_node I: start node I (1-based; 2 and 3 join node 1) on fresh ports,
# trying other ports if it exits during start-up.
ports=() gossip=()
start_node() {
	local i=$1 try port gport pport
	local -a args
	for try in 1 2 3; do
		pick_port; port=$picked
		pick_port; gport=$picked
		pick_port; pport=$picked
		mkdir -p "$tmp/node$i"
		args=(--bind 127.0.0.1 --port "$port" --gossip-port "$gport" --peer-port "$pport"
			--data-dir "$tmp/node$i" --gossip-profile local --fsync everysec --n "$replicas" --r "$quorum" --w "$quorum")
		((i > 1)) && args+=(--join "127.0.0.1:${gossip[0]}")
		"$bin" "${args[@]}" >"$tmp/node$i.log" 2>&1 &
		pids+=($!)
		if wait_node "$port" "$!" "$tmp/node$i.log"; then
			ports+=("$port") gossip+=("$gport")
			return
		fi
		echo "smart.sh: node $i exited during start-up (try $try); its log:" >&2
		tail -5 "$tmp/node$i.log" >&2
	done
	exit 1
}
for i in 1 2 3; do
	start_node "$i"
done

# The ring is ready when every node knows 3 members, says cluster_state:ok
# and gives the same CLUSTER SLOTS.
ready=
for _ in $(seq 600); do
	ok=1 first=
	for p in "${ports[@]}"; do
		info=$(redis-cli -p "$p" cluster info 2>/dev/null | tr -d '\r')
		slots=$(redis-cli -p "$p" cluster slots 2>/dev/null | tr '\n' ' ')
		if [[ $info != *"cluster_state:ok"* || $info != *"cluster_known_nodes:3"* ]]; then ok=0; fi
		if [[ -z $first ]]; then first=$slots; elif [[ $slots != "$first" ]]; then ok=0; fi
	done
	if ((ok)) && [[ $(redis-cli -p "${ports[1]}" set smart:probe v) == OK ]] &&
		[[ $(redis-cli -p "${ports[2]}" get smart:probe) == v ]] && [[ $(redis-cli -p "${ports[0]}" get smart:probe) == v ]]; then
		ready=1
		break
	fi
	sleep 0.1
done
[[ -n $ready ]] || { echo "smart.sh: the ring did not settle within 60s" >&2; exit 1; }

# forwarded prints the sum of the nodes' INFO ringstore forwarded: counters.
forwarded() {
	local p sum=0 v
	for p in "${ports[@]}"; do
		v=$(redis-cli -p "$p" info ringstore | tr -d '\r' | sed -n 's/^forwarded://p')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

common=(-t set,get -n "$n" -r 100000 -d 100 -c "$clients" -P 1 --csv)
echo "3 ringstore nodes (N=$replicas R=$quorum W=$quorum, --fsync everysec, --gossip-profile local) on ports ${ports[*]}"
echo "(a) redis-benchmark --cluster -p ${ports[0]} ${common[*]}"
echo "(b) redis-benchmark --threads 3 -p ${ports[0]} ${common[*]}"
echo "$rounds rounds, alternating which goes first; cores: $(nproc), GOMAXPROCS=${GOMAXPROCS:-unset}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# results/<a|b>.<TEST>.<rps|p50|p99> hold one figure per round;
# results/<a|b>.fwd the forwarded requests per round.
mkdir -p "$tmp/results"
run() { # run a|b
	local out before
	local -a mode=(--threads 3)
	[[ $1 == a ]] && mode=(--cluster)
	before=$(forwarded)
	out=$(redis-benchmark -h 127.0.0.1 -p "${ports[0]}" "${mode[@]}" "${common[@]}" 2>&1) || {
		echo "smart.sh: redis-benchmark ${mode[*]} failed:" >&2
		echo "$out" >&2
		exit 1
	}
	if grep -qiE 'error|moved|could not' <<<"$out"; then
		echo "smart.sh: redis-benchmark ${mode[*]} reported errors:" >&2
		echo "$out" >&2
		exit 1
	fi
	echo $(($(forwarded) - before)) >>"$tmp/results/$1.fwd"
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	awk -F'","' -v dir="$tmp/results" -v who="$1" '
		/^"(SET|GET)"/ {
			t = substr($1, 2); sub(/"$/, "", $8)
			print $2 >> (dir "/" who "." t ".rps"); print $5 >> (dir "/" who "." t ".p50"); print $7 >> (dir "/" who "." t ".p99")
		}' <<<"$out"
	for p in "${ports[@]}"; do
		redis-cli -p "$p" ping >/dev/null 2>&1 || { echo "smart.sh: node on port $p stopped answering" >&2; exit 1; }
	done
}

for ((r = 1; r <= rounds; r++)); do
	if ((r % 2)); then order=(a b); else order=(b a); fi
	for who in "${order[@]}"; do
		run "$who"
	done
	echo "round $r done ($(cut -d' ' -f1 /proc/loadavg) load)"
done

# med FILE prints the median; range FILE prints "median (min..max)".
med() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { printf '%s (%s..%s)' "$(med "$1" | xargs printf '%.0f')" "$(sort -g "$1" | head -1 | xargs printf '%.0f')" "$(sort -g "$1" | tail -1 | xargs printf '%.0f')"; }

echo
printf '%-6s  %-28s %7s %7s   %-28s %7s %7s   %-18s %-18s\n' test "(a) --cluster rps" p50 p99 "(b) one node rps" p50 p99 "rps (a)/(b)" "p50 (a)/(b)"
for t in SET GET; do
	res=$tmp/results
	ra=$(med "$res/a.$t.rps") rb=$(med "$res/b.$t.rps")
	pa=$(med "$res/a.$t.p50") pb=$(med "$res/b.$t.p50")
	rr=$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.2f", a / b }')
	pr=$(awk -v a="$pa" -v b="$pb" 'BEGIN { printf "%.2f", a / b }')
	rv=$(awk -v r="$rr" 'BEGIN { print (r >= 1.3) ? "meets >=1.3" : "misses >=1.3" }')
	pv=$(awk -v r="$pr" 'BEGIN { print (r <= 0.7) ? "meets <=0.7" : "misses <=0.7" }')
	printf '%-6s  %-28s %7.3f %7.3f   %-28s %7.3f %7.3f   %-18s %-18s\n' "$t P1" "$(range "$res/a.$t.rps")" \
		"$pa" "$(med "$res/a.$t.p99")" "$(range "$res/b.$t.rps")" "$pb" "$(med "$res/b.$t.p99")" "$rr $rv" "$pr $pv"
done
echo
echo "requests forwarded by the nodes per round (SET+GET, $((2 * n)) requests): (a) $(tr '\n' ' ' <"$tmp/results/a.fwd")  (b) $(tr '\n' ' ' <"$tmp/results/b.fwd")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "p50/p99 in ms (median over rounds, redis-benchmark --csv); rps median (min..max) over rounds."
echo "note: redis-benchmark 7 --cluster tags every key it sends a master with one slot of that master"
echo "(key:{tag}:NNN), so (a) writes 3 slots and (b) spreads its keys over all 16384."
