package controllers

import (
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
)

// ChangeFeed is what the reconcilers need from the notifier that turns Exchange notifications
// and Respa polls into passes (internal/notify). The resource reconciler tells it which rooms
// to watch, asks whether a change was signalled, and copies its stream state into status; the
// notifier enqueues an object whenever that state or a room changes.
type ChangeFeed interface {
	// Track watches the resource's room through its mailbox (again, when the mailbox changed).
	Track(res *v1alpha1.ExchangeResource, mb *v1alpha1.ExchangeMailbox)
	// Untrack stops watching a resource that is gone, suspended or waiting for its mailbox.
	Untrack(key types.NamespacedName)
	// TakeChanged reports, once, that a change of the resource's room was signalled since the
	// last call: a pass is due even though the resync interval has not passed.
	TakeChanged(key types.NamespacedName) bool
	// ResourceStream and MailboxStream say how Exchange changes reach the object; nil when
	// nothing is watched for it.
	ResourceStream(key types.NamespacedName) *v1alpha1.StreamStatus
	MailboxStream(key types.NamespacedName) *v1alpha1.StreamStatus
	// ResourceEvents and MailboxEvents carry the objects to enqueue.
	ResourceEvents() <-chan event.GenericEvent
	MailboxEvents() <-chan event.GenericEvent
}
