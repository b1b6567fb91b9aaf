# Benchmark area (bench/, bench/README.md): `make bench` itself is in the Makefile.

BENCH_DEPS := $(VENV)/.bench-deps
PROVISION += bench-deps

# The peers and tools the benchmark drives (Bytewax, msgpack, py-spy): pyproject's `bench` extra.
$(BENCH_DEPS): pyproject.toml | $(BIN)/squall
	$(BIN)/pip install -q -e '.[bench]'
	@touch $@

bench-deps: $(BENCH_DEPS) ## install the benchmark's extra packages (pyproject's bench extra)

# `make bench` needs them too (a prerequisite added to the Makefile's bench target).
bench: bench-deps

bench-quick: bench-deps ## a tiny benchmark run (bench/results/<date>-quick.md); numbers not meaningful
	$(BIN)/python -m bench.run --quick

.PHONY: bench-deps bench-quick
