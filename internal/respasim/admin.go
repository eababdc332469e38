package respasim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is Respa's answer when an admin action acting as a user is refused:
// the status code and the JSON body the API would have sent.
type Error struct {
	Status int
	Body   any
}

func (e *Error) Error() string {
	b, _ := json.Marshal(e.Body)
	return fmt.Sprintf("respa answered %d: %s", e.Status, b)
}

func publicError(a *apiError) error {
	if a == nil {
		return nil
	}
	return &Error{Status: a.status, Body: a.body}
}

// ErrUnknownUser is returned when an action names a user the simulator lacks.
var ErrUnknownUser = errors.New("respasim: unknown user")

// AddUnit adds or replaces a unit.
func (s *Server) AddUnit(u Unit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.units[u.ID] = &u
}

// AddResource adds or replaces a resource; its unit is created if missing.
func (s *Server) AddResource(r Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.UnitID != "" && s.units[r.UnitID] == nil {
		s.units[r.UnitID] = &Unit{ID: r.UnitID, Name: map[string]string{"fi": r.UnitID}}
	}
	s.resources[r.ID] = &r
}

// AddUser adds or replaces a user; an empty ID becomes a uuid-like string.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(s.users)+1)
	}
	s.users[u.Username] = &u
}

// AddToken lets requests carrying "<Kind> <Key>" act as the token's user.
func (s *Server) AddToken(t Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[t.Username] == nil {
		return fmt.Errorf("add token for %q: %w", t.Username, ErrUnknownUser)
	}
	if t.Kind == "" {
		t.Kind = "Token"
	}
	s.tokens[tokenKey(t.Kind, t.Key)] = &t
	return nil
}

// Reservations returns every reservation, cancelled and denied included, by id.
func (s *Server) Reservations() []Reservation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Reservation, 0, len(s.reservations))
	for _, r := range s.reservations {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Reservation returns one reservation by id.
func (s *Server) Reservation(id int) (Reservation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reservations[id]
	if r == nil {
		return Reservation{}, false
	}
	return *r, true
}

// ReservationRequest is what a Respa user fills in when reserving.
type ReservationRequest struct {
	ResourceID           string
	Begin, End           time.Time
	EventSubject         string
	EventDescription     string
	ReserverName         string
	ReserverEmailAddress string
	// Comments is sent only when non-nil: Respa refuses the key from non-staff.
	Comments *string
}

func (q ReservationRequest) input() *reservationInput {
	in := &reservationInput{
		present:    map[string]bool{"resource": true, "begin": true, "end": true},
		ResourceID: q.ResourceID, Begin: q.Begin.UTC(), End: q.End.UTC(),
		EventSubject: q.EventSubject, EventDescription: q.EventDescription,
		ReserverName: q.ReserverName, ReserverEmailAddress: q.ReserverEmailAddress,
	}
	for k, v := range map[string]string{
		"event_subject": q.EventSubject, "event_description": q.EventDescription,
		"reserver_name": q.ReserverName, "reserver_email_address": q.ReserverEmailAddress,
	} {
		if v != "" {
			in.present[k] = true
		}
	}
	if q.Comments != nil {
		in.present["comments"] = true
		in.Comments = *q.Comments
	}
	return in
}

func (s *Server) userLocked(username string) (*User, error) {
	u := s.users[username]
	if u == nil {
		return nil, fmt.Errorf("act as %q: %w", username, ErrUnknownUser)
	}
	return u, nil
}

// CreateAs reserves as the named user would through the API, with all of
// Respa's rules; a refusal is an *Error.
func (s *Server) CreateAs(username string, q ReservationRequest) (Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(username)
	if err != nil {
		return Reservation{}, err
	}
	r, aerr := s.create(u, q.input())
	if aerr != nil {
		return Reservation{}, publicError(aerr)
	}
	return *r, nil
}

// MoveAs changes a reservation's times as the named user would with PUT,
// keeping its other fields.
func (s *Server) MoveAs(username string, id int, begin, end time.Time) (Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(username)
	if err != nil {
		return Reservation{}, err
	}
	cur := s.reservations[id]
	if cur == nil {
		return Reservation{}, publicError(detailError(http.StatusNotFound, msgNotFound))
	}
	q := ReservationRequest{
		ResourceID: cur.ResourceID, Begin: begin, End: end,
		EventSubject: cur.EventSubject, EventDescription: cur.EventDescription,
		ReserverName: cur.ReserverName, ReserverEmailAddress: cur.ReserverEmailAddress,
	}
	r, aerr := s.update(u, id, q.input(), false)
	if aerr != nil {
		return Reservation{}, publicError(aerr)
	}
	return *r, nil
}

// UpdateAs edits subject and description as the named user would with PUT.
func (s *Server) UpdateAs(username string, id int, subject, description string) (Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(username)
	if err != nil {
		return Reservation{}, err
	}
	cur := s.reservations[id]
	if cur == nil {
		return Reservation{}, publicError(detailError(http.StatusNotFound, msgNotFound))
	}
	q := ReservationRequest{
		ResourceID: cur.ResourceID, Begin: cur.Begin, End: cur.End,
		EventSubject: subject, EventDescription: description,
		ReserverName: cur.ReserverName, ReserverEmailAddress: cur.ReserverEmailAddress,
	}
	in := q.input()
	in.present["event_subject"], in.present["event_description"] = true, true
	r, aerr := s.update(u, id, in, false)
	if aerr != nil {
		return Reservation{}, publicError(aerr)
	}
	return *r, nil
}

// CancelAs cancels as the named user would with DELETE.
func (s *Server) CancelAs(username string, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(username)
	if err != nil {
		return err
	}
	return publicError(s.cancel(u, id))
}

// SetStateAs changes the state as the named user would with PATCH
// {"state": ...}: how staff confirm or deny a requested reservation.
func (s *Server) SetStateAs(username string, id int, state string) (Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.userLocked(username)
	if err != nil {
		return Reservation{}, err
	}
	if !validStates[state] {
		return Reservation{}, publicError(fieldError("state", fmt.Sprintf("\"%s\" is not a valid choice.", state)))
	}
	in := &reservationInput{present: map[string]bool{"state": true}, State: state}
	r, aerr := s.update(u, id, in, true)
	if aerr != nil {
		return Reservation{}, publicError(aerr)
	}
	return *r, nil
}

// InjectFault adds a fault; the first matching fault wins.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Counters returns requests seen so far by "METHOD kind", where kind is
// reservation-list, reservation-detail, resource-list, resource-detail,
// user, admin or other. Faulted requests count too.
func (s *Server) Counters() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.counters))
	for k, v := range s.counters {
		out[k] = v
	}
	return out
}

