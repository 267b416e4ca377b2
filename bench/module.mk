# bench: the programs live with their modules (BENCHES there); this folder
# holds what turns their rows into bench/results/latest.json and
# docs/performance.md with plots (bench/run.sh, collect.py, report.py).
DEPS_PKGS += gnuplot-nox
INTEG_TESTS += tests/integration/bench_results.sh
