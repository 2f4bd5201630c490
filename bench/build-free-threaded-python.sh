#!/usr/bin/env bash
# Build a free-threaded CPython (3.13.5t, configure --disable-gil) into PREFIX with pyenv's python-build.
#
#   bench/build-free-threaded-python.sh PREFIX             # e.g. ~/.cache/iobench/python-3.13t
#   bench/build-free-threaded-python.sh --with-gil PREFIX  # the control: a regular 3.13.5 from the same tarball
#
# Prefer the ordinary ways where you can (uv python install 3.13t, pyenv install 3.13t, the python.org
# installers' free-threaded option); this script is for machines that reach only package registries.
# The control build lets a comparison of the two builds differ in the GIL alone, not in the patch level.
#
# - Idempotent: a PREFIX whose python already is the build asked for (free-threaded or not, this version)
#   is kept as it is and the script exits 0 at once. Two runs at the same time take turns (a lock).
# - Cached: the source tarball is kept in $IOBENCH_CACHE (default ~/.cache/iobench)/python-build, so a
#   rebuild does not fetch it again.
# - Source: python.org when it is reachable. When it is not, the same tarball comes from Debian's source
#   package of trixie's python3.13 (3.13.5, whose .orig.tar.xz has the checksum pyenv's recipe expects;
#   python-build verifies it), fetched by apt-get with a private configuration in a temporary folder
#   (sources, package lists and caches): apt's own files are never touched.
# - Needs: gcc, make and the usual CPython build headers (libssl-dev, zlib1g-dev, libffi-dev, ...);
#   python-build comes from pyenv when pyenv is installed, else from a shallow clone of pyenv.
set -euo pipefail

usage="usage: $0 [--with-gil] PREFIX"
VERSION=3.13.5
flavour=free-threaded
if [ "${1:-}" = --with-gil ]; then
  flavour=regular
  shift
fi
[ $# = 1 ] || { echo "$usage" >&2; exit 2; }
prefix=$(realpath -m "$1")
cache=${IOBENCH_CACHE:-$HOME/.cache/iobench}/python-build
tarball="$cache/Python-$VERSION.tar.xz"
if [ "$flavour" = free-threaded ]; then
  definition="${VERSION}t" python="$prefix/bin/python3.13t" want_free_threaded=True
else
  definition="$VERSION" python="$prefix/bin/python3.13" want_free_threaded=False
fi

already_built() {
  [ -x "$python" ] && env -u PYTHON_GIL "$python" - "$VERSION" "$want_free_threaded" 2>/dev/null <<'EOF'
import platform, sys, sysconfig
version, free_threaded = sys.argv[1], sys.argv[2] == "True"
is_free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
gil_as_expected = sys._is_gil_enabled() is not is_free_threaded
sys.exit(0 if platform.python_version() == version and is_free_threaded == free_threaded and gil_as_expected else 1)
EOF
}

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9  # one build at a time: a second run waits, then finds the first one's result

if already_built; then
  echo "$flavour CPython $VERSION already in $prefix: $python"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python_build=$(command -v python-build || true)
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}/plugins/python-build/bin/python-build" \
                 "$cache/pyenv/plugins/python-build/bin/python-build"; do
  [ -n "$python_build" ] || { [ -x "$candidate" ] && python_build=$candidate; }
done
if [ -z "$python_build" ]; then
  git clone --quiet --depth 1 https://github.com/pyenv/pyenv.git "$cache/pyenv"
  python_build="$cache/pyenv/plugins/python-build/bin/python-build"
fi

fetch_from_debian() {
  # apt-get source needs a deb-src entry; it and everything apt writes while fetching (package lists,
  # the binary caches it rebuilds from them, the download) stay in $work/apt.
  local apt_dir="$work/apt" orig
  mkdir -p "$apt_dir/sources.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/src"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    /usr/share/keyrings/debian-archive-keyring.gpg >"$apt_dir/sources.d/trixie-src.sources"
  local apt=(-qq -o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt_dir/sources.d"
             -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
  apt-get "${apt[@]}" update >/dev/null
  (cd "$apt_dir/src" && apt-get "${apt[@]}" source --download-only "python3.13/trixie" >/dev/null)
  orig="$apt_dir/src/python3.13_$VERSION.orig.tar.xz"
  [ -f "$orig" ] || { echo "Debian's python3.13 source package has no $VERSION tarball" >&2; return 1; }
  mv "$orig" "$tarball"
}

if [ ! -f "$tarball" ]; then
  fetch_started=$(date +%s)
  if curl -fsSL -m 120 -o "$work/Python-$VERSION.tar.xz" "https://www.python.org/ftp/python/$VERSION/Python-$VERSION.tar.xz" 2>/dev/null; then
    mv "$work/Python-$VERSION.tar.xz" "$tarball"
  else
    echo "python.org is out of reach; taking the tarball from Debian's source package of python3.13"
    fetch_from_debian
  fi
  echo "fetched Python-$VERSION.tar.xz into $cache in $(( $(date +%s) - fetch_started )) s"
fi

echo "building $flavour CPython $VERSION into $prefix (3 to 8 minutes on 2 cores)"
started=$(date +%s)
PYTHON_BUILD_CACHE_PATH="$cache" PYTHON_BUILD_SKIP_MIRROR=1 PYTHON_BUILD_BUILD_PATH="$work/build" \
  MAKE_OPTS="-j$(nproc)" "$python_build" "$definition" "$prefix"
already_built || { echo "the build in $prefix is not the $flavour CPython $VERSION asked for" >&2; exit 1; }
echo "built $("$python" -VV | head -1) in $(( $(date +%s) - started )) s: $python"
