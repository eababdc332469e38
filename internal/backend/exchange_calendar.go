package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	syncengine "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// ExchangeCalendar is one room's calendar through EWS, as the sync engine sees it.
type ExchangeCalendar struct {
	Client *ews.Client
	Room   string
	// Send says whether writes notify attendees.
	Send ews.SendInvitations
	// Details caches what only GetItem returns (body, attendees, organizer SMTP), keyed by
	// ItemId and ChangeKey: a ChangeKey moves on every change, so a hit is always current and
	// a pass over an unchanged calendar reads nothing but the view.
	Details *DetailCache
	// Writes records what this calendar writes, so its notifications are known as echoes.
	Writes *OwnWrites

	// listed remembers this pass's events by key, to describe failed items to a person.
	listed map[syncengine.EventKey]syncengine.Event
}

// Describe names the event behind a key as a person knows it: subject and time.
func (c *ExchangeCalendar) Describe(key string) string {
	e, ok := c.listed[syncengine.EventKey(key)]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%q %s–%s UTC", e.Subject, e.Start.UTC().Format("2006-01-02 15:04"), e.End.UTC().Format("15:04"))
}

var _ syncengine.ExchangeCalendar = (*ExchangeCalendar)(nil)

// occurrenceSearch is how far from its original start an occurrence is looked for when its
// ItemId no longer resolves: Exchange refuses to move an occurrence past its neighbours, so a
// weekly series keeps each within a week.
const occurrenceSearch = 8 * 24 * time.Hour

// ListWindow lists the calendar view of the window with the details the engine hashes.
func (c *ExchangeCalendar) ListWindow(ctx context.Context, w syncengine.Window) (syncengine.EventListing, error) {
	items, err := c.Client.FindCalendarView(ctx, c.Room, w.Start, w.End)
	if err != nil {
		return syncengine.EventListing{}, fmt.Errorf("list calendar of %s: %w", c.Room, err)
	}
	if err := c.fillDetails(ctx, items); err != nil {
		return syncengine.EventListing{}, err
	}
	events := make([]syncengine.Event, 0, len(items))
	for i := range items {
		if items[i].CalendarItemType == ews.RecurringMaster {
			continue
		}
		events = append(events, toEvent(&items[i]))
	}
	if c.listed == nil {
		c.listed = make(map[syncengine.EventKey]syncengine.Event, len(events))
	}
	for i := range events {
		c.listed[events[i].Key()] = events[i]
	}
	return syncengine.EventListing{Events: events, Complete: true}, nil
}

// fillDetails completes items from the cache and reads the rest with GetItem in batches.
func (c *ExchangeCalendar) fillDetails(ctx context.Context, items []ews.CalendarItem) error {
	var missing []string
	index := map[string]int{}
	for i := range items {
		if d, ok := c.Details.get(items[i].ItemID, items[i].ChangeKey); ok {
			d.applyTo(&items[i])
			continue
		}
		index[items[i].ItemID] = i
		missing = append(missing, items[i].ItemID)
	}
	if len(missing) == 0 {
		return nil
	}
	full, errs, err := c.Client.GetCalendarItems(ctx, c.Room, missing)
	if err != nil {
		return fmt.Errorf("read calendar items of %s: %w", c.Room, err)
	}
	for i, it := range full {
		if i < len(errs) && errs[i] != nil {
			// Gone between the view and GetItem; the view's fields stand, and the next
			// pass sees the deletion.
			continue
		}
		j, ok := index[it.ItemID]
		if !ok && i < len(missing) {
			j, ok = index[missing[i]]
		}
		if !ok {
			continue
		}
		d := detailsOf(&it)
		d.applyTo(&items[j])
		c.Details.put(it.ItemID, it.ChangeKey, d)
	}
	return nil
}

