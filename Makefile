# pilotlight: the two commands are `make demo` (the main job) and `make test` (every test).
.PHONY: setup demo test lint unit build clean check-infra bench release bench-quick

# The tools `make setup` installs live in .venv/bin: cargo-lambda, the AWS CLI, moto, and Zig (the
# `ziglang` package: cargo-lambda's cross-compiling linker, cargo-zigbuild, runs it as `python3 -m
# ziglang`, and `python3` here is the venv's). Every recipe sees them first, without anyone
# activating the venv.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

## Release artifacts: ARCH=arm64 (default, Graviton) or ARCH=x86-64 (x86_64 is accepted too), all four
## functions or BINS="router failover". Written to target/lambda/<function>/bootstrap.zip in the
## workspace (where infra/sam and infra/terraform look), even when CARGO_TARGET_DIR puts the build cache
## elsewhere. The benchmark builds into target/lambda-bench, never over the artifacts you deploy.
ARCH = arm64
BINS =
LAMBDA_DIR = $(CURDIR)/target/lambda
BENCH_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86-64)
CARGO_LAMBDA_ARCH = $(if $(filter arm64 aarch64,$(ARCH)),arm64,$(if $(filter x86-64 x86_64,$(ARCH)),x86-64,$(error ARCH must be arm64 or x86-64, not '$(ARCH)')))

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
## cargo lambda watch with the AWS CLI, and the deployment checks.
## The emulator records every call a function makes under its role (PILOTLIGHT_IAM_LOG); the last step
## checks those calls against the roles of infra/sam and infra/terraform, both ways.
IAM_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))/pilotlight-iam
test: setup lint build
	.venv/bin/python emulator/test_emulator.py
	.venv/bin/python emulator/test_conditions.py
	.venv/bin/python emulator/test_global_clusters.py
	.venv/bin/python emulator/test_automated_backups.py
	.venv/bin/python emulator/test_drill_restores.py
	.venv/bin/python emulator/test_iam.py
	rm -rf $(IAM_DIR) && mkdir -p $(IAM_DIR)
	PILOTLIGHT_IAM_LOG=$(IAM_DIR)/calls.jsonl cargo test --workspace --all-targets
	PILOTLIGHT_TERRAFORM_POLICIES=$(IAM_DIR)/terraform-policies.json bash scripts/check-infra.sh
	.venv/bin/python scripts/check-iam.py --calls $(IAM_DIR)/calls.jsonl --terraform $(IAM_DIR)/terraform-policies.json

## Deployment checks (no AWS account): cfn-lint, sam validate, terraform fmt/validate, checkov, and the
## Terraform example applied to the emulator then destroyed.
check-infra: setup
	bash scripts/check-infra.sh

unit:
	cargo test -p pilotlight -p router -p failover -p snapshot-copy -p retention

release: setup
	cargo lambda build --release --$(CARGO_LAMBDA_ARCH) --output-format zip --lambda-dir $(LAMBDA_DIR) $(addprefix --bin ,$(BINS))

## Benchmark: release build for this machine's architecture into target/lambda-bench, then one table.
bench: ARCH = $(BENCH_ARCH)
bench: LAMBDA_DIR = $(CURDIR)/target/lambda-bench
bench: release
	python bench/bench.py --bin-dir $(LAMBDA_DIR)

## The benchmark's smoke run (smaller jobs; fails when a job does not do what it must), as CI runs it.
bench-quick: ARCH = $(BENCH_ARCH)
bench-quick: LAMBDA_DIR = $(CURDIR)/target/lambda-bench
bench-quick: release
	python bench/bench.py --bin-dir $(LAMBDA_DIR) --quick --job-timeout 120

clean:
	rm -rf .venv target
