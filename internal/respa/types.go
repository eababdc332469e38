package respa

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is a reservation's state in Respa.
type State string

// Respa's reservation states.
const (
	StateCreated           State = "created"
	StateConfirmed         State = "confirmed"
	StateRequested         State = "requested"
	StateCancelled         State = "cancelled"
	StateDenied            State = "denied"
	StateWaitingForPayment State = "waiting_for_payment"
)

// Active reports whether the reservation holds its slot: Respa frees the
// slot of cancelled and denied reservations.
func (s State) Active() bool { return s != StateCancelled && s != StateDenied }

// User is the reservation's owner as Respa shows it to staff.
type User struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name,omitempty"`
	Email       string `json:"email,omitempty"`
}

// Reservation is a Respa reservation. Times are UTC.
type Reservation struct {
	ID         int64
	ResourceID string
	Begin, End time.Time
	State      State

	EventSubject         string
	EventDescription     string
	ReserverName         string
	ReserverEmailAddress string
	ReserverPhoneNumber  string
	HostName             string
	NumberOfParticipants *int
	// Comments holds the operator's identity marker for reservations born
	// in Exchange. Respa shows it only to staff and accepts it only from
	// staff; an empty value is not sent.
	Comments string
	// StaffEvent marks a staff event; Respa then requires only
	// reserver_name and event_description of the resource's extra fields.
	// Only resource managers may set it.
	StaffEvent bool
	// Type is "normal" or "blocked"; empty is not sent (Respa's default normal).
	Type string

	// Read-only facts from Respa.
	User                   *User
	IsOwn                  bool
	NeedManualConfirmation bool
	// CreatedAt and ModifiedAt are zero when Respa does not send them (its
	// reservation serializer does not; see the package doc).
	CreatedAt, ModifiedAt time.Time
}

// wireReservation is a reservation as Respa's serializer writes it.
type wireReservation struct {
	ID                     int64           `json:"id"`
	Resource               json.RawMessage `json:"resource"`
	Begin                  string          `json:"begin"`
	End                    string          `json:"end"`
	State                  State           `json:"state"`
	EventSubject           *string         `json:"event_subject"`
	EventDescription       *string         `json:"event_description"`
	ReserverName           *string         `json:"reserver_name"`
	ReserverEmailAddress   *string         `json:"reserver_email_address"`
	ReserverPhoneNumber    *string         `json:"reserver_phone_number"`
	HostName               *string         `json:"host_name"`
	NumberOfParticipants   *int            `json:"number_of_participants"`
	Comments               *string         `json:"comments"`
	StaffEvent             bool            `json:"staff_event"`
	Type                   string          `json:"type"`
	User                   *wireUser       `json:"user"`
	IsOwn                  bool            `json:"is_own"`
	NeedManualConfirmation bool            `json:"need_manual_confirmation"`
	CreatedAt              string          `json:"created_at"`
	ModifiedAt             string          `json:"modified_at"`
}

type wireUser struct {
	ID          json.RawMessage `json:"id"`
	DisplayName string          `json:"display_name"`
	Email       string          `json:"email"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// resourceRef reads "resource" as an id string, or as the object Respa
// sends with include=resource_detail.
func resourceRef(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse %s %q: %w", field, v, err)
	}
	return t.UTC(), nil
}

func (w *wireReservation) reservation() (Reservation, error) {
	r := Reservation{
		ID: w.ID, ResourceID: resourceRef(w.Resource), State: w.State,
		EventSubject: deref(w.EventSubject), EventDescription: deref(w.EventDescription),
		ReserverName: deref(w.ReserverName), ReserverEmailAddress: deref(w.ReserverEmailAddress),
		ReserverPhoneNumber: deref(w.ReserverPhoneNumber), HostName: deref(w.HostName),
		NumberOfParticipants: w.NumberOfParticipants, Comments: deref(w.Comments),
		StaffEvent: w.StaffEvent, Type: w.Type, IsOwn: w.IsOwn,
		NeedManualConfirmation: w.NeedManualConfirmation,
	}
	if w.User != nil {
		r.User = &User{ID: strings.Trim(string(w.User.ID), `"`), DisplayName: w.User.DisplayName, Email: w.User.Email}
	}
	var err error
	for _, f := range []struct {
		name string
		src  string
		dst  *time.Time
	}{
		{"begin", w.Begin, &r.Begin}, {"end", w.End, &r.End},
		{"created_at", w.CreatedAt, &r.CreatedAt}, {"modified_at", w.ModifiedAt, &r.ModifiedAt},
	} {
		if *f.dst, err = parseTime(f.name, f.src); err != nil {
			return Reservation{}, fmt.Errorf("reservation %d: %w", w.ID, err)
		}
	}
	return r, nil
}

