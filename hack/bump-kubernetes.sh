#!/usr/bin/env bash
# Pins hack/tools/kube to another Kubernetes release: k8s.io/kubernetes vX.Y.Z and every staging
# module it names (k8s.io/api, k8s.io/apiserver, ...) to the published v0.Y.Z. The kubernetes
# module points its staging modules at local folders, which a module that depends on it cannot
# use, so each needs a replace line.
#
# Usage: hack/bump-kubernetes.sh v1.37.2
set -euo pipefail
v=${1:?usage: $0 v1.MINOR.PATCH}
staging="v0.${v#v1.}"
dir=$(cd "$(dirname "$0")/tools/kube" && pwd)
modfile=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
cd "$dir"
go mod edit -require="k8s.io/kubernetes@$v"
go mod edit -json | sed -n 's/.*"Path": "\(k8s.io\/[^"]*\)".*/\1/p' | sort -u | while read -r m; do
	[ "$m" = k8s.io/kubernetes ] || go mod edit -dropreplace="$m"
done
for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile"); do
	go mod edit -replace="$m=$m@$staging"
done
go mod tidy
echo "pinned k8s.io/kubernetes $v with staging modules at $staging"
