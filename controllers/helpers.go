package controllers

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
)

func asStalling(err error, target **StallingError) bool { return errors.As(err, target) }

// reasonOf is the reason a stalling or waiting error carries, or fallback.
func reasonOf(err error, fallback string) string {
	var s *StallingError
	if errors.As(err, &s) {
		return s.Reason
	}
	var w *WaitingError
	if errors.As(err, &w) {
		return w.Reason
	}
	return fallback
}

func durationOr(d, fallback time.Duration) time.Duration {
	if d <= 0 {
		return fallback
	}
	return d
}

// jitter lengthens d by up to 10%, so resources created together do not run their passes in
// lockstep forever.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// recordReadyTransition emits an Event when Ready changes status or reason, not on every quiet
// reconcile.
func recordReadyTransition(rec events.EventRecorder, obj conditioned, before *metav1.Condition) {
	if rec == nil {
		return
	}
	ready := conditionOf(obj, v1alpha1.ReadyCondition)
	if ready == nil {
		return
	}
	if before != nil && before.Status == ready.Status && before.Reason == ready.Reason {
		return
	}
	if ready.Status == metav1.ConditionTrue {
		rec.Eventf(obj, nil, corev1.EventTypeNormal, ready.Reason, "Ready", "%s", ready.Message)
		return
	}
	if ready.Reason == v1alpha1.MailboxNotReadyReason && before == nil {
		// A resource created with (or before) its mailbox: the mailbox's own Events say
		// what is wrong with it, and this resource starts as soon as it is Ready.
		return
	}
	rec.Eventf(obj, nil, corev1.EventTypeWarning, ready.Reason, "NotReady", "%s", ready.Message)
}

// CredentialCache hands the credentials the mailbox controller resolved to the resource
// controller, so that a pass does not read Secrets again. Entries are keyed by mailbox and
// generation; a Secret change re-resolves them through the mailbox's reconcile.
type CredentialCache struct {
	mu      sync.RWMutex
	entries map[types.NamespacedName]credentialEntry
}

type credentialEntry struct {
	generation int64
	creds      *MailboxCredentials
}

// Put stores the credentials of a Ready mailbox.
func (c *CredentialCache) Put(key types.NamespacedName, generation int64, creds *MailboxCredentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[types.NamespacedName]credentialEntry{}
	}
	c.entries[key] = credentialEntry{generation: generation, creds: creds}
}

// Get returns the credentials stored for that generation of the mailbox.
func (c *CredentialCache) Get(key types.NamespacedName, generation int64) (*MailboxCredentials, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key]
	if !ok || e.generation != generation {
		return nil, false
	}
	return e.creds, true
}

// Forget drops a mailbox's credentials.
func (c *CredentialCache) Forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

// requestsByIndex lists the objects of a namespace whose field index holds value and turns
// them into reconcile requests: how a watched object (a Secret, a mailbox) finds the objects
// that refer to it.
func requestsByIndex(ctx context.Context, c client.Reader, list client.ObjectList, namespace, index, value string) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		log.FromContext(ctx).Error(err, "list objects by index", "index", index, "value", value)
		return nil
	}
	items, err := apimeta.ExtractList(list)
	if err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(items))
	for _, it := range items {
		if o, ok := it.(client.Object); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		}
	}
	return reqs
}
