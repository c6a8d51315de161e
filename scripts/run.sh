#!/usr/bin/env bash
# `make run`: replaced by the standalone stack once it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
./bin/faasedge version
