#!/usr/bin/env bash
# Installs every tool the build and the tests need. Idempotent: each step is
# skipped when its tool is already present, so `make test` stays fast on a
# machine that has run it once.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=()
command -v wat2wasm >/dev/null 2>&1 || apt_pkgs+=(wabt)
command -v kcat >/dev/null 2>&1 || apt_pkgs+=(kcat)
[ -x /usr/bin/time ] || apt_pkgs+=(time)
# tests/deploy runs OpenWhisk's Ansible and our roles for real: ansible-core,
# the collections with community.docker (Debian's ansible), dockerd and the
# openssl its setup.yml makes certificates with.
command -v ansible-playbook >/dev/null 2>&1 || apt_pkgs+=(ansible-core)
[ -d /usr/lib/python3/dist-packages/ansible_collections/community/docker ] || apt_pkgs+=(ansible)
command -v dockerd >/dev/null 2>&1 || apt_pkgs+=(docker.io)
command -v openssl >/dev/null 2>&1 || apt_pkgs+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || apt_pkgs+=(systemd)
# node runs the feed actions of feed/kafka as the stock nodejs:20 runtime would.
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs npm)
command -v redis-server >/dev/null 2>&1 || apt_pkgs+=(redis-server)
# The evaluation's testbed (eval/testbed): namespaces, veth, bridges and tc
# link caps, and setpriv to check the refusal without root.
{ command -v ip && command -v tc; } >/dev/null 2>&1 || apt_pkgs+=(iproute2)
command -v setpriv >/dev/null 2>&1 || apt_pkgs+=(util-linux)
# The C and Rust examples (make examples): Debian's clang with its wasi-libc,
# and Debian's rustc with the wasm32-wasi standard library (another rustc
# on PATH, such as rustup's, may lack that target: the Makefile names
# /usr/bin/rustc).
{ command -v clang && command -v wasm-ld && [ -f /usr/lib/wasm32-wasi/libc.a ]; } >/dev/null 2>&1 ||
	apt_pkgs+=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
[ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/wasm32-wasi ] || apt_pkgs+=(rustc libstd-rust-dev-wasm32)
if ((${#apt_pkgs[@]})); then
	echo "deps: installing ${apt_pkgs[*]} from apt" >&2
	sudo_cmd=""
	[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
	$sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# pouchdb-server is the CouchDB API the tests run against; it lives under
# .tools so the tests find it without a global npm install.
pouch=.tools/npm/node_modules/.bin/pouchdb-server
if [ ! -x "$pouch" ]; then
	echo "deps: installing pouchdb-server from npm" >&2
	mkdir -p .tools/npm
	npm install --silent --no-audit --no-fund --prefix .tools/npm pouchdb-server@4.2.0 >/dev/null
fi

# openwhisk is the official JavaScript client; tests drive the standalone
# with it from node scripts.
if [ ! -f .tools/npm/node_modules/openwhisk/package.json ]; then
	echo "deps: installing openwhisk (the JS client) from npm" >&2
	mkdir -p .tools/npm
	npm install --silent --no-audit --no-fund --prefix .tools/npm openwhisk@3.21.9 >/dev/null
fi

# wsk is the stock OpenWhisk CLI, built from the source snapshot in the
# shared tools (the module proxy refuses its module); the scripted CLI run
# of the standalone tests drives it.
wsk_build=/work/shared/tools/build-wsk.sh
[ -x ../shared/tools/build-wsk.sh ] && wsk_build=../shared/tools/build-wsk.sh
"$wsk_build" .tools/bin/wsk

# staticcheck, pinned, for `make lint`.
staticcheck_version=v0.8.2 # staticcheck 2026.2.2
if [ "$(.tools/bin/staticcheck -version 2>/dev/null | sed -n 's/.*(\(.*\))$/v\1/p')" != "$staticcheck_version" ]; then
	echo "deps: installing staticcheck $staticcheck_version" >&2
	GOBIN="$PWD/.tools/bin" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi

go mod download
