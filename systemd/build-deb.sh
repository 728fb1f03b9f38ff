#!/bin/sh
# Build the matchmeta Debian package from this checkout:
#
#   systemd/build-deb.sh [VERSION]          -> dist/matchmeta_VERSION_ARCH.deb
#
# Needs only Go and dpkg-deb (package dpkg): no network once the Go modules
# are in the module cache, no root (file owners are set with
# --root-owner-group). VERSION defaults to `git describe` or 0.0.0~dev.
# Environment: GOARCH (cross-build, e.g. arm64), OUT (output directory,
# default dist/), MATCHMETA_BIN (package this prebuilt binary instead of
# building one; it must be static), SOURCE_DATE_EPOCH (file times; defaults
# to the last commit, so the same commit gives the same .deb), COMPRESS
# (dpkg-deb -Z: xz, the default, which every dpkg reads; gzip is faster).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

version=${1:-}
if [ -z "$version" ]; then
	version=$(git describe --tags --always --dirty 2>/dev/null || true)
	version=${version#v}
	case "$version" in
	[0-9]*) ;;
	'') version=0.0.0~dev ;;
	*) version=0.0.0~git.$version ;;
	esac
	version=$(printf '%s' "$version" | tr -c 'A-Za-z0-9.+~\n' '~')
fi
# Debian policy: upstream version starts with a digit; only these characters.
if ! printf '%s\n' "$version" | grep -Eq '^[0-9][A-Za-z0-9.+~-]*$'; then
	echo "build-deb: bad version $version (want e.g. 1.2.0 or 1.2.0~rc1)" >&2
	exit 2
fi

goarch=${GOARCH:-$(go env GOARCH)}
case "$goarch" in
amd64 | arm64 | riscv64 | ppc64le | s390x) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf ;;
*)
	echo "build-deb: no Debian architecture for GOARCH=$goarch" >&2
	exit 2
	;;
esac

out=${OUT:-$repo/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

stage=$(mktemp -d "${TMPDIR:-/tmp}/matchmeta-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
root=$stage/root
umask 022
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
	"$root/etc/matchmeta/trust.d" "$root/usr/share/doc/matchmeta" "$root/usr/share/matchmeta"

# The binary: static (CGO_ENABLED=0), no build paths, version stamped.
if [ -n "${MATCHMETA_BIN:-}" ]; then
	install -m 0755 "$MATCHMETA_BIN" "$root/usr/bin/matchmeta"
else
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath \
		-ldflags "-s -w -X main.Version=$version" \
		-o "$root/usr/bin/matchmeta" ./cmd/matchmeta
fi
chmod 0755 "$root/usr/bin/matchmeta"
if command -v file >/dev/null 2>&1; then
	desc=$(file -b "$root/usr/bin/matchmeta")
	case "$desc" in
	*"dynamically linked"*)
		echo "build-deb: binary is dynamically linked: $desc" >&2
		exit 1
		;;
	esac
fi

install -m 0644 systemd/matchmeta.service "$root/lib/systemd/system/matchmeta.service"
install -m 0644 systemd/matchmeta-sync.service "$root/lib/systemd/system/matchmeta-sync.service"
install -m 0644 systemd/matchmeta-sync.path "$root/lib/systemd/system/matchmeta-sync.path"
install -m 0644 systemd/matchmeta.env "$root/etc/matchmeta/matchmeta.env"
install -m 0644 systemd/trust.d.README "$root/etc/matchmeta/trust.d/README"
# Not active: the operator copies it into matchmeta.service.d to turn
# netwatch on (CAP_NET_RAW only then).
install -m 0644 systemd/netwatch.conf "$root/usr/share/matchmeta/netwatch.conf"
if [ -f README.md ]; then
	install -m 0644 README.md "$root/usr/share/doc/matchmeta/README.md"
	install -m 0644 systemd/README.md "$root/usr/share/doc/matchmeta/README.service.md"
else
	install -m 0644 systemd/README.md "$root/usr/share/doc/matchmeta/README.md"
fi
if [ -f LICENSE ]; then
	install -m 0644 LICENSE "$root/usr/share/doc/matchmeta/copyright"
fi
chmod 0755 "$root/etc/matchmeta" "$root/etc/matchmeta/trust.d"

for s in postinst prerm postrm; do
	install -m 0755 "systemd/debian/$s" "$root/DEBIAN/$s"
done
install -m 0644 systemd/debian/conffiles "$root/DEBIAN/conffiles"

installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_kb/" \
	systemd/debian/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
	xargs md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
# Same commit, same bytes: clamp file times for dpkg-deb's tar members.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/matchmeta_${version}_${arch}.deb
dpkg-deb --root-owner-group -Z"${COMPRESS:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
