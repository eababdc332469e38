package respasim

import (
	"fmt"
	"time"
)

// Reservation states, as Respa's Reservation model names them.
const (
	StateCreated           = "created"
	StateCancelled         = "cancelled"
	StateConfirmed         = "confirmed"
	StateDenied            = "denied"
	StateRequested         = "requested"
	StateWaitingForPayment = "waiting_for_payment"
)

var validStates = map[string]bool{
	StateCreated: true, StateCancelled: true, StateConfirmed: true,
	StateDenied: true, StateRequested: true, StateWaitingForPayment: true,
}

// Unit is a Respa unit (a building or service point) that owns resources.
type Unit struct {
	ID string `json:"id"`
	// Name holds the translations by language code (fi, en, sv).
	Name map[string]string `json:"name"`
	// TimeZone is the tz database name; Respa's default is Europe/Helsinki.
	TimeZone string `json:"time_zone,omitempty"`
}

// Resource is a reservable Respa resource (a room, for this operator).
type Resource struct {
	ID     string            `json:"id"`
	UnitID string            `json:"unit"`
	Name   map[string]string `json:"name"`
	// NeedManualConfirmation puts reservations by users without the bypass
	// permission into state requested.
	NeedManualConfirmation bool `json:"need_manual_confirmation"`
	// Reservable lets plain users reserve; staff may always reserve.
	Reservable bool `json:"reservable"`
	// Public resources are visible to everybody; others only to staff.
	Public bool `json:"public"`
	// MinPeriod, MaxPeriod and SlotSize follow Respa's model: a zero
	// MinPeriod and SlotSize mean Respa's default of 30 minutes, a zero
	// MaxPeriod means no maximum.
	MinPeriod Duration `json:"min_period"`
	MaxPeriod Duration `json:"max_period"`
	SlotSize  Duration `json:"slot_size"`
	// MaxReservationsPerUser limits active reservations of one plain user; 0 = none.
	MaxReservationsPerUser int `json:"max_reservations_per_user"`
	// SupportedFields lists the reservation extra fields the resource's
	// metadata set supports; nil means DefaultSupportedFields. Unsupported
	// fields are read-only in Respa: silently dropped on write, hidden on read.
	SupportedFields []string `json:"supported_fields,omitempty"`
	// RequiredFields lists extra fields a reservation must carry.
	RequiredFields []string `json:"required_fields,omitempty"`
}

// DefaultSupportedFields are the extra fields the simulator's resources
// support unless told otherwise: the ones the operator maps.
var DefaultSupportedFields = []string{
	"event_subject", "event_description", "reserver_name", "reserver_email_address",
	"reserver_phone_number", "number_of_participants", "host_name", "participants",
}

// User is a Respa user behind one or more tokens.
type User struct {
	// ID is the user's uuid, which Respa's reservation serializer shows as user.id.
	ID          string `json:"id"`
	Username    string `json:"username"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	// Staff stands for a Respa general administrator who also holds every
	// unit permission (approve, comment, modify others' reservations,
	// bypass manual confirmation, ignore limits): what the operator's
	// service account needs. A user without it is a plain member of the public.
	Staff bool `json:"staff"`
}

// Token binds an Authorization header value to a user.
type Token struct {
	// Kind is the header's scheme: "Token" (DRF token) or "Bearer"/"JWT".
	// Bearer and JWT tokens are looked up as opaque strings: no JWT crypto.
	Kind     string `json:"kind"`
	Key      string `json:"key"`
	Username string `json:"username"`
}

// Reservation is the simulator's stored reservation.
type Reservation struct {
	ID                   int       `json:"id"`
	ResourceID           string    `json:"resource"`
	Begin                time.Time `json:"begin"`
	End                  time.Time `json:"end"`
	State                string    `json:"state"`
	UserID               string    `json:"user_id,omitempty"`
	Comments             string    `json:"comments,omitempty"`
	StaffEvent           bool      `json:"staff_event,omitempty"`
	Type                 string    `json:"type"`
	EventSubject         string    `json:"event_subject,omitempty"`
	EventDescription     string    `json:"event_description,omitempty"`
	ReserverName         string    `json:"reserver_name,omitempty"`
	ReserverEmailAddress string    `json:"reserver_email_address,omitempty"`
	ReserverPhoneNumber  string    `json:"reserver_phone_number,omitempty"`
	HostName             string    `json:"host_name,omitempty"`
	Participants         string    `json:"participants,omitempty"`
	NumberOfParticipants *int      `json:"number_of_participants,omitempty"`
	CreatedAt            time.Time `json:"created_at"`
	ModifiedAt           time.Time `json:"modified_at"`
}

// active is Respa's "current" queryset: cancelled and denied ones free the slot.
func (r *Reservation) active() bool {
	return r.State != StateCancelled && r.State != StateDenied
}

// Fault makes matching requests fail or stall.
type Fault struct {
	// Method matches the HTTP method; empty matches any.
	Method string `json:"method,omitempty"`
	// PathPrefix matches the start of the URL path, e.g. "/v1/reservation/".
	PathPrefix string `json:"path_prefix"`
	// Status, when non-zero, is answered instead of the real response.
	Status int `json:"status,omitempty"`
	// Body is sent with Status; empty gives a short HTML error page as Django would.
	Body string `json:"body,omitempty"`
	// RetryAfter, when set, goes out as a Retry-After header (seconds).
	RetryAfter int `json:"retry_after,omitempty"`
	// Delay is added before answering.
	Delay Duration `json:"delay,omitempty"`
	// Hang keeps the request open until the client gives up or the server closes.
	Hang bool `json:"hang,omitempty"`
	// Times is how many requests the fault hits; 0 means until cleared.
	Times int `json:"times,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("30m") or as a number of seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads "30m"-style strings or seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*d = 0
		return nil
	}
	if len(s) > 1 && s[0] == '"' {
		v, err := time.ParseDuration(s[1 : len(s)-1])
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if _, err := fmt.Sscan(s, &secs); err != nil {
		return err
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}
