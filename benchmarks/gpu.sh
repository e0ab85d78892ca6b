#!/usr/bin/env bash
# The GPU figures in one go (under 8 minutes on one CUDA GPU): see benchmarks/gpu.py.
#   bash benchmarks/gpu.sh --out gpu.md        # then copy gpu.md into docs/benchmarks.md
#   bash benchmarks/gpu.sh --cpu --out cpu.md  # the same on the CPU, smaller sizes
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 480 "${PYTHON:-python}" benchmarks/gpu.py "$@"
