// Package v1alpha1 holds the API of respa-exchange-operator: ExchangeMailbox (how to reach one
// Exchange organisation and the Respa instance it feeds) and ExchangeResource (one room or
// equipment calendar mapped to one Respa resource).
//
// +kubebuilder:object:generate=true
// +groupName=respa-exchange.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the API.
	GroupVersion = schema.GroupVersion{Group: "respa-exchange.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
