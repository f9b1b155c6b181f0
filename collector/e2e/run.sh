#!/usr/bin/env bash
# Copyright The otelcaracal Authors
# SPDX-License-Identifier: Apache-2.0
#
# End-to-end test: builds Jaeger (from its Go module, pinned in jaeger/),
# otelcol-caracal, caracal-chains and the quickstart; starts Jaeger and the
# collector on 127.0.0.1 at free ports; runs the quickstart with its OTLP
# exporter aimed at the collector; then checks, through Jaeger's HTTP API,
# that the trace holds every service's spans with their delegation path and
# attribution and that no credential reached Jaeger. Both servers are
# stopped on exit. With E2E_KEEP=1 they stay up after the checks until
# interrupted, for a look at the trace.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
GO=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/caracal-e2e.XXXXXX")
pids=()

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	if [ "$status" -ne 0 ]; then
		for log in "$work"/*.log; do
			[ -f "$log" ] || continue
			echo "---- last lines of $(basename "$log")"
			tail -n 30 "$log"
		done
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '== [%4ds] %s\n' "$SECONDS" "$*"; }

# free_port prints a port on 127.0.0.1 that nothing listens on and that
# was not handed out before.
taken=" "
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		case "$taken" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken="$taken$p "
			echo "$p"
			return 0
		fi
	done
	echo "no free port on 127.0.0.1" >&2
	return 1
}

# wait_port waits, at most $2 seconds, for 127.0.0.1:$1 to accept
# connections while process $3 runs.
wait_port() {
	local port=$1 limit=$2 pid=$3
	for _ in $(seq 1 $((limit * 10))); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "process $pid exited before 127.0.0.1:$port opened" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "127.0.0.1:$port did not open within ${limit}s" >&2
	return 1
}

step "building Jaeger v1.75.0 from its Go module"
start=$SECONDS
(cd "$here/jaeger" && "$GO" build -o "$work/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
step "Jaeger built in $((SECONDS - start))s"
step "building otelcol-caracal, caracal-chains and the quickstart"
(cd "$root/collector" && "$GO" build -o "$work/otelcol-caracal" ./cmd/otelcol-caracal &&
	"$GO" build -o "$work/caracal-chains" ./cmd/caracal-chains)
(cd "$root" && "$GO" build -o "$work/quickstart" ./examples/quickstart)

E2E_JAEGER_QUERY_PORT=$(free_port)
E2E_JAEGER_QUERY_GRPC_PORT=$(free_port)
E2E_JAEGER_OTLP_GRPC_PORT=$(free_port)
E2E_JAEGER_OTLP_HTTP_PORT=$(free_port)
E2E_COLLECTOR_GRPC_PORT=$(free_port)
E2E_COLLECTOR_HTTP_PORT=$(free_port)
E2E_COLLECTOR_METRICS_PORT=$(free_port)
export E2E_JAEGER_QUERY_PORT E2E_JAEGER_QUERY_GRPC_PORT E2E_JAEGER_OTLP_GRPC_PORT \
	E2E_JAEGER_OTLP_HTTP_PORT E2E_COLLECTOR_GRPC_PORT E2E_COLLECTOR_HTTP_PORT E2E_COLLECTOR_METRICS_PORT

jaeger_url="http://127.0.0.1:$E2E_JAEGER_QUERY_PORT"
step "starting Jaeger: query API $jaeger_url, OTLP gRPC 127.0.0.1:$E2E_JAEGER_OTLP_GRPC_PORT"
"$work/jaeger" --config "$here/jaeger.yaml" >"$work/jaeger.log" 2>&1 &
pids+=($!)
wait_port "$E2E_JAEGER_QUERY_PORT" 60 "${pids[-1]}"
wait_port "$E2E_JAEGER_OTLP_GRPC_PORT" 30 "${pids[-1]}"

step "starting otelcol-caracal: OTLP/HTTP 127.0.0.1:$E2E_COLLECTOR_HTTP_PORT"
"$work/otelcol-caracal" --config "$here/collector.yaml" >"$work/collector.log" 2>&1 &
pids+=($!)
wait_port "$E2E_COLLECTOR_HTTP_PORT" 60 "${pids[-1]}"

step "running the quickstart, exporting to the collector"
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$E2E_COLLECTOR_HTTP_PORT" \
	timeout 60 "$work/quickstart" | tee "$work/quickstart.out"
trace_id=$(awk '/^trace / { print $2; exit }' "$work/quickstart.out")
if [ -z "$trace_id" ]; then
	echo "the quickstart printed no trace" >&2
	exit 1
fi

# The services are those the quickstart printed spans for.
services=$(sed -n 's/^\([a-z0-9-]*\) spans:$/\1/p' "$work/quickstart.out" | tr '\n' ' ')

step "checking trace $trace_id of $services in Jaeger"
(cd "$root/collector" &&
	E2E_JAEGER_URL="$jaeger_url" E2E_TRACE_ID="$trace_id" E2E_SERVICES="$services" \
		E2E_COLLECTOR_HTTP="127.0.0.1:$E2E_COLLECTOR_HTTP_PORT" \
		E2E_COLLECTOR_METRICS="http://127.0.0.1:$E2E_COLLECTOR_METRICS_PORT/metrics" \
		timeout 300 "$GO" test -tags e2e -count=1 -v ./e2e/)

step "delegation chains read back from Jaeger"
"$work/caracal-chains" -jaeger "$jaeger_url" -trace "$trace_id" | tee "$work/jaeger-chains.out"
sed -n '/^trace /,/^$/p' "$work/quickstart.out" | sed '/^$/d' >"$work/quickstart-chains.out"
if ! diff -u "$work/quickstart-chains.out" "$work/jaeger-chains.out"; then
	echo "the chains in Jaeger differ from those the quickstart recorded" >&2
	exit 1
fi

step "caracal processor metrics"
metrics_url="http://127.0.0.1:$E2E_COLLECTOR_METRICS_PORT/metrics"
{ curl -fsS "$metrics_url" 2>/dev/null || true; } | grep '^otelcol_processor_caracal' || true

step "end-to-end test passed"
if [ "${E2E_KEEP:-}" = 1 ]; then
	echo "Jaeger stays up until interrupted (Ctrl-C):"
	echo "  trace JSON:  $jaeger_url/api/traces/$trace_id"
	echo "  chains:      $work/caracal-chains -jaeger $jaeger_url -trace $trace_id"
	echo "  Jaeger UI:   $jaeger_url/trace/$trace_id (with JAEGER_UI_ASSETS set)"
	echo "  collector:   OTLP/HTTP http://127.0.0.1:$E2E_COLLECTOR_HTTP_PORT"
	wait "${pids[0]}"
fi
