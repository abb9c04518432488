# The two commands a new user needs (see README.md):
#   make run   — set up, start a local push server with demo traffic, watch it
#   make test  — set up, then fmt, clippy and every test
.PHONY: setup run test lint fuzz bench bench-peer man package package-check screenshots

setup:
	./scripts/setup

run: setup
	./scripts/demo

# Plain cargo commands act on the default members: everything but the app
# shell, so they need no GTK/WebKit.
# `make test` then builds and tests the app shell on its own.
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p chime-app --all-targets -- -D warnings

test: setup lint
	cargo test
	cargo test -p chime-app

# Fuzz the wire parsers and the state machine (supervisor + inbox +
# announcer + store) for FUZZ_SECONDS each, debug assertions on (needs
# cargo-fuzz; see docs/PROTOCOL.md and docs/BENCHMARKS.md).
FUZZ_SECONDS ?= 60
# Random user histories per dialect for the model-based oracle
# (tests/tests/model.rs; `make test` runs 128).
MODEL_CASES ?= 20000
fuzz:
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse_frames -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run state_machine -- -max_total_time=$(FUZZ_SECONDS)
	CHIME_MODEL_CASES=$(MODEL_CASES) cargo test --release -p chime-e2e --test model

# Benchmarks print figures for docs/BENCHMARKS.md.
bench: setup
	cargo build --release -p chime-server -p chime-e2e --bins
	cargo run --release -p chime-e2e --bin bench-parse
	cargo run --release -p chime-e2e --bin bench-server
	cargo run --release -p chime-e2e --bin bench-link
	cargo run --release -p chime-e2e --bin bench-store

# Chime beside gotify-tray on one desktop: memory idling in the tray, and
# Chime's after its inbox closed (see scripts/bench-peer).
bench-peer: setup
	./scripts/bench-peer

# Man pages for chime, chime-watch and chime-server, generated from their
# clap definitions (each binary prints its own with --print-man-page).
MAN_DIR ?= $(or $(CARGO_TARGET_DIR),target)/man
man:
	cargo build --release -p chime-cli -p chime-server -p chime-app --bins
	mkdir -p $(MAN_DIR)
	for b in chime chime-watch chime-server; do \
	  $(or $(CARGO_TARGET_DIR),target)/release/$$b --print-man-page > $(MAN_DIR)/$$b.1; done
	@echo "man pages in $(MAN_DIR)"

# What ships, into target/package/ (see scripts/package).
package: setup
	./scripts/package

# The packages on a clean Debian 12 root (debootstrap; needs root).
# The probe (the test desktop) is built as the tests build it.
package-check: package
	cargo build -p chime-app --example package_probe
	./scripts/package-check

# The README pictures, retaken under Xvfb (see scripts/screenshots).
screenshots: setup
	./scripts/screenshots