// LookupEvents finds linked events that are missing from a complete listing.
func (c *ExchangeCalendar) LookupEvents(ctx context.Context, refs []syncengine.EventRef) ([]syncengine.EventLookup, error) {
	out := make([]syncengine.EventLookup, len(refs))
	var ids []string
	var at []int
	for i, r := range refs {
		if r.ItemID != "" {
			ids = append(ids, r.ItemID)
			at = append(at, i)
		}
	}
	if len(ids) > 0 {
		items, errs, err := c.Client.GetCalendarItems(ctx, c.Room, ids)
		if err != nil {
			return nil, fmt.Errorf("look up calendar items of %s: %w", c.Room, err)
		}
		for k, i := range at {
			switch {
			case k < len(errs) && errs[k] != nil:
				if !errors.Is(errs[k], ews.ErrItemNotFound) {
					continue // cannot tell: neither found nor gone
				}
				if refs[i].RecurrenceID.IsZero() {
					out[i].Gone = true
				}
			case k < len(items):
				if items[k].IsCancelled || items[k].UID != refs[i].UID {
					// A cancelled meeting, or an id now naming another occurrence.
					if items[k].IsCancelled {
						e := toEvent(&items[k])
						out[i].Event = &e
					}
					continue
				}
				e := toEvent(&items[k])
				out[i].Event = &e
			}
		}
	}
	// Creates whose outcome is unknown (no ItemId was ever recorded): the event, if it was
	// made, carries the deterministic UID, and a complete listing of the window it was made in
	// would have shown it. Not in this pass's listing means it was never made.
	for i, r := range refs {
		if r.ItemID != "" || out[i].Event != nil || c.listed == nil {
			continue
		}
		if e, ok := c.listed[syncengine.KeyOf(r.UID, r.RecurrenceID)]; ok {
			out[i].Event = &e
			continue
		}
		if r.RecurrenceID.IsZero() {
			out[i].Gone = true
		}
	}
	// Occurrences whose ItemId no longer resolves: look for UID and recurrence id in a view
	// around the original start.
	for i, r := range refs {
		if out[i].Event != nil || out[i].Gone || r.RecurrenceID.IsZero() {
			continue
		}
		items, err := c.Client.FindCalendarView(ctx, c.Room, r.RecurrenceID.Add(-occurrenceSearch), r.RecurrenceID.Add(occurrenceSearch))
		if err != nil {
			continue
		}
		found := false
		for k := range items {
			if items[k].UID == r.UID && items[k].RecurrenceID.Equal(r.RecurrenceID) {
				if err := c.fillDetails(ctx, items[k:k+1]); err == nil {
					e := toEvent(&items[k])
					out[i].Event = &e
					found = true
				}
				break
			}
		}
		if !found && out[i].Event == nil {
			out[i].Gone = true
		}
	}
	return out, nil
}

// ResolveNames resolves EX addresses through ResolveNames, one call each.
func (c *ExchangeCalendar) ResolveNames(ctx context.Context, addresses []string) (map[string]syncengine.Person, error) {
	out := map[string]syncengine.Person{}
	for _, a := range addresses {
		m, err := c.Client.ResolveNames(ctx, c.Room, a)
		if err != nil {
			if ews.IsTemporary(err) {
				return out, err
			}
			continue
		}
		out[a] = syncengine.Person{Name: m.Name, Email: m.Email, RoutingType: "SMTP"}
	}
	return out, nil
}

// CreateEvents creates events born in Respa, with their identity stamp.
func (c *ExchangeCalendar) CreateEvents(ctx context.Context, events []syncengine.Event) ([]syncengine.EventResult, error) {
	items := make([]ews.CalendarItem, len(events))
	for i, e := range events {
		items[i] = fromEvent(e)
	}
	outcomes, err := c.Client.CreateCalendarItems(ctx, c.Room, items, c.Send)
	if err != nil {
		return nil, fmt.Errorf("create events in %s: %w", c.Room, err)
	}
	return c.results(events, outcomes), nil
}

// results pairs the written events with EWS's per-item outcomes, in order.
func (c *ExchangeCalendar) results(events []syncengine.Event, outcomes []ews.Outcome) []syncengine.EventResult {
	res := make([]syncengine.EventResult, len(events))
	for i := range events {
		if i >= len(outcomes) {
			res[i].Err = errors.New("no answer for this item")
			continue
		}
		o := outcomes[i]
		if o.Err != nil {
			res[i].Err = itemError(o.Err)
			continue
		}
		e := events[i]
		e.ItemID, e.ChangeKey = o.ItemID.ID, o.ItemID.ChangeKey
		c.Writes.Wrote(e.ItemID, e.ChangeKey)
		res[i].Event = &e
	}
	return res
}

// UpdateEvents writes the changed fields with the listed ChangeKey, so an edit made since
// the listing is not overwritten: it fails as a conflict and the next pass sees it.
func (c *ExchangeCalendar) UpdateEvents(ctx context.Context, updates []syncengine.EventUpdate) ([]syncengine.EventResult, error) {
	changes := make([]ews.ItemChange, len(updates))
	for i, u := range updates {
		item := fromEvent(u.Event)
		var fields []ews.Field
		if u.Fields&syncengine.FieldTime != 0 {
			fields = append(fields, ews.FieldStart, ews.FieldEnd, ews.FieldIsAllDay)
		}
		if u.Fields&syncengine.FieldSubject != 0 {
			fields = append(fields, ews.FieldSubject)
		}
		if u.Fields&syncengine.FieldBody != 0 {
			fields = append(fields, ews.FieldBody)
		}
		if u.Fields&syncengine.FieldLocation != 0 {
			fields = append(fields, ews.FieldLocation)
		}
		changes[i] = ews.ItemChange{Item: item, Fields: fields}
	}
	outcomes, err := c.Client.UpdateCalendarItems(ctx, c.Room, changes, ews.NeverOverwrite, c.Send)
	if err != nil {
		return nil, fmt.Errorf("update events in %s: %w", c.Room, err)
	}
	events := make([]syncengine.Event, len(updates))
	for i, u := range updates {
		events[i] = u.Event
	}
	return c.results(events, outcomes), nil
}

