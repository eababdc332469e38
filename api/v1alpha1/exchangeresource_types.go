package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExchangeResourceKind is the kind name of ExchangeResource.
const ExchangeResourceKind = "ExchangeResource"

// Direction values.
const (
	DirectionBidirectional   = "Bidirectional"
	DirectionExchangeToRespa = "ExchangeToRespa"
	DirectionRespaToExchange = "RespaToExchange"
)

// Conflict policy values.
const (
	ConflictOriginWins   = "OriginWins"
	ConflictExchangeWins = "ExchangeWins"
	ConflictRespaWins    = "RespaWins"
)

// Deletion policy values.
const (
	DeletionBoth            = "Both"
	DeletionExchangeToRespa = "ExchangeToRespa"
	DeletionRespaToExchange = "RespaToExchange"
	DeletionNone            = "None"
)

// Notification values.
const (
	NotificationsNone                 = "None"
	NotificationsSendToAll            = "SendToAll"
	NotificationsSendToAllAndSaveCopy = "SendToAllAndSaveCopy"
)

// ExchangeResourceSpec maps one Exchange room or equipment calendar to one Respa resource.
type ExchangeResourceSpec struct {
	// MailboxRef names the ExchangeMailbox, in the same namespace, that reaches this room.
	// +required
	MailboxRef LocalObjectReference `json:"mailboxRef"`

	// Exchange identifies the room calendar.
	// +required
	Exchange ResourceExchange `json:"exchange"`

	// Respa identifies the Respa resource.
	// +required
	Respa ResourceRespa `json:"respa"`

	// Direction in which bookings flow.
	// +kubebuilder:validation:Enum=Bidirectional;ExchangeToRespa;RespaToExchange
	// +kubebuilder:default=Bidirectional
	// +optional
	Direction string `json:"direction,omitempty"`

	// Window is the span of time that is kept in sync.
	// +kubebuilder:default={}
	// +optional
	Window SyncWindow `json:"window,omitempty"`

	// ConflictPolicy says who wins when both sides changed the same booking since the last pass.
	// OriginWins: the side where the booking was born owns it, except that time changes made
	// in Outlook to a booking born in Respa flow back to Respa. ExchangeWins, RespaWins: that
	// side always wins.
	// +kubebuilder:validation:Enum=OriginWins;ExchangeWins;RespaWins
	// +kubebuilder:default=OriginWins
	// +optional
	ConflictPolicy string `json:"conflictPolicy,omitempty"`

	// DeletionPolicy says which deletions propagate: Both, ExchangeToRespa (an event deleted in
	// Exchange cancels the reservation), RespaToExchange (a cancelled reservation deletes the
	// event) or None.
	// +kubebuilder:validation:Enum=Both;ExchangeToRespa;RespaToExchange;None
	// +kubebuilder:default=Both
	// +optional
	DeletionPolicy string `json:"deletionPolicy,omitempty"`

	// MassDeletionGuard holds back deletions when one pass would delete a large share of a side.
	// +kubebuilder:default={}
	// +optional
	MassDeletionGuard MassDeletionGuard `json:"massDeletionGuard,omitempty"`

	// Notifications says whether writes to Exchange send meeting invitations and cancellations
	// to attendees.
	// +kubebuilder:validation:Enum=None;SendToAll;SendToAllAndSaveCopy
	// +kubebuilder:default=None
	// +optional
	Notifications string `json:"notifications,omitempty"`

	// ResyncInterval is how often a full pass over the window runs even when no change was
	// notified: the safety net.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="15m"
	// +optional
	ResyncInterval metav1.Duration `json:"resyncInterval,omitempty"`

	// TimeZone of the room, an IANA name. All-day events are whole days in this zone.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:default="Europe/Helsinki"
	// +optional
	TimeZone string `json:"timeZone,omitempty"`

	// Suspend stops syncing; nothing is read or written until it is cleared.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// DryRun plans each pass and reports the plan in status.plannedActions without writing
	// anything to either side.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// Templates for events that start in Respa.
	// +optional
	Templates *EventTemplates `json:"templates,omitempty"`
}

// ResourceExchange identifies the room calendar in Exchange.
type ResourceExchange struct {
	// Email is the SMTP address of the room or equipment mailbox.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$`
	// +required
	Email string `json:"email"`
}

// ResourceRespa identifies the Respa resource.
type ResourceRespa struct {
	// ResourceID is the id of the Respa resource, as in /v1/resource/<id>/.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +required
	ResourceID string `json:"resourceID"`
}

// SyncWindow bounds the span that is synced, relative to now.
// +kubebuilder:validation:XValidation:rule="!has(self.future) || duration(self.future) > duration('0s')",message="window.future must be longer than zero"
// +kubebuilder:validation:XValidation:rule="!has(self.future) || duration(self.future) <= duration('17520h')",message="window.future must be at most 17520h (two years)"
// +kubebuilder:validation:XValidation:rule="!has(self.past) || duration(self.past) <= duration('8760h')",message="window.past must be at most 8760h (one year)"
type SyncWindow struct {
	// Future is how far ahead of now bookings are synced.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="8760h"
	// +optional
	Future *metav1.Duration `json:"future,omitempty"`

	// Past is how far back from now bookings are synced. Past bookings are read, to keep links,
	// but never rewritten.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="0s"
	// +optional
	Past *metav1.Duration `json:"past,omitempty"`
}

// MassDeletionGuard bounds how much one pass may delete.
type MassDeletionGuard struct {
	// MaxPercent of the linked bookings of a side that one pass may delete.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=20
	// +optional
	MaxPercent *int32 `json:"maxPercent,omitempty"`

	// MinItems: deleting this many or fewer never trips the guard, so small rooms can still
	// lose their only booking.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=3
	// +optional
	MinItems *int32 `json:"minItems,omitempty"`
}

