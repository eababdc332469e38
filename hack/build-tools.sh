#!/usr/bin/env bash
# Builds the project's tools from the Go module proxy into bin/ (nothing is downloaded as a
# prebuilt binary; no site but the module proxy is needed):
#   bin/controller-gen       sigs.k8s.io/controller-tools, version CONTROLLER_TOOLS_VERSION
#   bin/k8s/kube-apiserver   k8s.io/kubernetes cmd/kube-apiserver, version pinned in hack/tools/kube/go.mod
#   bin/k8s/kubectl          k8s.io/kubernetes cmd/kubectl, same version
#   bin/k8s/etcd             go.etcd.io/etcd/server/v3 etcdmain, version pinned in hack/tools/etcd/go.mod
# Each binary is also kept in a per-user cache keyed by its version (TOOLS_CACHE), so a fresh
# clone on the same machine links it instead of building again; a version change rebuilds.
#
# Usage: hack/build-tools.sh [controller-gen|kube|etcd|all]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
cache="${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/respa-exchange-operator/tools}"
CONTROLLER_TOOLS_VERSION="${CONTROLLER_TOOLS_VERSION:-v0.23.0}"
mkdir -p "$bin/k8s" "$cache"

modversion() { (cd "$root/hack/tools/$1" && go list -m -f '{{.Version}}' "$2"); }

# place NAME VERSION DEST BUILD...: link the cached NAME-VERSION to DEST, building it first
# with the remaining arguments (a command that writes "$out") if it is not cached.
place() {
	local name=$1 version=$2 dest=$3
	shift 3
	local cached="$cache/$name-$version"
	if [ ! -x "$cached" ]; then
		echo ">> building $name $version (cached in $cache)" >&2
		local start=$SECONDS
		out="$cached.tmp.$$" "$@"
		mv -f "$cached.tmp.$$" "$cached"
		echo ">> built $name $version in $((SECONDS - start))s" >&2
	fi
	ln -sf "$cached" "$dest"
}

build_controller_gen() {
	GOBIN_DIR=$(mktemp -d)
	GOBIN="$GOBIN_DIR" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
	mv "$GOBIN_DIR/controller-gen" "$out"
	rmdir "$GOBIN_DIR"
}

build_kube() {
	local cmd=$1 v
	v=$(modversion kube k8s.io/kubernetes)
	local minor=${v#v1.}
	minor=${minor%%.*}
	(cd "$root/hack/tools/kube" && go build -o "$out" \
		-ldflags "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor" \
		"k8s.io/kubernetes/cmd/$cmd")
}

build_etcd() {
	(cd "$root/hack/tools/etcd" && go build -o "$out" .)
}

what=${1:-all}
case $what in
controller-gen | all)
	place controller-gen "$CONTROLLER_TOOLS_VERSION" "$bin/controller-gen" build_controller_gen ;;&
kube | all)
	kv=$(modversion kube k8s.io/kubernetes)
	place kube-apiserver "$kv" "$bin/k8s/kube-apiserver" build_kube kube-apiserver
	place kubectl "$kv" "$bin/k8s/kubectl" build_kube kubectl ;;&
etcd | all)
	place etcd "$(modversion etcd go.etcd.io/etcd/server/v3)" "$bin/k8s/etcd" build_etcd ;;
controller-gen | kube) ;;
*)
	echo "usage: $0 [controller-gen|kube|etcd|all]" >&2
	exit 2 ;;
esac
