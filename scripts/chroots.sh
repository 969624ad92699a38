#!/usr/bin/env bash
# Minimal Debian chroots holding the newer SLURM releases the tests run beside the host's 22.05
# (harness/releases.py runs their clients and daemons): one per release, built in parallel, cached.
#
#   scripts/chroots.sh            build what is missing or stale (make setup calls it)
#   scripts/chroots.sh SUITE...   only these (trixie, sid)
#
# Cache: $FLURM_CHROOTS (default /var/cache/flurm/chroots). SUITE/ is a complete chroot; SUITE.stamp
# records what it was built from (the recipe) and the SLURM it holds. A chroot is reused only when its
# stamp's recipe matches this script's; otherwise, or when a build was interrupted (SUITE.building/
# left behind, or SUITE/ without a stamp), it is built again from nothing. Logs: SUITE.log.
#
# debootstrap and apt run in a mount namespace of their own, so an interrupted build leaves no /proc
# mounted under the cache; the package scripts never start a daemon (policy-rc.d says no).
set -euo pipefail

CACHE=${FLURM_CHROOTS:-/var/cache/flurm/chroots}
MIRROR=http://deb.debian.org/debian
PACKAGES="slurm-client slurmctld slurmd sackd slurmdbd munge"
# bump when the recipe changes in a way the lines below do not show
RECIPE_VERSION=1
declare -A RELEASE=([trixie]=24.11 [sid]=26.05)

log() { echo "chroots: $*" >&2; }

recipe() {
  echo "recipe=$RECIPE_VERSION suite=$1 variant=minbase mirror=$MIRROR packages=$PACKAGES"
}

# the first line of the stamp is the recipe; reuse only on an exact match and a chroot present
is_current() {
  local suite=$1
  [[ -d $CACHE/$suite && -f $CACHE/$suite.stamp ]] &&
    [[ $(head -n 1 "$CACHE/$suite.stamp") == "$(recipe "$suite")" ]]
}

# nothing may be mounted below a directory we delete (rm would descend into the mount)
remove_tree() {
  local dir=$1 mounted
  [[ -e $dir ]] || return 0
  mounted=$(findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0 "/", d) == 1' | sort -r)
  if [[ -n $mounted ]]; then
    log "unmounting what an earlier build left mounted under $dir"
    while read -r m; do umount -l "$m"; done <<< "$mounted"
  fi
  rm -rf --one-file-system "$dir"
}

build() {
  local suite=$1 target=$CACHE/$1.building apt_opts=() sources
  sources="deb $MIRROR $suite main"
  if [[ $suite == sid ]]; then
    # the archive we reach serves a sid whose Release file is past its Valid-Until
    sources="deb [check-valid-until=no] $MIRROR $suite main"
    apt_opts=(-o Acquire::Check-Valid-Until=false)
  fi
  remove_tree "$target"
  unshare --mount --propagation private \
    debootstrap --variant=minbase "$suite" "$target" "$MIRROR"
  echo "$sources" > "$target/etc/apt/sources.list"
  printf '#!/bin/sh\nexit 101\n' > "$target/usr/sbin/policy-rc.d"
  chmod 755 "$target/usr/sbin/policy-rc.d"
  {
    echo 'set -e'
    echo 'export DEBIAN_FRONTEND=noninteractive'
    echo "apt-get ${apt_opts[*]} update -q"
    echo "apt-get ${apt_opts[*]} install -y -q --no-install-recommends $PACKAGES"
    echo 'apt-get clean'
  } > "$target/root/install.sh"
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount --propagation private sh -ec \
    'mount -t proc proc "$1/proc"; exec chroot "$1" sh /root/install.sh' sh "$target"
  rm "$target/root/install.sh"
  local version
  # shellcheck disable=SC2016 # a dpkg-query format
  version=$(chroot "$target" dpkg-query -W -f '${Version}' slurmctld)
  rm -f "$CACHE/$suite.stamp"
  remove_tree "$CACHE/$suite"
  mv "$target" "$CACHE/$suite"
  {
    recipe "$suite"
    echo "release=${RELEASE[$suite]}"
    echo "slurm=$version"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } > "$CACHE/$suite.stamp.tmp"
  mv "$CACHE/$suite.stamp.tmp" "$CACHE/$suite.stamp"
}

# one build per suite at a time, even across concurrent callers (two `make setup`)
build_locked() {
  local suite=$1
  exec 9> "$CACHE/$suite.lock"
  flock 9
  if is_current "$suite"; then
    return 0
  fi
  build "$suite"
}

main() {
  [[ $(id -u) == 0 ]] || {
    log "must run as root (debootstrap, chroot)"
    exit 1
  }
  command -v debootstrap > /dev/null || {
    log "debootstrap not found (make setup installs it)"
    exit 1
  }
  local suites=("$@") suite failed=0 start=$SECONDS
  [[ ${#suites[@]} -gt 0 ]] || suites=(trixie sid)
  mkdir -p "$CACHE"
  declare -A pids=()
  for suite in "${suites[@]}"; do
    [[ -n ${RELEASE[$suite]:-} ]] || {
      log "unknown suite $suite (known: ${!RELEASE[*]})"
      exit 1
    }
    if is_current "$suite"; then
      log "$suite (SLURM ${RELEASE[$suite]}): up to date in $CACHE/$suite"
      continue
    fi
    log "$suite (SLURM ${RELEASE[$suite]}): building in $CACHE/$suite (log $CACHE/$suite.log)"
    build_locked "$suite" > "$CACHE/$suite.log" 2>&1 &
    pids[$suite]=$!
  done
  for suite in "${!pids[@]}"; do
    if wait "${pids[$suite]}"; then
      log "$suite: built ($(sed -n 's/^slurm=//p' "$CACHE/$suite.stamp")) in $((SECONDS - start)) s"
    else
      log "$suite: build failed; the end of $CACHE/$suite.log:"
      tail -n 30 "$CACHE/$suite.log" >&2
      failed=1
    fi
  done
  return "$failed"
}

main "$@"
