package synctest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	rx "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// Exchange is an in-memory room calendar that behaves like Exchange where it matters to the
// engine: every change gets a new ChangeKey, an update with a stale ChangeKey is a conflict,
// a change to a series gives its occurrences new ItemIds (and a time change new recurrence
// ids, dropping exceptions), and an edited occurrence becomes an exception.
type Exchange struct {
	mu     stdsync.Mutex
	items  map[string]*rx.Event
	seq    int
	Faults *Faults
	// Names answers ResolveNames (X500 address → person).
	Names map[string]rx.Person
	// Calls counts calls by method, to measure a pass.
	Calls map[string]int
	// OnDelete, when set, sees every event a pass deletes, before it goes. It runs under the
	// calendar's lock and must not call back into it.
	OnDelete func(rx.Event)
}

// NewExchange returns an empty calendar.
func NewExchange(f *Faults) *Exchange {
	return &Exchange{items: make(map[string]*rx.Event), Faults: f, Names: make(map[string]rx.Person), Calls: make(map[string]int)}
}

func (x *Exchange) newID() (string, string) {
	x.seq++
	return fmt.Sprintf("AAMkAD%06d=", x.seq), fmt.Sprintf("CQAAAB%06d", x.seq)
}

func (x *Exchange) bump(e *rx.Event) {
	x.seq++
	e.ChangeKey = fmt.Sprintf("CQAAAB%06d", x.seq)
}

// Add stores a single event as a person would create it and returns its ItemId.
func (x *Exchange) Add(e rx.Event) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	e.ItemID, e.ChangeKey = x.newID()
	if e.UID == "" {
		e.UID = fmt.Sprintf("040000008200E00074C5B7101A82E0080000000%08X", x.seq)
	}
	x.items[e.ItemID] = &e
	return e.ItemID
}

// AddSeries stores count occurrences of a series, every interval, from first.
func (x *Exchange) AddSeries(proto rx.Event, count int, interval time.Duration) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	uid := fmt.Sprintf("040000008200E00074C5B7101A82E0080000000%08XS", x.seq)
	dur := proto.End.Sub(proto.Start)
	for i := range count {
		e := proto
		e.UID, e.Kind = uid, rx.Occurrence
		e.Start = proto.Start.Add(time.Duration(i) * interval)
		e.End = e.Start.Add(dur)
		e.RecurrenceID = e.Start
		e.ItemID, e.ChangeKey = x.newID()
		x.items[e.ItemID] = &e
	}
	return uid
}

// Modify applies a person's edit to one item; an occurrence becomes an exception.
func (x *Exchange) Modify(itemID string, edit func(*rx.Event)) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.items[itemID]
	if e == nil {
		return false
	}
	edit(e)
	if e.Kind == rx.Occurrence {
		e.Kind = rx.Exception
	}
	x.bump(e)
	return true
}

// Touch saves an item without changing anything (a new ChangeKey only).
func (x *Exchange) Touch(itemID string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.items[itemID]; e != nil {
		x.bump(e)
	}
}

// Delete removes one item (an occurrence is deleted from its series).
func (x *Exchange) Delete(itemID string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.items[itemID]
	delete(x.items, itemID)
	return ok
}

// EditSeries changes every member of a series. Its occurrences get new ItemIds; a time
// shift moves their recurrence ids too and turns exceptions back into plain occurrences.
func (x *Exchange) EditSeries(uid string, shift time.Duration, edit func(*rx.Event)) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	var members []*rx.Event
	for _, e := range x.items {
		if e.UID == uid && e.Kind != rx.Single {
			members = append(members, e)
		}
	}
	slices.SortFunc(members, func(a, b *rx.Event) int { return a.RecurrenceID.Compare(b.RecurrenceID) })
	for _, e := range members {
		delete(x.items, e.ItemID)
		if shift != 0 {
			dur := e.End.Sub(e.Start)
			e.RecurrenceID = e.RecurrenceID.Add(shift)
			e.Start, e.End = e.RecurrenceID, e.RecurrenceID.Add(dur)
			e.Kind = rx.Occurrence
		}
		if edit != nil {
			edit(e)
		}
		e.ItemID, e.ChangeKey = x.newID()
		x.items[e.ItemID] = e
	}
	return len(members)
}

// Events returns a copy of every item, sorted by key.
func (x *Exchange) Events() []rx.Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]rx.Event, 0, len(x.items))
	for _, e := range x.items {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b rx.Event) int { return strings.Compare(string(a.Key()), string(b.Key())) })
	return out
}

// Find returns the item with the given key.
func (x *Exchange) Find(key rx.EventKey) (rx.Event, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.items {
		if e.Key() == key {
			return *e, true
		}
	}
	return rx.Event{}, false
}

func (x *Exchange) count(method string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.Calls[method]++
}

// ListWindow lists the items overlapping the window, as a CalendarView does.
func (x *Exchange) ListWindow(ctx context.Context, w rx.Window) (rx.EventListing, error) {
	x.count("ListWindow")
	if err := x.Faults.call(); err != nil {
		return rx.EventListing{}, err
	}
	drop := x.Faults.partial()
	x.mu.Lock()
	defer x.mu.Unlock()
	out := rx.EventListing{Complete: drop == nil}
	for _, e := range x.items {
		if overlaps(w, e.Start, e.End) {
			out.Events = append(out.Events, *e)
		}
	}
	// Sorted before dropping, so that a seeded scenario replays exactly.
	slices.SortFunc(out.Events, func(a, b rx.Event) int { return strings.Compare(a.ItemID, b.ItemID) })
	if drop != nil {
		out.Events = slices.DeleteFunc(out.Events, func(rx.Event) bool { return drop() })
	}
	return out, nil
}

