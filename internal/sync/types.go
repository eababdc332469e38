package sync

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind says whether an Exchange item stands alone or belongs to a recurring series.
// Series masters never reach the engine: a calendar view expands them into occurrences.
type Kind int8

const (
	Single Kind = iota
	Occurrence
	Exception
)

func (k Kind) String() string {
	switch k {
	case Occurrence:
		return "Occurrence"
	case Exception:
		return "Exception"
	default:
		return "Single"
	}
}

// Person is a mailbox as Exchange reports it. RoutingType "EX" means Email holds an
// X500 address that must be resolved before it can be shown in Respa.
type Person struct {
	Name        string
	Email       string
	RoutingType string
}

// Event is one calendar item of the room as the Exchange backend (EWS or Graph) lists it.
type Event struct {
	ItemID    string
	ChangeKey string
	UID       string
	// RecurrenceID is the original start of an occurrence or exception; zero for a Single.
	RecurrenceID time.Time
	Kind         Kind

	Subject  string
	Body     string
	Location string
	// Start and End are UTC instants; for an all-day event they are local midnights of the room.
	Start, End time.Time
	AllDay     bool
	Cancelled  bool

	Organizer         Person
	RequiredAttendees []Person

	// Link is our identity stamp (an extended property), empty when the event was born in Exchange.
	Link string
}

// EventKey identifies an event across passes: the UID, plus the recurrence id for an
// occurrence, because the ItemId of an occurrence changes whenever its series changes.
type EventKey string

const recurrenceIDLayout = "20060102T150405Z"

// Key returns the stable identity of the event.
func (e *Event) Key() EventKey {
	return KeyOf(e.UID, e.RecurrenceID)
}

// KeyOf builds the key of an event from its UID and recurrence id (zero for a single event).
func KeyOf(uid string, recurrenceID time.Time) EventKey {
	if recurrenceID.IsZero() {
		return EventKey(uid)
	}
	return EventKey(uid + "@" + recurrenceID.UTC().Format(recurrenceIDLayout))
}

// ParseKey splits a key into the UID and the recurrence id (zero for a single event).
func ParseKey(k EventKey) (uid string, recurrenceID time.Time) {
	s := string(k)
	if i := strings.LastIndexByte(s, '@'); i > 0 && len(s)-i-1 == len(recurrenceIDLayout) {
		if t, err := time.Parse(recurrenceIDLayout, s[i+1:]); err == nil {
			return s[:i], t
		}
	}
	return s, time.Time{}
}

// State is a Respa reservation state.
type State string

const (
	StateCreated           State = "created"
	StateConfirmed         State = "confirmed"
	StateRequested         State = "requested"
	StateCancelled         State = "cancelled"
	StateDenied            State = "denied"
	StateWaitingForPayment State = "waiting_for_payment"
)

// active reports whether the reservation still holds the resource.
func (s State) active() bool { return s != StateCancelled && s != StateDenied }

// Reservation is one Respa reservation of the mapped resource.
type Reservation struct {
	ID         string
	ResourceID string
	// Begin and End are UTC instants.
	Begin, End    time.Time
	State         State
	Subject       string // event_subject
	Description   string
	ReserverName  string
	ReserverEmail string
	// Comments carries our marker for reservations born in Exchange.
	Comments   string
	ModifiedAt time.Time
}

// Side names one of the two systems.
type Side string

const (
	SideExchange Side = "Exchange"
	SideRespa    Side = "Respa"
)

// Origin records where a linked pair was born; OriginWins gives that side ownership.
type Origin byte

const (
	FromExchange Origin = 'E'
	FromRespa    Origin = 'R'
)

func (o Origin) String() string {
	if o == FromRespa {
		return "Respa"
	}
	return "Exchange"
}

// Direction limits which side may be written.
type Direction string

const (
	Bidirectional   Direction = "Bidirectional"
	ExchangeToRespa Direction = "ExchangeToRespa"
	RespaToExchange Direction = "RespaToExchange"
)

// ConflictPolicy decides which side's change wins when the sides disagree.
type ConflictPolicy string

const (
	// OriginWins: the side where the pair was born owns it; the other side's edits are put
	// back, except that a time change made in Outlook to a Respa-born event moves the
	// reservation, as the original product did.
	OriginWins   ConflictPolicy = "OriginWins"
	ExchangeWins ConflictPolicy = "ExchangeWins"
	RespaWins    ConflictPolicy = "RespaWins"
)

// DeletionPolicy says which deletions propagate.
type DeletionPolicy string

const (
	DeleteBoth            DeletionPolicy = "Both"
	DeleteExchangeToRespa DeletionPolicy = "ExchangeToRespa"
	DeleteRespaToExchange DeletionPolicy = "RespaToExchange"
	DeleteNone            DeletionPolicy = "None"
)

// Errors the backends return per item, so the runner can tell the person what happened.
var (
	// ErrNotFound: the item no longer exists (a delete of it counts as done).
	ErrNotFound = errors.New("item not found")
	// ErrConflict: the item changed since it was listed (a stale ChangeKey or ETag).
	ErrConflict = errors.New("item changed since it was listed")
)

// Rejection is a refusal the other side will repeat until someone changes the data
// (Respa's 400 for an overlap, a past time, a validation error). It fails one item only.
type Rejection struct {
	Reason  string // short and machine-readable, e.g. "Overlap"
	Message string
}

func (r *Rejection) Error() string {
	if r.Message == "" {
		return "rejected: " + r.Reason
	}
	return fmt.Sprintf("rejected (%s): %s", r.Reason, r.Message)
}

// Window is the half-open range of time that is synced.
type Window struct {
	Start, End time.Time
}

// overlaps reports whether [start, end) meets the window, as a calendar view does.
func (w Window) overlaps(start, end time.Time) bool {
	if end.Equal(start) {
		return !start.Before(w.Start) && start.Before(w.End)
	}
	return end.After(w.Start) && start.Before(w.End)
}

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339) + "/" + w.End.UTC().Format(time.RFC3339)
}

func equalFoldTrim(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
