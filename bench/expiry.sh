#!/usr/bin/env bash
# bench/expiry.sh: what background expiry costs a node that holds a big
# value and keys that keep expiring, ringstore and redis-server side by side
# in one run. A benchmark, not a test: it always exits 0 once it has measured.
#
#   bench/expiry.sh                          # 100 MB value, 10 s of churn
#   BENCH_BIG_MB=20 BENCH_SECONDS=5 bench/expiry.sh
#
# Each server gets the same data: one value of BENCH_BIG_MB megabytes, no
# TTL, and BENCH_KEYS plain 100-byte keys. (A walk that reads every record
# comes round to the big value once a pass, and a pass over a few keys
# takes one cycle, 100 ms: the fewer keys, the more often it is read.) Then, for BENCH_SECONDS, one client
# per server sets a key with PX 50 every 100 ms, so that expiry always has
# work; and for as long again nobody writes. The table gives each server's
# CPU time (utime + stime from /proc, so Linux only) in each window. A walk
# that reads every record would decompress the big value every pass.
#
# Environment:
#   BENCH_BIG_MB   size of the big value in MB (default 100)
#   BENCH_KEYS     plain keys beside it (default 1000)
#   BENCH_SECONDS  length of each window (default 10)
#   RINGSTORE_BIN  benchmark this binary instead of building ./cmd/ringstore
set -euo pipefail
source "$(dirname "$0")/lib.sh"

big_mb=${BENCH_BIG_MB:-100}
keys=${BENCH_KEYS:-1000}
seconds=${BENCH_SECONDS:-10}

for tool in redis-server redis-cli redis-benchmark; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
[[ -r /proc/self/stat ]] || { echo "bench: needs /proc (Linux)" >&2; exit 1; }

bench_tmp ringstore-expiry
build_bin
start_ringstore
start_redis
wait_up "$redis_port" "$redis_pid" redis-server "$tmp/redis.log"

head -c "$((big_mb * 1000000))" /dev/zero | tr '\0' x >"$tmp/big"
for port in "$rs_port" "$redis_port"; do
	[[ $(redis-cli -p "$port" -x set big <"$tmp/big") == OK ]] || { echo "bench: SET of the big value on :$port failed" >&2; exit 1; }
	redis-benchmark -h 127.0.0.1 -p "$port" -t set -n "$keys" -r "$keys" -d 100 -c 50 -P 16 -q >/dev/null
done
rm -f "$tmp/big"
sleep 2 # let the loads' flushes and compactions settle

# cpu PID: the process's CPU time so far, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
seconds_of() { awk -v t="$1" -v k="$tick" 'BEGIN { printf "%.2f", t / k }'; }

# churn PORT: set a key with PX 50 every 100 ms for $seconds, on one connection.
churn() {
	local i
	for ((i = 0; i < seconds * 10; i++)); do
		echo "SET ttl:$i v PX 50"
		sleep 0.1
	done | redis-cli -p "$1" >/dev/null
}

rs0=$(cpu "$rs_pid")
redis0=$(cpu "$redis_pid")
churn "$rs_port" &
churn_rs=$!
churn "$redis_port"
wait "$churn_rs"
rs1=$(cpu "$rs_pid")
redis1=$(cpu "$redis_pid")
sleep "$seconds"
rs2=$(cpu "$rs_pid")
redis2=$(cpu "$redis_pid")

for port in "$rs_port" "$redis_port"; do
	redis-cli -p "$port" ping >/dev/null || { echo "bench: the server on :$port stopped answering" >&2; exit 1; }
done

echo "a ${big_mb} MB value and up to $keys plain keys; CPU seconds of each server"
printf '%-34s %10s %10s\n' window ringstore redis
printf '%-34s %10s %10s\n' "${seconds} s, a PX 50 key every 100 ms" "$(seconds_of $((rs1 - rs0)))" "$(seconds_of $((redis1 - redis0)))"
printf '%-34s %10s %10s\n' "${seconds} s idle" "$(seconds_of $((rs2 - rs1)))" "$(seconds_of $((redis2 - redis1)))"
