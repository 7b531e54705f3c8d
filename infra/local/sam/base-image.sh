#!/usr/bin/env bash
# Makes sure the engine at DOCKER_HOST has the Lambda base image `sam local` runs functions on.
#
# Usage: base-image.sh ARCH        (ARCH: x86_64 or arm64)
#
# SAM CLI runs provided.al2023 functions on public.ecr.aws/lambda/provided:al2023-ARCH, adding its
# own Runtime Interface Emulator on top. In order:
#   1. the image is already there: nothing to do;
#   2. a registry is reachable: pull the real image (what users with internet get);
#   3. otherwise build a STAND-IN under the same tag: a busybox-static rootfs (Debian's
#      busybox-static, unpacked into $KEYGATE_CACHE) with the directories and variables the
#      Lambda image has. It is enough for keygate's static Go bootstraps, NOT for runtimes that
#      need Amazon Linux's libraries; it says so loudly. Remove it with
#      `docker rmi public.ecr.aws/lambda/provided:al2023-ARCH`.
# Prints "real" or "stand-in" on stdout; progress on stderr.
set -euo pipefail

KS_TAG=keygate-sam
# shellcheck source=../stack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../stack/lib.sh"

ARCH=${1:-}
case "$ARCH" in
x86_64 | arm64) ;;
*) ks_die "usage: base-image.sh x86_64|arm64" ;;
esac
: "${DOCKER_HOST:?DOCKER_HOST must point to the engine (infra/local/sam/engine.sh up)}"
DOCKER="$(bash "$(dirname "${BASH_SOURCE[0]}")/engine.sh" cli)" || ks_die "no docker client found"
IMAGE="public.ecr.aws/lambda/provided:al2023-$ARCH"
STANDIN_LABEL=keygate.stand-in

if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
	if [[ -n "$("$DOCKER" image inspect -f "{{index .Config.Labels \"$STANDIN_LABEL\"}}" "$IMAGE" 2>/dev/null | grep -v '<no value>')" ]]; then
		ks_log "using keygate's STAND-IN for $IMAGE (built earlier; no registry was reachable then)"
		echo stand-in
	else
		ks_log "using $IMAGE"
		echo real
	fi
	exit 0
fi

ks_log "pulling $IMAGE"
if timeout 120 "$DOCKER" pull "$IMAGE" >&2 2>/dev/null; then
	echo real
	exit 0
fi

[[ $ARCH == "$(uname -m | sed 's/aarch64/arm64/')" ]] || ks_die "cannot pull $IMAGE and a stand-in is only built for the host architecture ($(uname -m))"
cat >&2 <<MSG
[keygate-sam] ************************************************************************************
[keygate-sam] No container registry is reachable, so $IMAGE cannot be pulled.
[keygate-sam] Building a STAND-IN under that tag from Debian's busybox-static. It runs keygate's
[keygate-sam] static Go bootstraps; it is not Amazon Linux. With internet, remove it
[keygate-sam] (docker rmi $IMAGE) and the real image is pulled next time.
[keygate-sam] ************************************************************************************
MSG
command -v apt-get >/dev/null 2>&1 || ks_die "apt-get is needed to fetch busybox-static for the stand-in image"
key="$(apt-cache policy busybox-static 2>/dev/null | sed -n 's/^ *Candidate: //p' | sha256sum | cut -c1-12)"
dir="$KEYGATE_CACHE/busybox-$key"
if [[ ! -x $dir/root/bin/busybox ]]; then
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download busybox-static >&2) || ks_die "apt-get download busybox-static failed"
	rm -rf "$dir"
	mkdir -p "$dir/root"
	dpkg-deb -x "$tmp"/busybox-static_*.deb "$dir/root"
fi
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs" "${tmp:-}"' EXIT
mkdir -p "$rootfs"/{bin,etc,opt,tmp,var/task,var/runtime,var/rapid,usr}
cp "$dir/root/bin/busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
	[[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
done
ln -s ../bin "$rootfs/usr/bin"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nsbx_user1051:x:990:\n' >"$rootfs/etc/group"
tar -C "$rootfs" -c . | "$DOCKER" import \
	-c 'ENV LAMBDA_TASK_ROOT=/var/task' -c 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
	-c 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin' -c 'WORKDIR /var/task' \
	-c "LABEL $STANDIN_LABEL=busybox-static" - "$IMAGE" >&2
echo stand-in
