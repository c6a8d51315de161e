#!/usr/bin/env bash
# `make run`: until the standalone stack exists, this runs the sample action
# (examples/hello, built by `make examples`) once through `faasedge exec`.
set -euo pipefail
cd "$(dirname "$0")/.."
./bin/faasedge exec bin/hello.wasm --param name=World