// APIRequests sums the counters of everything but the admin interface.
func (s *Server) APIRequests() int64 {
	var n int64
	for k, v := range s.Counters() {
		if !strings.HasSuffix(k, " admin") {
			n += v
		}
	}
	return n
}

// ResetCounters zeroes the request counters.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters = map[string]int64{}
}

// Reset forgets everything: units, resources, users, tokens, reservations,
// faults and counters.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// SeedOptions describe generated sample data.
type SeedOptions struct {
	Units                   int
	Resources               int
	ReservationsPerResource int
	// Seed makes the generated times repeatable.
	Seed uint64
	// Start is where generated reservations begin; zero means the next full hour.
	Start time.Time
}

// Seed generates units, resources and staff-made confirmed reservations
// (one hour each, in a resource's sequence of free slots) and returns the
// resource ids. Reservations are made through the same rules as the API,
// by an internal staff user "seeder".
func (s *Server) Seed(o SeedOptions) ([]string, error) {
	if o.Units <= 0 {
		o.Units = 1
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	start := o.Start
	if start.IsZero() {
		start = s.now().Truncate(time.Hour).Add(time.Hour)
	}
	s.AddUser(User{Username: "seeder", Staff: true, DisplayName: "Seeder"})
	var ids []string
	for u := 0; u < o.Units; u++ {
		s.AddUnit(Unit{ID: fmt.Sprintf("unit-%d", u+1), Name: map[string]string{"fi": fmt.Sprintf("Toimipiste %d", u+1), "en": fmt.Sprintf("Unit %d", u+1)}, TimeZone: "Europe/Helsinki"})
	}
	for i := 0; i < o.Resources; i++ {
		id := fmt.Sprintf("res-%04d", i+1)
		s.AddResource(Resource{
			ID: id, UnitID: fmt.Sprintf("unit-%d", i%o.Units+1), Reservable: true, Public: true,
			Name: map[string]string{"fi": fmt.Sprintf("Huone %d", i+1), "en": fmt.Sprintf("Room %d", i+1)},
		})
		ids = append(ids, id)
		t := start
		for j := 0; j < o.ReservationsPerResource; j++ {
			t = t.Add(time.Duration(rng.IntN(4)) * 30 * time.Minute)
			_, err := s.CreateAs("seeder", ReservationRequest{
				ResourceID: id, Begin: t, End: t.Add(time.Hour),
				EventSubject: fmt.Sprintf("Varaus %d/%d", i+1, j+1), ReserverName: "Seeder",
			})
			if err != nil {
				return nil, fmt.Errorf("seed reservation %d of %s: %w", j+1, id, err)
			}
			t = t.Add(time.Hour)
		}
	}
	return ids, nil
}

// serveAdmin is the JSON admin interface; see the package doc for routes.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/admin/")
	fail := func(status int, err error) {
		var e *Error
		if errors.As(err, &e) {
			writeJSON(w, e.Status, e.Body)
			return
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
	decode := func(v any) bool {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(v); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decode body: %w", err))
			return false
		}
		return true
	}
	as := r.URL.Query().Get("as")
	switch {
	case p == "units" && r.Method == http.MethodPost:
		var u Unit
		if decode(&u) {
			s.AddUnit(u)
			writeJSON(w, http.StatusCreated, u)
		}
	case p == "resources" && r.Method == http.MethodPost:
		res := Resource{Reservable: true, Public: true}
		if decode(&res) {
			s.AddResource(res)
			writeJSON(w, http.StatusCreated, res)
		}
	case p == "users" && r.Method == http.MethodPost:
		var u User
		if decode(&u) {
			s.AddUser(u)
			writeJSON(w, http.StatusCreated, map[string]string{"username": u.Username})
		}
	case p == "tokens" && r.Method == http.MethodPost:
		var t Token
		if decode(&t) {
			if err := s.AddToken(t); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			writeJSON(w, http.StatusCreated, map[string]string{"username": t.Username, "kind": t.Kind})
		}
	case p == "reservations" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Reservations())
	case p == "reservations" && r.Method == http.MethodPost:
		var q adminReservation
		if !decode(&q) {
			return
		}
		rv, err := s.CreateAs(as, q.request())
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, rv)
	case strings.HasPrefix(p, "reservations/"):
		s.adminReservation(w, r, strings.TrimPrefix(p, "reservations/"), as, decode, fail)
	case p == "faults" && r.Method == http.MethodPost:
		var f Fault
		if decode(&f) {
			s.InjectFault(f)
			writeJSON(w, http.StatusCreated, f)
		}
	case p == "faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case p == "counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Counters())
	case p == "counters" && r.Method == http.MethodDelete:
		s.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	case p == "reset" && r.Method == http.MethodPost:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	case p == "seed" && r.Method == http.MethodPost:
		var o SeedOptions
		if !decode(&o) {
			return
		}
		ids, err := s.Seed(o)
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"resources": ids})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no admin route " + r.Method + " " + r.URL.Path})
	}
}

