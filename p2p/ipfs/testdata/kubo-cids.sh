#!/usr/bin/env bash
# Regenerates kubo-cids.txt: the CIDs Kubo's `ipfs add` gives for the
# fixture inputs, which TestAddMatchesKubo checks Add against.
#
# The inputs come from the test itself (fixtureInputs in add_test.go, and
# the directory fixtureTree in fs_test.go, added with -r), so
# the bytes have one generator. Kubo is not a dependency of this repository:
# run this with any Kubo binary (IPFS=/path/to/ipfs). The committed list
# came from Kubo v0.43.1 built in a throwaway folder from its module source
# (go build ./cmd/ipfs), with its go.mod's replace of go-libp2p by an
# unpublished fork dropped and go-libp2p at v0.51.0: that touches
# networking only, not import. Kubo runs offline with a throwaway repository
# and its default import settings.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ipfs="${IPFS:-ipfs}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir "$work/in"
(cd "$here/.." && go test -count=1 -run '^TestAddMatchesKubo$' . -args -write-fixtures="$work/in" >/dev/null)

export IPFS_PATH="$work/repo"
"$ipfs" init >/dev/null
{
	echo "# input cid-version cid, from: $("$ipfs" version --all | head -1)"
	for f in empty text17 1MB 3x256KiB+1 tree; do
		for v in 0 1; do
			echo "$f $v $("$ipfs" add --offline -r -Q --cid-version "$v" "$work/in/$f")"
		done
	done
} >"$here/kubo-cids.txt"
cat "$here/kubo-cids.txt"
