#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func FuzzXxx(f *testing.F)` in
# a _test.go file, found anew on every run) for FUZZTIME each, one after
# another. `make fuzz` runs it with FUZZTIME=30s; `make test` with a few
# seconds, on top of the seed corpora that plain `go test` already runs.
# Extra flags for go test (e.g. -parallel 1) go in FUZZFLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
targets=$(grep -rEo --include='*_test.go' --exclude-dir=.tools --exclude-dir=node_modules --exclude-dir=testdata \
	'^func Fuzz[A-Za-z0-9_]+\(' . | while IFS=: read -r file match; do
	name=${match#func }
	echo "$(dirname "$file") ${name%(}"
done | sort -u)
if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
failed=()
while read -r dir name; do
	echo "fuzz: $dir $name for $fuzztime" >&2
	# shellcheck disable=SC2086
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" ${FUZZFLAGS:-} "$dir" </dev/null; then
		failed+=("$dir $name")
	fi
done <<<"$targets"
if ((${#failed[@]})); then
	printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
	exit 1
fi
