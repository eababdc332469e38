package controllers

import (
	"context"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// conditioned is an object with status conditions.
type conditioned interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// setCondition sets one condition, keeping its transition time when the status is unchanged.
func setCondition(obj conditioned, typ string, status metav1.ConditionStatus, reason, message string) {
	c := obj.GetConditions()
	apimeta.SetStatusCondition(&c, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(c)
}

func removeCondition(obj conditioned, typ string) {
	c := obj.GetConditions()
	apimeta.RemoveStatusCondition(&c, typ)
	obj.SetConditions(c)
}

func isTrue(obj conditioned, typ string) bool {
	return apimeta.IsStatusConditionTrue(obj.GetConditions(), typ)
}

func conditionOf(obj conditioned, typ string) *metav1.Condition {
	return apimeta.FindStatusCondition(obj.GetConditions(), typ)
}

// statusPatcher patches the status subresource with what changed since it was made, the way
// Flux's patch helper does for its reconcilers: the reconciler changes the object freely and one
// deferred call writes the status.
type statusPatcher struct {
	c      client.Client
	before client.Object
}

func newStatusPatcher(c client.Client, obj client.Object) *statusPatcher {
	return &statusPatcher{c: c, before: obj.DeepCopyObject().(client.Object)}
}

// patch writes the status when it differs from the one read.
func (p *statusPatcher) patch(ctx context.Context, obj client.Object) error {
	if err := p.c.Status().Patch(ctx, obj, client.MergeFrom(p.before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	p.before = obj.DeepCopyObject().(client.Object)
	return nil
}
