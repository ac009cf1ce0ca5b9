# Sourced by the launch scripts: sets PYTHON to the interpreter to run.
# $PYTHON if set; else `python` of an activated environment (virtualenv or
# conda, as mmseg users run these scripts); else the project's .venv built by
# `make setup`; else `python`.
if [ -z "${PYTHON:-}" ]; then
    _repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if [ -z "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] \
        && [ -x "$_repo_dir/.venv/bin/python" ]; then
        PYTHON="$_repo_dir/.venv/bin/python"
    else
        PYTHON=python
    fi
    unset _repo_dir
fi
