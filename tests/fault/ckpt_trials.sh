#!/bin/bash
# Kill-the-primary fault trials of the checkpoint engine (see
# tests/fault/ckpt_trials.c); CKPT_TRIALS overrides the count (make soak: 500).
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
[ -x "$BUILD/tests/ckpt-trials" ] || { echo "ckpt-trials not built"; exit 77; }
[ -f "$BUILD/tests/pvm/counter.elf" ] || { echo "counter guest not built"; exit 77; }
BUILD=$BUILD CKPT_TRIALS=${CKPT_TRIALS:-50} "$BUILD/tests/ckpt-trials"
