# bench/lib.sh: helpers shared by the bench/*.sh scripts, which source it
# right after `set -euo pipefail`:
#
#   source "$(dirname "$0")/lib.sh"
#
# It sets root (the repository) and defines functions only; nothing runs
# until a script calls them.
# shellcheck shell=bash

root=$(cd "$(dirname "$0")/.." && pwd)

# bench_tmp NAME: make the run's temporary directory $tmp (under $TMPDIR,
# /tmp by default, named NAME.XXXXXX) and arrange for cleanup on exit or
# Ctrl-C. Every process whose pid is appended to pids is stopped then.
bench_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	pids=()
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# cleanup: SIGTERM every process in pids, give each 10 s, then SIGKILL it;
# remove $tmp.
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

# build_bin: set bin to $RINGSTORE_BIN, or build ./cmd/ringstore into $tmp.
build_bin() {
	if [[ -n ${RINGSTORE_BIN:-} ]]; then
		bin=$RINGSTORE_BIN
	else
		echo "building ./cmd/ringstore ..."
		(cd "$root" && go build -o "$tmp/ringstore" ./cmd/ringstore)
		bin=$tmp/ringstore
	fi
}

# free_port VAR: set VAR to a loopback port that nobody answers on and that
# this script has not handed out yet, from 20000-31999: below Linux's
# ephemeral range, where the benchmark's own client sockets would otherwise
# make a node's listen fail with "address already in use". It assigns instead of printing so that
# it runs in the script's own shell: a $(free_port) subshell would forget the
# ports it handed out and could give one twice. A start that loses a race for
# the port fails its readiness check (and is reported or retried by the
# caller).
used_ports=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768+ on Linux)
		[[ $used_ports == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			printf -v "$1" '%s' "$p"
			return
		fi
	done
}

# wait_ready PORT PID: poll PING until PONG (0); fail with 1 if PID exits
# first, with 2 if 30 s pass.
wait_ready() {
	local port=$1 pid=$2
	for _ in $(seq 600); do
		[[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 2
}

# wait_up PORT PID NAME LOG: wait_ready, or exit saying why, with the log.
wait_up() {
	local port=$1 pid=$2 name=$3 log=$4 rc=0
	wait_ready "$port" "$pid" || rc=$?
	case $rc in
	0) return ;;
	1) echo "bench: $name exited during start-up; its log:" >&2 ;;
	*) echo "bench: $name did not answer PING on port $port within 30s; its log:" >&2 ;;
	esac
	cat "$log" >&2
	exit 1
}

# start_ringstore: start one ringstore node ($bin, --fsync everysec) on free
# ports with its data in $tmp/ringstore-data and its log in
# $tmp/ringstore.log, and wait until it answers (or exit); sets rs_port and
# rs_pid.
start_ringstore() {
	free_port rs_port
	# The gossip and peer ports default to port+20000 and port+10000, which
	# another process may hold: pick free ones too.
	free_port rs_gossip
	free_port rs_peer
	mkdir -p "$tmp/ringstore-data"
	"$bin" --bind 127.0.0.1 --port "$rs_port" --gossip-port "$rs_gossip" --peer-port "$rs_peer" --data-dir "$tmp/ringstore-data" --fsync everysec \
		>"$tmp/ringstore.log" 2>&1 &
	rs_pid=$!
	pids+=("$rs_pid")
	wait_up "$rs_port" "$rs_pid" ringstore "$tmp/ringstore.log"
}

# start_redis: start a redis-server (appendonly yes, appendfsync everysec)
# on a free port with its data in $tmp/redis-data and its log in
# $tmp/redis.log; sets redis_port and redis_pid. The caller waits for it.
start_redis() {
	free_port redis_port
	mkdir -p "$tmp/redis-data"
	redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis-data" --save '' \
		--appendonly yes --appendfsync everysec --daemonize no >"$tmp/redis.log" 2>&1 &
	redis_pid=$!
	pids+=("$redis_pid")
}

# wait_converged: until a write through every one of nodes 1..3 (ports in
# port[]) reads back through every node (membership has spread), or fail
# after 30 s.
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

# run_rounds: $rounds rounds of the script's `run SERVER PORT PIPELINE` at
# -P 1 and -P 16 against ringstore on $rs_port and redis on $redis_port.
run_rounds() {
	local round p
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
}

# stats FILE [FMT] prints "median min max" of the numbers in FILE, each
# formatted with FMT (default %.0f).
stats() {
	sort -g "$1" | awk -v fmt="${2:-%.0f}" '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf fmt " " fmt " " fmt "\n", m, v[1], v[NR] }'
}
