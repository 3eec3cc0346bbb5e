# pilotlight: the two commands are `make demo` (the main job) and `make test` (every test).
.PHONY: setup demo test lint unit build clean

setup:
	@bash scripts/setup.sh

build:
	cargo build --workspace --bins

## The main job: an alarm on a primary becomes a promoted replica, repointed DNS and a notification.
demo: setup
	bash scripts/demo.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

## Every test: lint, unit and property tests, tests against the AWS emulator, end to end under
## cargo lambda watch with the AWS CLI.
test: setup lint build
	.venv/bin/python tests/emulator/test_emulator.py
	cargo test --workspace --all-targets

unit:
	cargo test -p pilotlight -p router -p failover

clean:
	rm -rf .venv target
