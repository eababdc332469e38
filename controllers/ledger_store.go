package controllers

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
)

const (
	// ledgerKey is the ConfigMap binaryData key of the encoded ledger.
	ledgerKey = "ledger"
	// LedgerOfLabel marks a ledger ConfigMap with the ExchangeResource it belongs to.
	LedgerOfLabel = "respa-exchange.io/ledger-of"
)

// LedgerName is the name of the ConfigMap that keeps a resource's ledger.
func LedgerName(res *v1alpha1.ExchangeResource) string { return res.Name + "-sync-ledger" }

// ConfigMapLedger keeps one resource's ledger in a ConfigMap that the resource owns, so it
// goes away with the resource. Reads go to the API server (the manager does not cache
// ConfigMaps), and an unchanged ledger is not written again.
type ConfigMapLedger struct {
	Client   client.Client
	Reader   client.Reader
	Resource *v1alpha1.ExchangeResource

	loaded bool
	last   []byte
	exists bool
}

// Load returns the stored ledger, or nil when there is none.
func (l *ConfigMapLedger) Load(ctx context.Context) ([]byte, error) {
	cm := &corev1.ConfigMap{}
	err := l.Reader.Get(ctx, types.NamespacedName{Namespace: l.Resource.Namespace, Name: LedgerName(l.Resource)}, cm)
	l.loaded = true
	if apierrors.IsNotFound(err) {
		l.exists, l.last = false, nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ledger ConfigMap: %w", err)
	}
	l.exists, l.last = true, cm.BinaryData[ledgerKey]
	return l.last, nil
}

// Save writes the ledger when it changed.
func (l *ConfigMapLedger) Save(ctx context.Context, data []byte) error {
	if l.loaded && l.exists && bytes.Equal(data, l.last) {
		return nil
	}
	// Server-side apply creates or updates in one call, without a cached read of ConfigMaps.
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: l.Resource.Namespace,
			Name:      LedgerName(l.Resource),
			Labels: map[string]string{
				LedgerOfLabel:                  l.Resource.Name,
				"app.kubernetes.io/managed-by": "respa-exchange-operator",
			},
		},
		BinaryData: map[string][]byte{ledgerKey: data},
	}
	if err := controllerutil.SetControllerReference(l.Resource, cm, l.Client.Scheme()); err != nil {
		return err
	}
	if err := l.Client.Patch(ctx, cm, client.Apply, client.FieldOwner("respa-exchange-operator"), client.ForceOwnership); err != nil {
		return fmt.Errorf("write ledger ConfigMap: %w", err)
	}
	l.loaded, l.exists, l.last = true, true, append([]byte(nil), data...)
	return nil
}