// adminReservation is the admin body for acting as a user.
type adminReservation struct {
	Resource             string    `json:"resource"`
	Begin                time.Time `json:"begin"`
	End                  time.Time `json:"end"`
	EventSubject         string    `json:"event_subject"`
	EventDescription     string    `json:"event_description"`
	ReserverName         string    `json:"reserver_name"`
	ReserverEmailAddress string    `json:"reserver_email_address"`
	Comments             *string   `json:"comments"`
}

func (a adminReservation) request() ReservationRequest {
	return ReservationRequest{
		ResourceID: a.Resource, Begin: a.Begin, End: a.End, EventSubject: a.EventSubject,
		EventDescription: a.EventDescription, ReserverName: a.ReserverName,
		ReserverEmailAddress: a.ReserverEmailAddress, Comments: a.Comments,
	}
}

func (s *Server) adminReservation(w http.ResponseWriter, r *http.Request, rest, as string, decode func(any) bool, fail func(int, error)) {
	idText, action, _ := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	id, err := strconv.Atoi(idText)
	if err != nil {
		fail(http.StatusNotFound, fmt.Errorf("reservation id %q: %w", idText, err))
		return
	}
	var rv Reservation
	switch {
	case action == "" && r.Method == http.MethodGet:
		got, ok := s.Reservation(id)
		if !ok {
			fail(http.StatusNotFound, fmt.Errorf("reservation %d not found", id))
			return
		}
		writeJSON(w, http.StatusOK, got)
		return
	case action == "move" && r.Method == http.MethodPost:
		var q struct{ Begin, End time.Time }
		if !decode(&q) {
			return
		}
		rv, err = s.MoveAs(as, id, q.Begin, q.End)
	case action == "cancel" && r.Method == http.MethodPost:
		if err = s.CancelAs(as, id); err == nil {
			rv, _ = s.Reservation(id)
		}
	case (action == "confirm" || action == "deny") && r.Method == http.MethodPost:
		state := StateConfirmed
		if action == "deny" {
			state = StateDenied
		}
		rv, err = s.SetStateAs(as, id, state)
	default:
		fail(http.StatusNotFound, fmt.Errorf("no admin route %s %s", r.Method, r.URL.Path))
		return
	}
	if err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, rv)
}
