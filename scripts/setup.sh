#!/usr/bin/env bash
# Install what pilotlight's demo and tests need that a fresh machine with Rust and Python lacks,
# into the project's own virtualenv (.venv): moto's server (the AWS emulator), the AWS CLI (the
# real client), cargo-lambda (the Lambda runtime emulator). Idempotent: a second run is instant.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS=emulator/requirements.txt
STAMP=.venv/.installed
command -v cargo >/dev/null || { echo "setup: cargo is missing: install Rust (rustup) first" >&2; exit 1; }
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON is missing: install Python 3.9+ first" >&2; exit 1; }
if [ -f "$STAMP" ] && cmp -s "$REQUIREMENTS" "$STAMP"; then
  exit 0
fi
echo "setup: creating .venv with $(tr '\n' ' ' < "$REQUIREMENTS")"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
cp "$REQUIREMENTS" "$STAMP"
echo "setup: $(.venv/bin/python -c 'import moto; print("moto", moto.__version__)'), $(.venv/bin/aws --version 2>&1 | cut -d' ' -f1), $(.venv/bin/cargo-lambda lambda --version 2>&1 | head -1)"
