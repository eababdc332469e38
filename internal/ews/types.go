package ews

import (
	"time"
)

// PropertySetID is the one property set that holds every extended property
// the operator stamps on Exchange items. Named properties are registered
// per mailbox against a quota, so the set and the names in it are fixed;
// the same GUID addresses them from Microsoft Graph as
// "String {PropertySetID} Name <name>".
const PropertySetID = "6f0b8a2e-3c41-4d7b-9e5a-1d2c7b4f8a90"

// The extended property names the operator uses. Writing any other name is
// refused (see Config.ExtendedProperties).
const (
	// PropertyLink is the stable identity of the linked Respa reservation.
	PropertyLink = "RespaLink"
	// PropertyOrigin says on which side the event was born.
	PropertyOrigin = "RespaOrigin"
	// PropertyVersion is the content hash last written by the operator.
	PropertyVersion = "RespaVersion"
)

// DefaultExtendedProperties is the fixed name set read and written by default.
var DefaultExtendedProperties = []string{PropertyLink, PropertyOrigin, PropertyVersion}

// CalendarItemType is Exchange's kind of calendar item.
type CalendarItemType string

// The calendar item kinds. CalendarView yields Single, Occurrence and
// Exception; SyncFolderItems and plain FindItem yield RecurringMaster.
const (
	Single          CalendarItemType = "Single"
	Occurrence      CalendarItemType = "Occurrence"
	Exception       CalendarItemType = "Exception"
	RecurringMaster CalendarItemType = "RecurringMaster"
)

// BodyType is the format of an item body.
type BodyType string

// Body formats. The client reads bodies as Text so they compare stably.
const (
	BodyText BodyType = "Text"
	BodyHTML BodyType = "HTML"
)

// ItemID is an Exchange item id with the ChangeKey of the version we saw.
type ItemID struct {
	ID        string
	ChangeKey string
}

// Mailbox is an Exchange address. RoutingType "EX" means Address is an
// X500 legacyExchangeDN, which ResolveNames turns into SMTP.
type Mailbox struct {
	Name        string
	Email       string
	RoutingType string
}

// Attendee is a meeting participant and the answer they gave.
type Attendee struct {
	Mailbox      Mailbox
	ResponseType string
}

// CalendarItem is a calendar entry as the sync engine sees it. Times are UTC.
type CalendarItem struct {
	ItemID    string
	ChangeKey string
	// UID is the iCalendar UID, shared by all occurrences of a series.
	UID string
	// RecurrenceID identifies an occurrence within its series; zero for
	// single items and masters.
	RecurrenceID     time.Time
	CalendarItemType CalendarItemType
	Subject          string
	Body             string
	BodyType         BodyType
	Location         string
	Start            time.Time
	End              time.Time
	IsAllDay         bool
	IsCancelled      bool
	Organizer        Mailbox
	// RequiredAttendees and OptionalAttendees are filled by GetCalendarItems
	// only: FindItem does not return recipient lists.
	RequiredAttendees []Attendee
	OptionalAttendees []Attendee
	LastModified      time.Time
	// ExtendedProperties holds our properties (PropertySetID) by name.
	ExtendedProperties map[string]string
}

// ID returns the item's id and change key together.
func (ci *CalendarItem) ID() ItemID { return ItemID{ID: ci.ItemID, ChangeKey: ci.ChangeKey} }

// Outcome is the result for one item of a batched write, in request order.
type Outcome struct {
	// ItemID is the item's id and new ChangeKey after a create or update;
	// for a delete it is the id that was asked for.
	ItemID ItemID
	// Conflicts is UpdateItem's ConflictResults count: how many of our
	// changes the server resolved against a concurrent edit.
	Conflicts int
	// Gone is set by DeleteCalendarItems when the item no longer existed
	// (ErrorItemNotFound): the caller can count it as deleted. Err is nil then.
	Gone bool
	// Err is the item's error, or the batch's when the whole request failed.
	Err error
}

// SendInvitations says whom Exchange notifies when we write a meeting.
type SendInvitations string

