#!/usr/bin/env bash
# bench/single.sh: one ringstore node against one redis-server under the same
# redis-benchmark load, side by side in one run, printing ringstore/redis
# ratios. A benchmark, not a test: it always exits 0 once it has measured.
#
#   bench/single.sh                 # full run (a few minutes on 2 cores)
#   BENCH_N=20000 bench/single.sh   # quick run
#
# Environment:
#   BENCH_N        requests per redis-benchmark run (default 200000)
#   BENCH_ROUNDS   rounds per test (default 3; the median is reported)
#   GOMAXPROCS     passed through to ringstore (default: unset, Go uses all cores)
#   RINGSTORE_BIN  benchmark this binary instead of building ./cmd/ringstore
set -euo pipefail
source "$(dirname "$0")/lib.sh"

n=${BENCH_N:-200000}
rounds=${BENCH_ROUNDS:-3}

for tool in redis-server redis-cli redis-benchmark; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

bench_tmp ringstore-bench

build_bin
start_ringstore

start_redis
wait_up "$redis_port" "$redis_pid" redis-server "$tmp/redis.log"

common=(-t set,get -n "$n" -r 100000 -d 100 -c 50 --csv)
redis_version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
echo "ringstore (--fsync everysec) on :$rs_port vs redis-server $redis_version (appendonly yes, appendfsync everysec) on :$redis_port"
echo "redis-benchmark ${common[*]:0:10} -P 1|16, $rounds rounds, alternating servers"
echo "cores: $(nproc), GOMAXPROCS=${GOMAXPROCS:-unset} (ringstore; unset means all cores), load generator on the same machine"

# results/<server>.<TEST>.P<p> holds one requests-per-second figure per round.
mkdir -p "$tmp/results"
run() { # run SERVER PORT PIPELINE
	local out
	out=$(redis-benchmark -h 127.0.0.1 -p "$2" "${common[@]}" -P "$3" 2>&1) || {
		echo "bench: redis-benchmark against $1 (-P $3) failed:" >&2
		echo "$out" >&2
		exit 1
	}
	# CSV lines: "SET","81234.57","0.5",...
	echo "$out" | awk -F'","' -v dir="$tmp/results" -v srv="$1" -v p="$3" '
		/^"(SET|GET)"/ { t = substr($1, 2); print $2 >> (dir "/" srv "." t ".P" p) }'
	if ! redis-cli -p "$2" ping >/dev/null 2>&1; then
		echo "bench: $1 stopped answering after redis-benchmark -P $3" >&2
		exit 1
	fi
}

run_rounds

echo
printf '%-8s  %-32s  %-32s  %6s  %s\n' test "ringstore rps median (min..max)" "redis rps median (min..max)" ratio target
for p in 1 16; do
	for t in SET GET; do
		read -r rm rlo rhi < <(stats "$tmp/results/ringstore.$t.P$p")
		read -r dm dlo dhi < <(stats "$tmp/results/redis.$t.P$p")
		case "$t.$p" in
		SET.1 | GET.1) target=0.8 ;;
		SET.16) target=0.6 ;;
		GET.16) target=0.5 ;;
		esac
		ratio=$(awk -v a="$rm" -v b="$dm" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
		verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "met" : "below" }')
		printf '%-8s  %-32s  %-32s  %6s  >= %s %s\n' "$t P$p" "$rm ($rlo..$rhi)" "$dm ($dlo..$dhi)" "$ratio" "$target" "$verdict"
	done
done
