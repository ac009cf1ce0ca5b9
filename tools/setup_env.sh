#!/usr/bin/env bash
# Create (or refresh) the project-local environment .venv with the whole
# OpenMMLab stack mmrn38 runs on:
#   torch 2.13.0 + torchvision 0.28.0, setuptools with pkg_resources,
#   mmcv 2.1.0 with ops (built once from source, wheel cached outside the repo),
#   pydensecrf2 1.1 (PSA's CRF step; built and cached the same way),
#   mmengine 0.10.7, mmsegmentation 1.2.2, mmpretrain 1.2.0, pytest, mmrn38 (editable).
#
# A second run is a no-op: a stamp in .venv records the hash of the files that
# define the environment.
#
# Environment variables:
#   MMRN38_VENV         where the environment lives (default: <repo>/.venv)
#   MMRN38_WHEEL_CACHE  where the built wheels are cached (default: ~/.cache/mmrn38/wheels)
#   MMRN38_PYTHON       interpreter used to create the environment (default: python3)
#   MMRN38_MMCV_CFLAGS  compiler flags added to mmcv's C++ build (default: "-O1 -g0").
#                       None of mmcv's ops is used by ResNet-38 (mmseg only imports
#                       them), so the default skips debug info and heavy optimisation:
#                       the build takes about half as long. Set it to "" for Python's
#                       own flags (-g -O3) if you run mmcv's ops on CPU. The flags are
#                       part of the wheel cache's key, so differently built wheels
#                       never mix.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MMRN38_VENV:-$repo/.venv}
cache=${MMRN38_WHEEL_CACHE:-$HOME/.cache/mmrn38/wheels}
python=${MMRN38_PYTHON:-python3}
mmcv_version=2.1.0
mmcv_cflags=${MMRN38_MMCV_CFLAGS--O1 -g0}

say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# cache_wheel NAME DIR [VAR=VALUE ...] -- PIP_WHEEL_ARGS...: build a wheel
# with `pip wheel` (the variables set for it) and publish it as DIR in one
# rename, so an interrupted build leaves no half cache; its log is DIR.log.
# --no-cache-dir: pip's own wheel cache is keyed by the source release only,
# not by flags, so it could silently answer with a wheel built otherwise;
# this script's cache decides reuse.
cache_wheel() {
    local name=$1 dir=$2 envs=() tmp_dir build_pid start
    shift 2
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    mkdir -p "$cache"
    tmp_dir=$(mktemp -d "$cache/.build.XXXXXX")
    env "${envs[@]}" "$venv/bin/python" -m pip wheel --no-deps --no-cache-dir \
        --progress-bar off -w "$tmp_dir" "$@" >"$dir.log" 2>&1 &
    build_pid=$!
    start=$SECONDS
    while kill -0 "$build_pid" 2>/dev/null; do
        sleep 2
        if (((SECONDS - start) % 30 < 2)) && kill -0 "$build_pid" 2>/dev/null; then
            say "$name build still running ($((SECONDS - start)) s)"
        fi
    done
    if ! wait "$build_pid"; then
        rm -rf "$tmp_dir"
        say "$name build failed; last lines of $dir.log:"
        tail -n 30 "$dir.log"
        exit 1
    fi
    mv "$tmp_dir" "$dir"
    say "$name built in $((SECONDS - start)) s"
}