// Notification choices. The zero value means SendToNone: the operator
// writes room calendars and tells no one unless configured to.
const (
	SendToNone               SendInvitations = "SendToNone"
	SendOnlyToAll            SendInvitations = "SendOnlyToAll"
	SendToAllAndSaveCopy     SendInvitations = "SendToAllAndSaveCopy"
	SendOnlyToChanged        SendInvitations = "SendOnlyToChanged"
	SendToChangedAndSaveCopy SendInvitations = "SendToChangedAndSaveCopy"
)

func (s SendInvitations) orNone() string {
	if s == "" {
		return string(SendToNone)
	}
	return string(s)
}

// ConflictResolution is UpdateItem's policy when the ChangeKey is stale.
type ConflictResolution string

// Conflict policies. NeverOverwrite fails with ErrorIrresolvableConflict on
// a stale ChangeKey, which is what a careful sync wants.
const (
	NeverOverwrite  ConflictResolution = "NeverOverwrite"
	AutoResolve     ConflictResolution = "AutoResolve"
	AlwaysOverwrite ConflictResolution = "AlwaysOverwrite"
)

// Field is a calendar field UpdateCalendarItems can set.
type Field string

// Settable fields, named by their EWS FieldURI.
const (
	FieldSubject           Field = "item:Subject"
	FieldBody              Field = "item:Body"
	FieldStart             Field = "calendar:Start"
	FieldEnd               Field = "calendar:End"
	FieldIsAllDay          Field = "calendar:IsAllDayEvent"
	FieldLocation          Field = "calendar:Location"
	FieldRequiredAttendees Field = "calendar:RequiredAttendees"
	FieldOptionalAttendees Field = "calendar:OptionalAttendees"
)

// DefaultUpdateFields are set when a change names no fields.
var DefaultUpdateFields = []Field{FieldSubject, FieldBody, FieldStart, FieldEnd, FieldIsAllDay, FieldLocation}

// ItemChange is one UpdateItem change: the item (its ItemID and ChangeKey
// are required), the fields to take from it, and our extended properties
// to set (all of Item.ExtendedProperties) or remove.
type ItemChange struct {
	Item                     CalendarItem
	Fields                   []Field
	DeleteExtendedProperties []string
}

// EventKind is the kind of a streaming notification.
type EventKind string

// Event kinds Exchange streams.
const (
	EventCreated        EventKind = "CreatedEvent"
	EventDeleted        EventKind = "DeletedEvent"
	EventModified       EventKind = "ModifiedEvent"
	EventMoved          EventKind = "MovedEvent"
	EventCopied         EventKind = "CopiedEvent"
	EventNewMail        EventKind = "NewMailEvent"
	EventFreeBusyChange EventKind = "FreeBusyChangedEvent"
	EventStatus         EventKind = "StatusEvent"
)

// Notification is one event from a streaming subscription.
type Notification struct {
	SubscriptionID string
	Kind           EventKind
	TimeStamp      time.Time
	// ItemID is set for item events; FolderID for folder events.
	ItemID         ItemID
	FolderID       string
	ParentFolderID string
	// OldItemID is the item's previous id for moved/copied events.
	OldItemID ItemID
}

// StreamMessage is one envelope of a GetStreamingEvents response. An empty
// message (no notifications, no errors, not closed) is a keep-alive and
// proves the connection is alive.
type StreamMessage struct {
	Notifications []Notification
	// Errors are per-subscription failures, e.g. ErrorSubscriptionNotFound;
	// each *Error's SubscriptionIDs says which subscriptions failed.
	Errors []*Error
	// Closed is ConnectionStatus Closed: the server ended this connection
	// (ConnectionTimeout reached); open a new one with the same ids.
	Closed bool
	// ServerVersion is the build that sent this envelope.
	ServerVersion ServerVersionInfo
}

// SyncResult is one page of SyncFolderItems changes.
type SyncResult struct {
	// SyncState is opaque; store it whole and pass it to the next call.
	SyncState string
	// IncludesLastItemInRange is false when more changes are waiting.
	IncludesLastItemInRange bool
	Created                 []ItemID
	Updated                 []ItemID
	Deleted                 []ItemID
}