// EventTemplates are Go text/template strings for events that start in Respa. They see the
// reservation's fields .Reserver (the reserver's name, else email, else the subject),
// .ReserverName, .ReserverEmail, .Subject, .Description, .ReservationID, .Begin and .End, and
// the resource's .Resource and .Unit names. A template that does not parse stalls the
// resource.
type EventTemplates struct {
	// Subject of the event. Default: "Respa - {{.Reserver}}" (as the original product wrote it).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Subject string `json:"subject,omitempty"`

	// Body of the event. Default: the reservation's description.
	// +kubebuilder:validation:MaxLength=8192
	// +optional
	Body string `json:"body,omitempty"`
}

// ExchangeResourceStatus is what the last passes found and did.
type ExchangeResourceStatus struct {
	ReconcileRequestStatus `json:",inline"`

	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Synced, Reconciling, Stalled.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// LastSyncTime is when the last pass ended, whatever its outcome.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// LastSuccessfulSyncTime is when the last pass that synced every item ended. A failed pass
	// never moves it.
	// +optional
	LastSuccessfulSyncTime *metav1.Time `json:"lastSuccessfulSyncTime,omitempty"`

	// Counts of what the last pass saw and did.
	// +optional
	Counts SyncCounts `json:"counts,omitempty"`

	// FailedItems are the bookings the last pass could not sync, newest first, at most 20.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	FailedItems []FailedItem `json:"failedItems,omitempty"`

	// PlannedActions is the plan of the last pass when spec.dryRun is set, at most 50.
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	PlannedActions []PlannedAction `json:"plannedActions,omitempty"`

	// MassDeletion is set while the mass-deletion guard holds deletions back.
	// +optional
	MassDeletion *MassDeletionStatus `json:"massDeletion,omitempty"`

	// Stream says how changes in Exchange reach the operator for this room.
	// +optional
	Stream *StreamStatus `json:"stream,omitempty"`
}

// SyncCounts are the numbers of one pass.
type SyncCounts struct {
	// ExchangeItems in the window.
	// +optional
	ExchangeItems int32 `json:"exchangeItems,omitempty"`
	// RespaReservations in the window (all states).
	// +optional
	RespaReservations int32 `json:"respaReservations,omitempty"`
	// LinkedPairs known to the ledger after the pass.
	// +optional
	LinkedPairs int32 `json:"linkedPairs,omitempty"`
	// Exchange writes of the last pass.
	// +optional
	Exchange WriteCounts `json:"exchange,omitempty"`
	// Respa writes of the last pass.
	// +optional
	Respa WriteCounts `json:"respa,omitempty"`
	// Failed items in the last pass.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Skipped items the last pass saw and deliberately left alone: a deletion the deletion
	// policy keeps, an item in the past, an organizer not resolved yet, a create whose
	// outcome is still being confirmed.
	// +optional
	Skipped int32 `json:"skipped,omitempty"`
}

// WriteCounts are the writes of one pass on one side.
type WriteCounts struct {
	// +optional
	Created int32 `json:"created,omitempty"`
	// +optional
	Updated int32 `json:"updated,omitempty"`
	// +optional
	Deleted int32 `json:"deleted,omitempty"`
}

// FailedItem is one booking that did not sync.
type FailedItem struct {
	// Side where the write failed: Exchange or Respa.
	Side string `json:"side"`
	// Key of the booking: the Respa reservation id or the Exchange UID (with the occurrence's
	// start for an occurrence).
	Key string `json:"key"`
	// Reason in one word, for example Rejected, Conflict, Throttled.
	Reason string `json:"reason"`
	// Message from the server, scrubbed of secrets.
	Message string `json:"message"`
}

// PlannedAction is one write a dry run would make.
type PlannedAction struct {
	// Side to write: Exchange or Respa.
	Side string `json:"side"`
	// Action: Create, Update or Delete.
	Action string `json:"action"`
	// Key of the booking.
	Key string `json:"key"`
	// Reason the engine gave.
	Reason string `json:"reason"`
}

// MassDeletionStatus describes deletions held back by the guard.
type MassDeletionStatus struct {
	// Side whose deletions are held back.
	Side string `json:"side"`
	// Planned deletions.
	Planned int32 `json:"planned"`
	// Linked bookings on that side.
	Linked int32 `json:"linked"`
	// Token to put in the respa-exchange.io/acknowledge-mass-deletion annotation to let the
	// next pass carry these deletions out.
	Token string `json:"token"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exres,categories=respa-exchange
// +kubebuilder:printcolumn:name="Mailbox",type=string,JSONPath=`.spec.mailboxRef.name`
// +kubebuilder:printcolumn:name="Room",type=string,JSONPath=`.spec.exchange.email`
// +kubebuilder:printcolumn:name="Respa",type=string,JSONPath=`.spec.respa.resourceID`,priority=1
// +kubebuilder:printcolumn:name="Direction",type=string,JSONPath=`.spec.direction`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Linked",type=integer,JSONPath=`.status.counts.linkedPairs`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.counts.failed`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ExchangeResource keeps one Exchange room or equipment calendar and one Respa resource in sync.
type ExchangeResource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExchangeResourceSpec   `json:"spec,omitempty"`
	Status ExchangeResourceStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ExchangeResource) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ExchangeResource) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// +kubebuilder:object:root=true

// ExchangeResourceList is a list of ExchangeResources.
type ExchangeResourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExchangeResource `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ExchangeResource{}, &ExchangeResourceList{})
}
