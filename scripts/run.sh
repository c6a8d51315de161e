#!/usr/bin/env bash
# `make run`: start the standalone stack (bin/faasedge standalone), deploy
# the sample action examples/hello (bin/hello.wasm, built by `make
# examples`) through the OpenWhisk REST API, invoke it once and show the
# result, then keep the stack running until Ctrl-C.
#
# Environment: FAASEDGE_ADDR (127.0.0.1:3233), FAASEDGE_DATA_DIR (the
# standalone's default), FAASEDGE_RUN_ONCE=1 to stop after the invocation.
set -euo pipefail
cd "$(dirname "$0")/.."

addr="${FAASEDGE_ADDR:-127.0.0.1:3233}"
auth="23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
api="http://$addr/api/v1/namespaces/_"
args=(standalone --addr "$addr")
[ -n "${FAASEDGE_DATA_DIR:-}" ] && args+=(--data-dir "$FAASEDGE_DATA_DIR")

out="$(mktemp)"
./bin/faasedge "${args[@]}" >"$out" &
pid=$!
# stop asks the stack to stop (Ctrl-C), giving it a minute to drain, and
# only then forces it.
stop() {
	kill -INT "$pid" 2>/dev/null || true
	for _ in $(seq 1 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$out"
}
trap stop EXIT
trap 'exit 130' INT TERM

# The banner appears once the invoker has passed its health test.
for _ in $(seq 1 1200); do
	grep -q "is ready" "$out" && break
	kill -0 "$pid" 2>/dev/null || { echo "run: the standalone stopped before it was ready" >&2; exit 1; }
	sleep 0.1
done
grep -q "is ready" "$out" || { echo "run: the standalone was not ready after 2 minutes" >&2; exit 1; }
cat "$out"

echo "Deploying examples/hello as action hello (kind wasm:wasip1)..."
code="$(base64 <bin/hello.wasm | tr -d '\n')"
printf '{"exec":{"kind":"wasm:wasip1","code":"%s","binary":true}}' "$code" |
	curl -fsS -u "$auth" -X PUT -H 'Content-Type: application/json' --data-binary @- \
		"$api/actions/hello?overwrite=true" >/dev/null

echo "Invoking it: wsk action invoke hello -r -p name World"
curl -fsS -u "$auth" -X POST -H 'Content-Type: application/json' -d '{"name":"World"}' \
	"$api/actions/hello?blocking=true&result=true"
echo

if [ "${FAASEDGE_RUN_ONCE:-}" = 1 ]; then
	exit 0
fi
echo "The stack keeps running; press Ctrl-C to stop it."
wait "$pid"
