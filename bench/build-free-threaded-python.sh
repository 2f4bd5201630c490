#!/usr/bin/env bash
# Build a free-threaded CPython (3.13t, configure --disable-gil) into PREFIX with pyenv's python-build.
#
#   bench/build-free-threaded-python.sh PREFIX        # e.g. ~/.cache/iobench/python-3.13t
#
# Prefer the ordinary ways where you can (uv python install 3.13t, pyenv install 3.13t, the python.org
# installers' free-threaded option); this script is for machines that reach only package registries.
#
# - Idempotent: a PREFIX whose bin/python3.13t already runs with the GIL off is kept as it is (exit 0).
# - Cached: the source tarball is kept in $IOBENCH_CACHE (default ~/.cache/iobench)/python-build, so a
#   rebuild does not fetch it again.
# - Source: python-build downloads it from python.org when that is reachable. When it is not, the script
#   takes the same tarball from Debian's source package of trixie's python3.13 (3.13.5, whose .orig.tar.xz
#   has the checksum pyenv's recipe expects), through a deb-src entry in a private apt configuration in a
#   temporary folder: apt's own sources and package lists are left as they were.
# - Needs: git, gcc, make and the usual CPython build headers (libssl-dev, zlib1g-dev, libffi-dev, ...);
#   python-build comes from pyenv when pyenv is installed, else from a shallow clone of pyenv.
set -euo pipefail

VERSION=3.13.5
prefix=${1:?usage: $0 PREFIX}
prefix=$(realpath -m "$prefix")
cache=${IOBENCH_CACHE:-$HOME/.cache/iobench}/python-build
tarball="$cache/Python-$VERSION.tar.xz"
python="$prefix/bin/python3.13t"

gil_off() { [ -x "$python" ] && "$python" -c 'import sys; sys.exit(sys._is_gil_enabled())' 2>/dev/null; }

if gil_off; then
  echo "free-threaded $("$python" -VV | head -1) already in $prefix"
  exit 0
fi
mkdir -p "$cache"

python_build=$(command -v python-build || true)
[ -n "$python_build" ] || { [ -x "$HOME/.pyenv/plugins/python-build/bin/python-build" ] && python_build="$HOME/.pyenv/plugins/python-build/bin/python-build"; }
if [ -z "$python_build" ]; then
  [ -d "$cache/pyenv" ] || git clone --quiet --depth 1 https://github.com/pyenv/pyenv.git "$cache/pyenv"
  python_build="$cache/pyenv/plugins/python-build/bin/python-build"
fi

fetch_from_debian() {
  # apt-get source needs a deb-src entry. It goes into a private apt configuration (sources, package
  # lists) in a temporary folder, so the system's sources and lists are never touched.
  local work orig
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/sources.d" "$work/lists/partial"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    >"$work/sources.d/trixie-src.sources"
  local apt=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$work/sources.d"
             -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root -qq)
  apt-get "${apt[@]}" update >/dev/null
  (cd "$work" && apt-get "${apt[@]}" source --download-only "python3.13/trixie" >/dev/null)
  orig=$(ls "$work"/python3.13_"$VERSION".orig.tar.xz 2>/dev/null | head -1)
  [ -n "$orig" ] || { echo "Debian's python3.13 source package has no $VERSION tarball" >&2; return 1; }
  mv "$orig" "$tarball"
}

if [ ! -f "$tarball" ]; then
  if curl -fsSL -m 20 -o "$tarball.part" "https://www.python.org/ftp/python/$VERSION/Python-$VERSION.tar.xz" 2>/dev/null; then
    mv "$tarball.part" "$tarball"
  else
    rm -f "$tarball.part"
    echo "python.org is out of reach; taking the tarball from Debian's source package of python3.13"
    fetch_from_debian
  fi
fi

echo "building CPython ${VERSION}t into $prefix (about 8 minutes on 2 cores)"
started=$(date +%s)
PYTHON_BUILD_CACHE_PATH="$cache" PYTHON_BUILD_SKIP_MIRROR=1 MAKE_OPTS="-j$(nproc)" \
  "$python_build" "${VERSION}t" "$prefix"
gil_off || { echo "the build in $prefix does not run with the GIL off" >&2; exit 1; }
echo "built $("$python" -VV | head -1) in $(( $(date +%s) - started )) s"
