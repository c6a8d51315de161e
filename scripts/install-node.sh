#!/bin/sh
# Sets up a FaaS@Edge volunteer edge node on a Linux device with systemd; no
# Docker needed. `make release` puts this script beside the binaries and
# SHA256SUMS; from wherever they are served:
#
#   curl -fsSL $R/install-node.sh | sudo FAASEDGE_RELEASE=$R sh -s -- --memory 512 --peer /ip4/.../tcp/4001/p2p/...
#
# It fetches faasedge-linux-<arch> for this machine, checks it against
# SHA256SUMS, installs /usr/local/bin/faasedge and runs
# `faasedge node --listen /ip4/0.0.0.0/tcp/4001 <your arguments>` as the
# systemd unit faasedge-node (its own dynamic user, state in
# /var/lib/faasedge, restarted on failure, started at boot).
#
# --root DIR installs into a mounted system image instead (a Raspberry Pi's
# SD card, say): the unit is enabled there and starts at the device's next
# boot. --arch amd64|arm64|armv7 picks the binary when DIR is for another
# architecture.
set -eu

die() {
	echo "install-node: $*" >&2
	exit 1
}

root=
arch=
while [ $# -gt 0 ]; do
	case $1 in
	--root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift 2 ;;
	--arch) [ $# -ge 2 ] || die "--arch needs amd64, arm64 or armv7"; arch=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
release=${FAASEDGE_RELEASE:-}
[ -n "$release" ] || die "set FAASEDGE_RELEASE to the address of the release (faasedge-linux-*, SHA256SUMS)"
if [ -z "$arch" ]; then
	case $(uname -m) in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	armv7*) arch=armv7 ;;
	*) die "no release binary for $(uname -m); pass --arch" ;;
	esac
fi
case $arch in amd64 | arm64 | armv7) ;; *) die "--arch $arch: want amd64, arm64 or armv7" ;; esac
# The arguments go into the unit's ExecStart: keep them to characters that
# need no quoting there.
for a in "$@"; do
	case $a in
	'' | *[!A-Za-z0-9/._:=,+-]*) die "argument '$a': only letters, digits and / . _ : = , + - are accepted" ;;
	esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=faasedge-linux-$arch
curl -fsSL "$release/$bin" -o "$tmp/$bin" || die "cannot fetch $release/$bin"
curl -fsSL "$release/SHA256SUMS" -o "$tmp/SHA256SUMS" || die "cannot fetch $release/SHA256SUMS"
grep "  $bin\$" "$tmp/SHA256SUMS" >"$tmp/sum" || die "SHA256SUMS lists no $bin"
(cd "$tmp" && sha256sum -c --status sum) || die "$bin does not match its SHA256SUMS entry"

install -D -m 0755 "$tmp/$bin" "$root/usr/local/bin/faasedge"
mkdir -p "$root/etc/systemd/system"
cat >"$root/etc/systemd/system/faasedge-node.service" <<UNIT
[Unit]
Description=FaaS@Edge volunteer edge node
Wants=network-online.target
After=network-online.target

[Service]
DynamicUser=yes
StateDirectory=faasedge
ExecStart=/usr/local/bin/faasedge node --data-dir /var/lib/faasedge --listen /ip4/0.0.0.0/tcp/4001 $*
Restart=always
RestartSec=5
TimeoutStopSec=60
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
UNIT

if [ -n "$root" ]; then
	systemctl --root="$root" enable faasedge-node.service
	echo "install-node: faasedge-node enabled in $root; it starts at the next boot"
else
	systemctl daemon-reload
	systemctl enable --now faasedge-node.service
	echo "install-node: faasedge-node running; journalctl -u faasedge-node shows its peer id and addresses"
fi
