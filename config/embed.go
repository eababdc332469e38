// Package config holds the kustomize configuration and, for programs that install the CRDs
// themselves (the demo), the generated CRDs embedded.
package config

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// CRDs are the generated CustomResourceDefinitions, config/crd/bases/*.yaml.
//
//go:embed crd/bases/*.yaml
var CRDs embed.FS

// CustomResourceDefinitions parses the embedded CRDs.
func CustomResourceDefinitions() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := fs.Glob(CRDs, "crd/bases/*.yaml")
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := CRDs.ReadFile(f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		crds = append(crds, crd)
	}
	if len(crds) == 0 {
		return nil, errors.New("no CRDs embedded")
	}
	return crds, nil
}