// DeleteEvents deletes events; one that is already gone counts as deleted.
func (c *ExchangeCalendar) DeleteEvents(ctx context.Context, refs []syncengine.EventRef) ([]error, error) {
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ItemID
	}
	outcomes, err := c.Client.DeleteCalendarItems(ctx, c.Room, ids, c.Send)
	if err != nil {
		return nil, fmt.Errorf("delete events in %s: %w", c.Room, err)
	}
	errs := make([]error, len(refs))
	for i := range refs {
		switch {
		case i >= len(outcomes):
			errs[i] = errors.New("no answer for this item")
		case outcomes[i].Gone:
		case outcomes[i].Err != nil:
			errs[i] = itemError(outcomes[i].Err)
		default:
			c.Writes.Deleted(ids[i])
		}
	}
	return errs, nil
}

// itemError maps a per-item EWS error onto the engine's vocabulary.
func itemError(err error) error {
	switch {
	case errors.Is(err, ews.ErrItemNotFound):
		return fmt.Errorf("%w: %v", syncengine.ErrNotFound, err)
	case errors.Is(err, ews.ErrConflict):
		return fmt.Errorf("%w: %v", syncengine.ErrConflict, err)
	}
	return err
}

func toEvent(it *ews.CalendarItem) syncengine.Event {
	e := syncengine.Event{
		ItemID:       it.ItemID,
		ChangeKey:    it.ChangeKey,
		UID:          it.UID,
		RecurrenceID: it.RecurrenceID,
		Subject:      it.Subject,
		Body:         it.Body,
		Location:     it.Location,
		Start:        it.Start.UTC(),
		End:          it.End.UTC(),
		AllDay:       it.IsAllDay,
		Cancelled:    it.IsCancelled,
		Organizer:    syncengine.Person{Name: it.Organizer.Name, Email: it.Organizer.Email, RoutingType: it.Organizer.RoutingType},
		Link:         it.ExtendedProperties[ews.PropertyLink],
	}
	switch it.CalendarItemType {
	case ews.Occurrence:
		e.Kind = syncengine.Occurrence
	case ews.Exception:
		e.Kind = syncengine.Exception
	}
	for _, a := range it.RequiredAttendees {
		e.RequiredAttendees = append(e.RequiredAttendees, syncengine.Person{Name: a.Mailbox.Name, Email: a.Mailbox.Email, RoutingType: a.Mailbox.RoutingType})
	}
	return e
}

func fromEvent(e syncengine.Event) ews.CalendarItem {
	it := ews.CalendarItem{
		ItemID:    e.ItemID,
		ChangeKey: e.ChangeKey,
		UID:       e.UID,
		Subject:   e.Subject,
		Body:      e.Body,
		BodyType:  ews.BodyText,
		Location:  e.Location,
		Start:     e.Start,
		End:       e.End,
		IsAllDay:  e.AllDay,
	}
	if e.Link != "" {
		it.ExtendedProperties = map[string]string{ews.PropertyLink: e.Link}
	}
	return it
}

// DetailCache remembers GetItem details by ItemId and ChangeKey.
type DetailCache struct {
	mu      sync.Mutex
	entries map[string]details
}

type details struct {
	changeKey string
	body      string
	organizer ews.Mailbox
	required  []ews.Attendee
	uid       string
	link      string
}

func detailsOf(it *ews.CalendarItem) details {
	return details{changeKey: it.ChangeKey, body: it.Body, organizer: it.Organizer, required: it.RequiredAttendees, uid: it.UID, link: it.ExtendedProperties[ews.PropertyLink]}
}

func (d details) applyTo(it *ews.CalendarItem) {
	it.Body = d.body
	if d.organizer.Email != "" {
		it.Organizer = d.organizer
	}
	it.RequiredAttendees = d.required
	if it.UID == "" {
		it.UID = d.uid
	}
	if d.link != "" {
		if it.ExtendedProperties == nil {
			it.ExtendedProperties = map[string]string{}
		}
		if it.ExtendedProperties[ews.PropertyLink] == "" {
			it.ExtendedProperties[ews.PropertyLink] = d.link
		}
	}
}

// maxDetails bounds the cache; past it the cache starts over, which costs one round of
// GetItem calls and nothing else.
const maxDetails = 50000

func (c *DetailCache) get(id, changeKey string) (details, bool) {
	if c == nil {
		return details{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.entries[id]
	return d, ok && d.changeKey == changeKey && changeKey != ""
}

func (c *DetailCache) put(id, changeKey string, d details) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxDetails {
		c.entries = map[string]details{}
	}
	d.changeKey = changeKey
	c.entries[id] = d
}
