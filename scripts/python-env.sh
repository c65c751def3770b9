#!/usr/bin/env bash
# Makes the Python environment of the bring-your-own example (examples/byo-python): a virtualenv
# outside the repository, with the pinned numpy and safetensors. Idempotent: it reinstalls only
# when requirements.txt changed. Prints the virtualenv's bin directory as its last line.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo/examples/byo-python/requirements.txt"
venv="${FLOTILLA_PYTHON_ENV:-$HOME/.cache/flotilla/python-env}"
stamp="$venv/.flotilla-requirements"

if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
if ! cmp -s "$requirements" "$stamp"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
echo "$venv/bin"
