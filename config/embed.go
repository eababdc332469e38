// Package config holds the kustomize configuration and, for programs that install the CRDs
// themselves (the demo), the generated CRDs embedded.
package config

import "embed"

// CRDs are the generated CustomResourceDefinitions, config/crd/bases/*.yaml.
//
//go:embed crd/bases/*.yaml
var CRDs embed.FS
