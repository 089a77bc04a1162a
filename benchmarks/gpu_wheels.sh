#!/usr/bin/env bash
# Run HERE (a machine with PyPI) before benchmarks/gpu_check.sh: downloads into .whl/ the wheels of the
# packages lit_rl needs that the GPU machine's image lacks (it has torch, lightning, torchmetrics,
# tensorboard, numpy, opencv, matplotlib, pytest; Python 3.12, x86-64; no network). ~4.5 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    gymnasium==1.4.0 ale-py==0.12.1 farama-notifications jsonargparse docstring-parser typeshed-client
ls .whl
