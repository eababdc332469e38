package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SecretKeySelector names one key of a Secret in the same namespace as the object that holds
// the reference. References across namespaces are not possible by design: a mailbox can only
// use credentials its own namespace owns.
type SecretKeySelector struct {
	// Name of the Secret, in the namespace of the referring object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`

	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// ReconcileRequestStatus records the last value of the requestedAt annotation the controller
// acted on, so that setting the annotation to a new value forces one pass.
type ReconcileRequestStatus struct {
	// LastHandledReconcileAt is the value of the requestedAt annotation that the last pass
	// handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// GetLastHandledReconcileRequest returns the last handled requestedAt value.
func (in ReconcileRequestStatus) GetLastHandledReconcileRequest() string {
	return in.LastHandledReconcileAt
}

// ReconcileRequestedAt returns the value of the requestedAt annotation and whether it is set.
func ReconcileRequestedAt(obj metav1.Object) (string, bool) {
	v, ok := obj.GetAnnotations()[ReconcileRequestAnnotation]
	return v, ok && v != ""
}

const (
	// ReconcileRequestAnnotation forces a pass when its value changes, for example
	// `kubectl annotate exres room-a respa-exchange.io/requestedAt="$(date +%s)" --overwrite`.
	ReconcileRequestAnnotation = "respa-exchange.io/requestedAt"

	// AcknowledgeMassDeletionAnnotation lets one pass carry out deletions that the mass-deletion
	// guard held back. Its value must equal status.massDeletion.token of the ExchangeResource,
	// so an acknowledgement covers exactly the deletions that were shown to the person giving it
	// (same side, count and linked pairs); remove it afterwards.
	AcknowledgeMassDeletionAnnotation = "respa-exchange.io/acknowledge-mass-deletion"
)
