package synctest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	rx "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// Respa is an in-memory Respa resource with Respa's rules: an overlap with an active
// reservation, a time in the past or a subject containing RejectSubject is refused with a
// Rejection; DELETE cancels; every write moves modified_at.
type Respa struct {
	mu         stdsync.Mutex
	res        map[string]*rx.Reservation
	seq        int
	Faults     *Faults
	ResourceID string
	// Now is the simulated clock.
	Now func() time.Time
	// RejectSubject, when not empty, makes Respa refuse reservations whose subject contains it.
	RejectSubject string
	Calls         map[string]int
	// OnCancel, when set, sees every reservation a pass cancels, before it is cancelled.
	OnCancel func(rx.Reservation)
}

// NewRespa returns an empty resource.
func NewRespa(f *Faults, resourceID string, now func() time.Time) *Respa {
	return &Respa{res: make(map[string]*rx.Reservation), Faults: f, ResourceID: resourceID, Now: now, Calls: make(map[string]int)}
}

func (r *Respa) validate(x *rx.Reservation) error {
	if !x.End.After(x.Begin) {
		return &rx.Rejection{Reason: "Validation", Message: "end must be after begin"}
	}
	if !x.End.After(r.Now()) {
		return &rx.Rejection{Reason: "Past", Message: "past reservations cannot be made or changed"}
	}
	if r.RejectSubject != "" && strings.Contains(x.Subject, r.RejectSubject) {
		return &rx.Rejection{Reason: "Validation", Message: "event_subject is not allowed: " + x.Subject}
	}
	for id, o := range r.res {
		if id == x.ID || o.State == rx.StateCancelled || o.State == rx.StateDenied || o.ResourceID != x.ResourceID {
			continue
		}
		if o.Begin.Before(x.End) && x.Begin.Before(o.End) {
			return &rx.Rejection{Reason: "Overlap", Message: "the resource is already reserved for some of the period"}
		}
	}
	return nil
}

// UserCreate makes a confirmed reservation as a person in Respa would, with validation.
func (r *Respa) UserCreate(x rx.Reservation) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x.ID, x.ResourceID = "", r.ResourceID
	if err := r.validate(&x); err != nil {
		return "", err
	}
	if x.State == "" {
		x.State = rx.StateConfirmed
	}
	r.seq++
	x.ID = strconv.Itoa(r.seq)
	x.ModifiedAt = r.Now()
	r.res[x.ID] = &x
	return x.ID, nil
}

// UserModify edits a reservation as a person would; Respa validates the result.
func (r *Respa) UserModify(id string, edit func(*rx.Reservation)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.res[id]
	if o == nil {
		return rx.ErrNotFound
	}
	c := *o
	edit(&c)
	if c.State != rx.StateCancelled && c.State != rx.StateDenied {
		if err := r.validate(&c); err != nil {
			return err
		}
	}
	c.ModifiedAt = r.Now()
	*o = c
	return nil
}

// UserCancel cancels as a person would.
func (r *Respa) UserCancel(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.res[id]; o != nil {
		o.State, o.ModifiedAt = rx.StateCancelled, r.Now()
	}
}

// Reservations returns a copy of all reservations, sorted by id.
func (r *Respa) Reservations() []rx.Reservation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]rx.Reservation, 0, len(r.res))
	for _, x := range r.res {
		out = append(out, *x)
	}
	slices.SortFunc(out, func(a, b rx.Reservation) int {
		ai, _ := strconv.Atoi(a.ID)
		bi, _ := strconv.Atoi(b.ID)
		return ai - bi
	})
	return out
}

// Get returns one reservation.
func (r *Respa) Get(id string) (rx.Reservation, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.res[id]; o != nil {
		return *o, true
	}
	return rx.Reservation{}, false
}

func (r *Respa) count(method string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Calls[method]++
}

// ListWindow lists the reservations overlapping the window, in every state.
func (r *Respa) ListWindow(ctx context.Context, w rx.Window) (rx.ReservationListing, error) {
	r.count("ListWindow")
	if err := r.Faults.call(); err != nil {
		return rx.ReservationListing{}, err
	}
	drop := r.Faults.partial()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := rx.ReservationListing{Complete: drop == nil}
	for _, x := range r.res {
		if overlaps(w, x.Begin, x.End) {
			out.Reservations = append(out.Reservations, *x)
		}
	}
	slices.SortFunc(out.Reservations, func(a, b rx.Reservation) int { return strings.Compare(a.ID, b.ID) })
	if drop != nil {
		out.Reservations = slices.DeleteFunc(out.Reservations, func(rx.Reservation) bool { return drop() })
	}
	return out, nil
}