// writeBody is what Create and Update send: the fields the operator owns.
func (r *Reservation) writeBody() map[string]any {
	m := map[string]any{
		"resource":               r.ResourceID,
		"begin":                  r.Begin.UTC().Format(time.RFC3339Nano),
		"end":                    r.End.UTC().Format(time.RFC3339Nano),
		"event_subject":          r.EventSubject,
		"event_description":      r.EventDescription,
		"reserver_name":          r.ReserverName,
		"reserver_email_address": r.ReserverEmailAddress,
	}
	if r.ReserverPhoneNumber != "" {
		m["reserver_phone_number"] = r.ReserverPhoneNumber
	}
	if r.HostName != "" {
		m["host_name"] = r.HostName
	}
	if r.NumberOfParticipants != nil {
		m["number_of_participants"] = *r.NumberOfParticipants
	}
	if r.Comments != "" {
		m["comments"] = r.Comments
	}
	if r.StaffEvent {
		m["staff_event"] = true
	}
	if r.Type != "" {
		m["type"] = r.Type
	}
	return m
}

// Unit is the Respa unit a resource belongs to.
type Unit struct {
	ID   string
	Name string // Finnish, else English, else Swedish
	// Names holds every translation by language code.
	Names    map[string]string
	TimeZone string
}

// Resource is a Respa resource (a room, for this operator).
type Resource struct {
	ID    string
	Name  string // Finnish, else English, else Swedish
	Names map[string]string
	Unit  Unit
	// NeedManualConfirmation: reservations by users without the bypass
	// permission start as requested.
	NeedManualConfirmation bool
	Reservable             bool
	MinPeriod, MaxPeriod   time.Duration
	SlotSize               time.Duration
}

type wireResource struct {
	ID                     string            `json:"id"`
	Name                   map[string]string `json:"name"`
	Unit                   json.RawMessage   `json:"unit"`
	NeedManualConfirmation bool              `json:"need_manual_confirmation"`
	Reservable             bool              `json:"reservable"`
	MinPeriod              *string           `json:"min_period"`
	MaxPeriod              *string           `json:"max_period"`
	SlotSize               *string           `json:"slot_size"`
}

// pickName chooses the display name: fi, then en, then sv, then any.
func pickName(m map[string]string) string {
	for _, lang := range []string{"fi", "en", "sv"} {
		if v := m[lang]; v != "" {
			return v
		}
	}
	for _, v := range m {
		return v
	}
	return ""
}

func (w *wireResource) resource() (Resource, error) {
	r := Resource{
		ID: w.ID, Names: w.Name, Name: pickName(w.Name),
		NeedManualConfirmation: w.NeedManualConfirmation, Reservable: w.Reservable,
	}
	var unitID string
	if json.Unmarshal(w.Unit, &unitID) == nil {
		r.Unit.ID = unitID
	} else if len(w.Unit) > 0 && string(w.Unit) != "null" {
		var u struct {
			ID       string            `json:"id"`
			Name     map[string]string `json:"name"`
			TimeZone string            `json:"time_zone"`
		}
		if err := json.Unmarshal(w.Unit, &u); err != nil {
			return Resource{}, fmt.Errorf("resource %s: parse unit: %w", w.ID, err)
		}
		r.Unit = Unit{ID: u.ID, Names: u.Name, Name: pickName(u.Name), TimeZone: u.TimeZone}
	}
	for _, f := range []struct {
		src *string
		dst *time.Duration
	}{{w.MinPeriod, &r.MinPeriod}, {w.MaxPeriod, &r.MaxPeriod}, {w.SlotSize, &r.SlotSize}} {
		if f.src == nil {
			continue
		}
		d, err := parseDjangoDuration(*f.src)
		if err != nil {
			return Resource{}, fmt.Errorf("resource %s: %w", w.ID, err)
		}
		*f.dst = d
	}
	return r, nil
}

// parseDjangoDuration reads Django's DurationField form "[D ]HH:MM:SS[.ffffff]".
func parseDjangoDuration(s string) (time.Duration, error) {
	var days int
	rest := s
	if d, r, ok := strings.Cut(s, " "); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, fmt.Errorf("parse duration %q: %w", s, err)
		}
		days, rest = n, r
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("parse duration %q: want HH:MM:SS", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("parse duration %q: not numeric", s)
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour +
		time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), nil
}