stamp_hash=$(cat "$repo"/requirements/*.txt "$repo/setup.py" "$0" | sha256sum | cut -c1-16)
stamp=$venv/.mmrn38-setup-$stamp_hash
if [ -f "$stamp" ]; then
    say "environment $venv is up to date"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    say "creating virtual environment $venv"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --progress-bar off)

say "installing build tools (setuptools < 81 for pkg_resources)"
"${pip[@]}" -q -r "$repo/requirements/build.txt"

# The registry's torch 2.13.0 (CUDA build) is the one torchvision 0.28.0 links
# against; a local "+cpu" wheel would sort above it, so find-links is emptied.
if ! "$venv/bin/python" -c 'import torch, torchvision; assert torch.__version__.startswith("2.13.0") and not torch.__version__.endswith("+cpu")' 2>/dev/null; then
    say "installing torch 2.13.0 + torchvision 0.28.0 (about 5 GB with its CUDA libraries; a few minutes)"
    PIP_FIND_LINKS= "${pip[@]}" -r "$repo/requirements/torch.txt"
fi

py_tag=$("$venv/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
torch_version=$("$venv/bin/python" -c 'import torch; print(torch.__version__.replace("+", "_"))')
wheel_dir=$cache/mmcv-$mmcv_version-torch$torch_version-$py_tag
# Python's own flags keep the plain key (the layout of earlier caches); added
# flags become part of the key, e.g. "-O1 -g0" -> ...-cp311-cflags_O1_g0.
if [ -n "$mmcv_cflags" ]; then
    wheel_dir=$wheel_dir-cflags$(printf '%s' "$mmcv_cflags" | tr -c 'A-Za-z0-9.=' '_')
fi
if ! "$venv/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$mmcv_version'" 2>/dev/null; then
    if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
        say "building mmcv $mmcv_version with ops against torch $torch_version into $wheel_dir"
        say "compiler flags added: '${mmcv_cflags}' (MMRN38_MMCV_CFLAGS); its log: $wheel_dir.log"
        say "with -O1 -g0 this took about 4 min on 2 cores with AVX-512 (7 min with Python's -g -O3; up to 4x longer on AVX2-only machines)"
        cache_wheel mmcv "$wheel_dir" \
            CFLAGS="${CFLAGS:+$CFLAGS }$mmcv_cflags" CXXFLAGS="${CXXFLAGS:+$CXXFLAGS }$mmcv_cflags" \
            MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            -- --no-build-isolation "mmcv==$mmcv_version"
    fi
    say "installing mmcv from $wheel_dir"
    "${pip[@]}" --no-deps "$wheel_dir"/mmcv-*.whl
fi

# pydensecrf2: PSA's CRF step (tools/wsss/make_cams.py --out-la-crf); the
# registry has only its source, compiled with Cython 0.29.36 in pip's build
# isolation (about 50 s on 2 cores), so it is built once and cached too.
densecrf_version=1.1
densecrf_dir=$cache/pydensecrf2-$densecrf_version-$py_tag
if ! "$venv/bin/python" -c "import importlib.metadata as m, pydensecrf.densecrf; assert m.version('pydensecrf2') == '$densecrf_version'" 2>/dev/null; then
    if ! ls "$densecrf_dir"/pydensecrf2-*.whl >/dev/null 2>&1; then
        say "building pydensecrf2 $densecrf_version into $densecrf_dir"
        cache_wheel pydensecrf2 "$densecrf_dir" -- "pydensecrf2==$densecrf_version"
    fi
    say "installing pydensecrf2 from $densecrf_dir"
    "${pip[@]}" --no-deps "$densecrf_dir"/pydensecrf2-*.whl
fi

say "installing mmengine, mmsegmentation, mmpretrain, pytest and mmrn38 (editable)"
# mmcv is already there; the constraint keeps pip from replacing it
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "mmcv==$mmcv_version" >"$constraints"
"${pip[@]}" -q -c "$constraints" -r "$repo/requirements/mminstall.txt" -r "$repo/requirements/tests.txt"
"${pip[@]}" -q --no-deps --no-build-isolation -e "$repo"

say "checking the stack imports"
"$venv/bin/python" - <<'EOF'
import mmcv, mmcv.ops, mmengine, mmseg, mmpretrain, torch, torchvision
import pydensecrf.densecrf
import mmrn38
print(f'torch {torch.__version__}, torchvision {torchvision.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}')
EOF
rm -f "$venv"/.mmrn38-setup-*
touch "$stamp"
say "environment ready: $venv"
