#!/usr/bin/env bash
# Builds the container image without a Docker daemon (buildah, chroot isolation, vfs storage) and
# checks what an orchestrator relies on: a numeric non-root user, `aispend --version`, the demo,
# HTTP health, and a graceful stop on SIGTERM as PID 1 in both serve modes (HTTP and Socket Mode).
#
#   sudo scripts/check-image.sh            # needs root, buildah, debootstrap, unshare (util-linux)
#
# Where the registry cannot be reached, the pinned base image (the Dockerfile's PYTHON_IMAGE) is
# replaced by a local stand-in built from a Debian minbase (debootstrap) plus this machine's own
# CPython copied to /usr/local, the layout of the official python:*-slim images. Set
# AISPEND_NO_STANDIN=1 to insist on the real base.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)
IMAGE=${IMAGE:-localhost/aispend:check}
STORE=(--storage-driver vfs)
WORK=$(mktemp -d /var/tmp/aispend-image.XXXXXX)
PY=${PYTHON:-python3}
pids=()
ctr=""
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$ctr" ]; then buildah "${STORE[@]}" umount "$ctr" >/dev/null 2>&1 || true; buildah "${STORE[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

[ "$(id -u)" = 0 ] || fail "run as root (buildah with chroot isolation)"
command -v buildah >/dev/null || fail "buildah is not installed (apt-get install buildah)"

# ------------------------------------------------------------------ base image (or its stand-in)
if ! buildah "${STORE[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  if ! buildah "${STORE[@]}" pull --quiet "docker.io/library/$BASE" >/dev/null 2>&1; then
    [ -z "${AISPEND_NO_STANDIN:-}" ] || fail "cannot pull $BASE"
    command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
    echo "building a local stand-in for $BASE (registry unreachable)"
    root="$WORK/rootfs"
    debootstrap --variant=minbase \
      --include=ca-certificates,tzdata,netbase,libssl3,libsqlite3-0,libffi8,zlib1g,libbz2-1.0,liblzma5,libreadline8,libuuid1,libncursesw6,libgdbm6 \
      bookworm "$root" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
    prefix=$("$PY" -c 'import sys; print(sys.base_prefix)')
    ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    mkdir -p "$root/usr/local"
    # The interpreter and its standard library; of site-packages only pip, as in the slim image.
    tar -C "$prefix" --exclude="lib/python$ver/site-packages" --exclude='__pycache__' \
      --exclude="lib/python$ver/test" -cf - bin/python"$ver" lib include | tar -C "$root/usr/local" -xf -
    mkdir -p "$root/usr/local/lib/python$ver/site-packages"
    cp -a "$prefix/lib/python$ver/site-packages/"pip* "$root/usr/local/lib/python$ver/site-packages/"
    for name in python python3; do ln -sf "python$ver" "$root/usr/local/bin/$name"; done
    chroot "$root" /sbin/ldconfig
    chroot "$root" /usr/local/bin/python3 -c 'import ssl, sqlite3, ctypes, zlib, lzma, bz2' \
      || fail "stand-in interpreter is missing a standard module"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    base_ctr=$(buildah "${STORE[@]}" from scratch)
    buildah "${STORE[@]}" copy --quiet "$base_ctr" "$root" / >/dev/null
    buildah "${STORE[@]}" config --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env LANG=C.UTF-8 --cmd python3 "$base_ctr"
    buildah "${STORE[@]}" commit --quiet "$base_ctr" "$BASE" >/dev/null
    buildah "${STORE[@]}" rm "$base_ctr" >/dev/null
    rm -rf "$root"
  fi
fi
ok "base image $BASE"

# ------------------------------------------------------------------------------------ build
# Behind a TLS-intercepting proxy the package index is signed by a local CA the base image does not
# trust: lend the host's bundle to the build's RUN steps only (mounted, never copied into a layer).
build_mounts=()
host_ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$host_ca" ] && [ -f "$host_ca" ]; then
  printf '[global]\ncert = /run/host-ca.crt\n' >"$WORK/pip.conf"
  build_mounts=(--volume "$host_ca:/run/host-ca.crt:ro" --volume "$WORK/pip.conf:/etc/pip.conf:ro")
fi
start=$(date +%s)
buildah "${STORE[@]}" bud --isolation chroot --layers -q "${build_mounts[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log"; fail "image build"; }
ok "built $IMAGE in $(( $(date +%s) - start )) s"

user=$(buildah "${STORE[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
[[ "$user" =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] || fail "USER is '$user', not a numeric non-root id"
ok "USER $user (numeric, non-root)"

ctr=$(buildah "${STORE[@]}" from "$IMAGE")
mnt=$(buildah "${STORE[@]}" mount "$ctr")
uid=${user%%:*}
gid=${user#*:}; [ "$gid" != "$user" ] || gid=$uid

# Runs the image's entrypoint as its user, as PID 1 of a fresh PID namespace (as a container does),
# on the host's network, with only the image's environment plus what the caller passes.
image_env=()
while IFS= read -r line; do image_env+=("$line"); done < <(
  buildah "${STORE[@]}" inspect --type image --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')
run_in_image() {  # exec: run in the background, the caller's $! is unshare itself
  exec unshare --pid --fork --mount-proc="$mnt/proc" \
    chroot --userspec="$uid:$gid" "$mnt" /usr/bin/env -i "${image_env[@]}" HOME=/home/aispend "$@"
}
mkdir -p "$mnt/proc"

version=$(run_in_image aispend --version)
[[ "$version" == aispend* ]] || fail "aispend --version printed '$version'"
ok "aispend --version: $version"
[ "$(run_in_image /usr/bin/id -u)" = "$uid" ] || fail "not running as $uid"
ok "runs as uid $uid"

(run_in_image sh -c 'cd /tmp && aispend demo') >"$WORK/demo.log" 2>&1 || { tail -30 "$WORK/demo.log"; fail "aispend demo"; }
ok "aispend demo exits 0 ($(wc -l <"$WORK/demo.log") lines)"

# ---------------------------------------------------- serve: health, then SIGTERM as PID 1
"$PY" -m tests.fakes.standalone --port-file "$WORK/slack.port" >"$WORK/fake_slack.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -s "$WORK/slack.port" ] && break; sleep 0.1; done
slack_port=$(cat "$WORK/slack.port")
cat >"$mnt/tmp/aispend.yaml" <<YAML
timezone: UTC
alert_channel: C0ALERTS
projects:
  - name: demo
    owner: U0OWNER
YAML

check_serve() {  # mode, extra args...
  local mode=$1; shift
  local port; port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  run_in_image PORT="$port" AISPEND_CONFIG=/tmp/aispend.yaml DATABASE_URL=sqlite:////tmp/serve-$mode.db \
    SLACK_API_URL="http://127.0.0.1:$slack_port/api/" SLACK_BOT_TOKEN=xoxb-0000-check \
    SLACK_SIGNING_SECRET=check-secret SLACK_APP_TOKEN=xapp-1-check \
    aispend serve "$@" >"$WORK/serve-$mode.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  local up=""
  for _ in $(seq 100); do
    if "$PY" -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=2).status == 200 else 1)" 2>/dev/null; then up=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$up" ] || { tail -30 "$WORK/serve-$mode.log"; fail "serve ($mode): /healthz never answered 200"; }
  ok "serve ($mode): /healthz 200 on :$port"
  local t0; t0=$(date +%s%N)
  # unshare forwards nothing: signal the PID-1 process inside the namespace (the child of unshare).
  local inner; inner=$(pgrep -P "$pid" | head -n 1)
  kill -TERM "$inner"
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then tail -20 "$WORK/serve-$mode.log"; fail "serve ($mode) still running 15 s after SIGTERM"; fi
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$ms" -le 10000 ] || fail "serve ($mode) took $ms ms to stop (limit 10 s)"
  ok "serve ($mode): stopped $ms ms after SIGTERM as PID 1"
}
check_serve http
check_serve socket --socket
echo "image check passed: $IMAGE"