func overlaps(w rx.Window, start, end time.Time) bool {
	if end.Equal(start) {
		return !start.Before(w.Start) && start.Before(w.End)
	}
	return end.After(w.Start) && start.Before(w.End)
}

// LookupEvents answers by ItemId, then by UID and recurrence id (as a backend that reads the
// series master's modified and deleted occurrences would): the item, or gone.
func (x *Exchange) LookupEvents(ctx context.Context, refs []rx.EventRef) ([]rx.EventLookup, error) {
	x.count("LookupEvents")
	if err := x.Faults.call(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]rx.EventLookup, len(refs))
	for i, r := range refs {
		e := x.items[r.ItemID]
		if e == nil {
			for _, c := range x.items {
				if c.UID == r.UID && c.RecurrenceID.Equal(r.RecurrenceID) {
					e = c
					break
				}
			}
		}
		if e != nil {
			c := *e
			out[i].Event = &c
		} else {
			out[i].Gone = true
		}
	}
	return out, nil
}

// ResolveNames answers from Names.
func (x *Exchange) ResolveNames(ctx context.Context, addresses []string) (map[string]rx.Person, error) {
	x.count("ResolveNames")
	if err := x.Faults.call(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]rx.Person)
	for _, a := range addresses {
		if p, ok := x.Names[a]; ok {
			out[a] = p
		}
	}
	return out, nil
}

// CreateEvents stores new items; the UID we send is kept, as EWS does.
func (x *Exchange) CreateEvents(ctx context.Context, events []rx.Event) ([]rx.EventResult, error) {
	x.count("CreateEvents")
	if err := x.Faults.call(); err != nil {
		return nil, err
	}
	out := make([]rx.EventResult, len(events))
	for i, e := range events {
		if err := x.Faults.write(); err != nil {
			return nil, err
		}
		x.mu.Lock()
		e.ItemID, e.ChangeKey = x.newID()
		if e.UID == "" {
			e.UID = fmt.Sprintf("040000008200E00074C5B7101A82E0080000000%08X", x.seq)
		}
		c := e
		x.items[e.ItemID] = &c
		x.mu.Unlock()
		out[i].Event = &e
	}
	if x.Faults.timeout() {
		return nil, ErrTimeout
	}
	return out, nil
}

// UpdateEvents applies the listed fields; a stale ChangeKey is a conflict.
func (x *Exchange) UpdateEvents(ctx context.Context, updates []rx.EventUpdate) ([]rx.EventResult, error) {
	x.count("UpdateEvents")
	if err := x.Faults.call(); err != nil {
		return nil, err
	}
	out := make([]rx.EventResult, len(updates))
	for i, u := range updates {
		if err := x.Faults.write(); err != nil {
			return nil, err
		}
		x.mu.Lock()
		e := x.items[u.Event.ItemID]
		switch {
		case e == nil:
			out[i].Err = fmt.Errorf("update %s: %w", u.Event.ItemID, rx.ErrNotFound)
		case u.Event.ChangeKey != "" && u.Event.ChangeKey != e.ChangeKey:
			out[i].Err = fmt.Errorf("update %s: %w", u.Event.ItemID, rx.ErrConflict)
		case x.Faults.conflict():
			out[i].Err = fmt.Errorf("update %s: %w", u.Event.ItemID, rx.ErrConflict)
		default:
			if u.Fields&rx.FieldTime != 0 {
				e.Start, e.End, e.AllDay = u.Event.Start, u.Event.End, u.Event.AllDay
			}
			if u.Fields&rx.FieldSubject != 0 {
				e.Subject = u.Event.Subject
			}
			if u.Fields&rx.FieldBody != 0 {
				e.Body = u.Event.Body
			}
			if u.Fields&rx.FieldLocation != 0 {
				e.Location = u.Event.Location
			}
			if e.Kind == rx.Occurrence {
				e.Kind = rx.Exception
			}
			x.bump(e)
			c := *e
			out[i].Event = &c
		}
		x.mu.Unlock()
	}
	if x.Faults.timeout() {
		return nil, ErrTimeout
	}
	return out, nil
}

// DeleteEvents removes items; a missing one is ErrNotFound.
func (x *Exchange) DeleteEvents(ctx context.Context, refs []rx.EventRef) ([]error, error) {
	x.count("DeleteEvents")
	if err := x.Faults.call(); err != nil {
		return nil, err
	}
	out := make([]error, len(refs))
	for i, r := range refs {
		if err := x.Faults.write(); err != nil {
			return nil, err
		}
		x.mu.Lock()
		e := x.items[r.ItemID]
		if e == nil {
			out[i] = fmt.Errorf("delete %s: %w", r.ItemID, rx.ErrNotFound)
		} else {
			if x.OnDelete != nil {
				x.OnDelete(*e)
			}
			delete(x.items, r.ItemID)
		}
		x.mu.Unlock()
	}
	if x.Faults.timeout() {
		return nil, ErrTimeout
	}
	return out, nil
}