// Lookup answers by id.
func (r *Respa) Lookup(ctx context.Context, ids []string) ([]rx.ReservationLookup, error) {
	r.count("Lookup")
	if err := r.Faults.call(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]rx.ReservationLookup, len(ids))
	for i, id := range ids {
		if o := r.res[id]; o != nil {
			c := *o
			out[i].Reservation = &c
		} else {
			out[i].Gone = true
		}
	}
	return out, nil
}

func (r *Respa) write() error {
	if err := r.Faults.call(); err != nil {
		return err
	}
	return r.Faults.write()
}

// Create is POST /v1/reservation/.
func (r *Respa) Create(ctx context.Context, x rx.Reservation) (rx.Reservation, error) {
	r.count("Create")
	if err := r.write(); err != nil {
		return rx.Reservation{}, err
	}
	r.mu.Lock()
	x.ID = ""
	if err := r.validate(&x); err != nil {
		r.mu.Unlock()
		return rx.Reservation{}, err
	}
	r.seq++
	x.ID = strconv.Itoa(r.seq)
	x.State = rx.StateConfirmed
	x.ModifiedAt = r.Now()
	c := x
	r.res[x.ID] = &c
	r.mu.Unlock()
	if r.Faults.timeout() {
		return rx.Reservation{}, ErrTimeout
	}
	return x, nil
}

// Update is PUT /v1/reservation/{id}/.
func (r *Respa) Update(ctx context.Context, u rx.ReservationUpdate) (rx.Reservation, error) {
	r.count("Update")
	if err := r.write(); err != nil {
		return rx.Reservation{}, err
	}
	r.mu.Lock()
	o := r.res[u.Reservation.ID]
	if o == nil {
		r.mu.Unlock()
		return rx.Reservation{}, fmt.Errorf("update reservation %s: %w", u.Reservation.ID, rx.ErrNotFound)
	}
	if o.State == rx.StateCancelled || o.State == rx.StateDenied {
		r.mu.Unlock()
		return rx.Reservation{}, &rx.Rejection{Reason: "Validation", Message: "a cancelled reservation cannot be changed"}
	}
	c := u.Reservation
	c.State, c.ResourceID = o.State, o.ResourceID
	if err := r.validate(&c); err != nil {
		r.mu.Unlock()
		return rx.Reservation{}, err
	}
	c.ModifiedAt = r.Now()
	*o = c
	r.mu.Unlock()
	if r.Faults.timeout() {
		return rx.Reservation{}, ErrTimeout
	}
	return c, nil
}

// Cancel is DELETE /v1/reservation/{id}/: the reservation stays, cancelled.
func (r *Respa) Cancel(ctx context.Context, id string) error {
	r.count("Cancel")
	if err := r.write(); err != nil {
		return err
	}
	r.mu.Lock()
	o := r.res[id]
	if o == nil {
		r.mu.Unlock()
		return fmt.Errorf("cancel reservation %s: %w", id, rx.ErrNotFound)
	}
	if r.OnCancel != nil {
		r.OnCancel(*o)
	}
	o.State, o.ModifiedAt = rx.StateCancelled, r.Now()
	r.mu.Unlock()
	if r.Faults.timeout() {
		return ErrTimeout
	}
	return nil
}

// MemoryLedger is a LedgerStore in memory that can lose or corrupt what it holds.
type MemoryLedger struct {
	mu     stdsync.Mutex
	data   []byte
	Faults *Faults
	Saves  int
}

// Load returns the stored bytes (nil when nothing is stored).
func (m *MemoryLedger) Load(ctx context.Context) ([]byte, error) {
	if err := m.Faults.call(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.data), nil
}

// Save stores the bytes; it counts as a write for a planned crash.
func (m *MemoryLedger) Save(ctx context.Context, data []byte) error {
	if err := m.Faults.write(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = slices.Clone(data)
	m.Saves++
	return nil
}

// Bytes returns what is stored.
func (m *MemoryLedger) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.data)
}

// Lose forgets the ledger, as if its ConfigMap was deleted.
func (m *MemoryLedger) Lose() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = nil
}

// Corrupt flips a byte in the middle of the stored ledger.
func (m *MemoryLedger) Corrupt() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.data) > 0 {
		m.data[len(m.data)/2] ^= 0x5a
	}
}
