package sync

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Input is everything one pass knows before it decides.
type Input struct {
	Exchange ExchangeView
	Respa    RespaView
	// Ledger is the previous pass's ledger; empty when it was lost or is corrupt.
	Ledger  Ledger
	Options Options
	// Names maps EX (X500) addresses to resolved people; the runner fills it before planning.
	Names map[string]Person
}

// ExchangeView is the room calendar as listed for the window.
type ExchangeView struct {
	Events []Event
	// Complete is true only when the listing covered the whole window. A view that is not
	// complete never leads to creates on its side (the item might exist unseen) nor to
	// deletions on the other side.
	Complete bool
	// Gone holds linked events that were missing from the listing and that the backend
	// confirmed no longer exist. Only a confirmed absence deletes: an item can also vanish
	// from a listing because it moved out of the window.
	Gone map[EventKey]bool
}

// RespaView is the resource's reservations as listed for the window, cancelled ones included.
type RespaView struct {
	Reservations []Reservation
	Complete     bool
	// Gone holds linked reservations missing from the listing that Respa no longer has.
	Gone map[string]bool
}

// Fields says which fields an update writes.
type Fields uint8

const (
	FieldTime Fields = 1 << iota
	FieldSubject
	FieldBody
	FieldLocation
	FieldReserver
)

func (f Fields) String() string {
	var parts []string
	for _, x := range []struct {
		f    Fields
		name string
	}{{FieldTime, "time"}, {FieldSubject, "subject"}, {FieldBody, "body"}, {FieldLocation, "location"}, {FieldReserver, "reserver"}} {
		if f&x.f != 0 {
			parts = append(parts, x.name)
		}
	}
	return strings.Join(parts, ",")
}

// EventRef addresses an existing event for a delete or a lookup. UID and RecurrenceID repeat
// the key for backends that find an occurrence through its series.
type EventRef struct {
	Key          EventKey
	UID          string
	RecurrenceID time.Time
	ItemID       string
	ChangeKey    string
	// Link is our stamp when the event was born in Respa, for backends that find events by
	// extended property (Graph cannot set a UID of ours).
	Link string
}

// refOf builds the reference of a key and ItemId.
func refOf(k EventKey, itemID, changeKey string) EventRef {
	uid, rid := ParseKey(k)
	return EventRef{Key: k, UID: uid, RecurrenceID: rid, ItemID: itemID, ChangeKey: changeKey}
}

// EventCreate makes the event of a Respa-born reservation.
type EventCreate struct {
	Event         Event
	ReservationID string
	Reason        string
	effect        int
}

// EventUpdate carries the whole desired event (with the listed ItemId and ChangeKey) and
// the fields that differ, so a backend may send only those.
type EventUpdate struct {
	Event  Event
	Fields Fields
	Reason string
	effect int
}

// EventDelete removes an event whose reservation was cancelled or denied.
type EventDelete struct {
	Ref    EventRef
	Reason string
	effect int
}

// ReservationCreate makes the reservation of an Exchange-born event; Key is that event.
type ReservationCreate struct {
	Reservation Reservation
	Key         EventKey
	Reason      string
	effect      int
}

// ReservationUpdate carries the whole desired reservation (Respa's PUT wants all of it).
type ReservationUpdate struct {
	Reservation Reservation
	Fields      Fields
	Reason      string
	effect      int
}

// ReservationCancel cancels a reservation (Respa's DELETE cancels, it does not erase).
type ReservationCancel struct {
	ID     string
	Reason string
	effect int
}

// Skip is an item the pass saw and deliberately left alone.
type Skip struct {
	Side   Side
	Item   string
	Reason string
}

// GuardTrip reports a side whose deletes were withheld by the mass-deletion guard.
type GuardTrip struct {
	Side    Side
	Deletes int
	Linked  int
	Percent int
}

func (g GuardTrip) String() string {
	return fmt.Sprintf("%d deletes in %s exceed %d%% of %d linked pairs; acknowledge to proceed", g.Deletes, g.Side, g.Percent, g.Linked)
}

// Plan is the outcome of PlanPass: the writes per side, what was skipped and why, and the
// ledger the resource will have once every write succeeded.
type Plan struct {
	EventCreates       []EventCreate
	EventUpdates       []EventUpdate
	EventDeletes       []EventDelete
	ReservationCreates []ReservationCreate
	ReservationUpdates []ReservationUpdate
	ReservationCancels []ReservationCancel

	Skips []Skip
	Guard []GuardTrip
	// Rebuilt counts links recovered from identity markers without a ledger record.
	Rebuilt int

	// Ledger is the next ledger if every write succeeds.
	Ledger Ledger

	base    Ledger
	effects []effect
}

// Writes counts the planned writes on both sides.
func (p *Plan) Writes() int {
	return len(p.EventCreates) + len(p.EventUpdates) + len(p.EventDeletes) +
		len(p.ReservationCreates) + len(p.ReservationUpdates) + len(p.ReservationCancels)
}

// group is a set of synced fields whose changes are detected together.
type group uint8

const (
	groupTime group = 1 << iota
	groupText
)

const (
	exSide  = 0
	resSide = 1
)

type status int8

const (
	statusPending status = iota
	statusOK
	statusFailed  // outcome unknown (a timeout, a 5xx): the write may have landed
	statusRefused // the other side answered that it did not make the write
)

// effect is what a pair's writes do to its ledger entry, resolved as outcomes arrive so that
// the ledger saved after a batch records exactly what is known to have happened.
type effect struct {
	before *Entry // entry before the pass, nil if none
	intent *Entry // create: saved before the write
	post   Entry  // entry once every write of the pair succeeded
	writes [2]group
	status [2]status
	// unsettled are groups that stay as they were (a write skipped for being in the past).
	unsettled group
	remove    bool
	withheld  bool // by the mass-deletion guard: not carried out at all
}

// entry resolves the ledger entry of an effect; false means no entry.
func (f *effect) entry() (Entry, bool) {
	switch {
	case f.remove:
		side := exSide
		if f.writes[resSide] != 0 {
			side = resSide
		}
		if f.status[side] == statusOK || f.before == nil {
			return Entry{}, false
		}
		e := *f.before
		if f.status[side] != statusRefused {
			// The delete may still land: if the item is gone next time, it was us.
			e.InFlight |= deleteBit(side)
		}
		return e, true
	case f.intent != nil:
		side := exSide
		if f.writes[resSide] != 0 {
			side = resSide
		}
		switch f.status[side] {
		case statusOK:
			return f.post, true
		case statusRefused:
			// Nothing was created: the intent is moot and the create is planned afresh.
			if f.before == nil {
				return Entry{}, false
			}
			return *f.before, true
		}
		return *f.intent, true
	}
	e := f.post
	var old [2]Hash
	if f.before != nil {
		old = [2]Hash{f.before.Exchange, f.before.Respa}
	}
	for _, g := range []group{groupTime, groupText} {
		settled := f.unsettled&g == 0
		for side := range 2 {
			if f.writes[side]&g != 0 && f.status[side] != statusOK {
				settled = false
			}
		}
		if settled {
			continue
		}
		if g == groupTime {
			e.Exchange.Time, e.Respa.Time = old[0].Time, old[1].Time
		} else {
			e.Exchange.Text, e.Respa.Text = old[0].Text, old[1].Text
		}
	}
	// A write not known to have landed may still land (a timeout, a crash): remember the
	// pair as it will be if it did, and which side it targets, so that the next pass can tell
	// our write from a person's edit either way.
	for _, g := range []group{groupTime, groupText} {
		for side := range 2 {
			if f.writes[side]&g == 0 || f.status[side] == statusOK {
				continue
			}
			e.InFlight |= flightBit(g, side)
			e.ExchangeAlt = e.ExchangeAlt.with(g, f.post.Exchange)
			e.RespaAlt = e.RespaAlt.with(g, f.post.Respa)
		}
	}
	return e, true
}

// deleteBit marks a delete (exSide) or cancellation (resSide) as in flight.
func deleteBit(side int) uint8 { return 16 << side }

// flightBit marks a write of group g to side (exSide or resSide) as in flight.
func flightBit(g group, side int) uint8 {
	b := uint8(1) << side
	if g == groupText {
		b <<= 2
	}
	return b
}

// with copies the halves of group g from src.
func (h Hash) with(g group, src Hash) Hash {
	if g&groupTime != 0 {
		h.Time = src.Time
	}
	if g&groupText != 0 {
		h.Text = src.Text
	}
	return h
}

// planner holds the indexes of one PlanPass call.
type planner struct {
	s    *settings
	in   *Input
	plan *Plan

	events  map[EventKey]*Event
	res     map[string]*Reservation
	stamped map[string]*Event         // reservation id → event stamped with it
	marked  map[EventKey]*Reservation // event key → reservation carrying its marker
	doneEv  map[EventKey]bool
	doneRes map[string]bool
}

// PlanPass decides one pass. It is pure: the same input gives the same plan.
func PlanPass(in Input) (*Plan, error) {
	s, err := in.Options.compile()
	if err != nil {
		return nil, err
	}
	p := &planner{
		s: s, in: &in, plan: &Plan{},
		events:  make(map[EventKey]*Event, len(in.Exchange.Events)),
		res:     make(map[string]*Reservation, len(in.Respa.Reservations)),
		stamped: make(map[string]*Event),
		marked:  make(map[EventKey]*Reservation),
		doneEv:  make(map[EventKey]bool, len(in.Exchange.Events)),
		doneRes: make(map[string]bool, len(in.Respa.Reservations)),
	}
	p.plan.base = Ledger{Instance: s.Instance, entries: make(map[EventKey]Entry, in.Ledger.Len())}
	p.index()
	for _, old := range in.Ledger.Entries() {
		p.entry(old)
	}
	if err := p.unlinked(); err != nil {
		return nil, err
	}
	p.guard()
	p.plan.Ledger = p.plan.simulate()
	return p.plan, nil
}

func (p *planner) skip(side Side, item, format string, args ...any) {
	p.plan.Skips = append(p.plan.Skips, Skip{Side: side, Item: item, Reason: fmt.Sprintf(format, args...)})
}

func (p *planner) index() {
	for i := range p.in.Exchange.Events {
		e := &p.in.Exchange.Events[i]
		if e.UID == "" {
			p.skip(SideExchange, e.ItemID, "event has no UID")
			continue
		}
		k := e.Key()
		if _, dup := p.events[k]; dup {
			p.skip(SideExchange, string(k), "listed twice")
			continue
		}
		p.events[k] = e
		if inst, id, ok := ParseLink(e.Link); ok && inst == p.s.Instance {
			if prev := p.stamped[id]; prev == nil || prev.Cancelled && !e.Cancelled {
				p.stamped[id] = e
			}
		}
	}
	for i := range p.in.Respa.Reservations {
		r := &p.in.Respa.Reservations[i]
		if p.s.ResourceID != "" && r.ResourceID != p.s.ResourceID {
			continue
		}
		if _, dup := p.res[r.ID]; dup {
			p.skip(SideRespa, r.ID, "listed twice")
			continue
		}
		p.res[r.ID] = r
		if k, ok := ParseMarker(r.Comments); ok {
			prev := p.marked[k]
			// Prefer an active reservation, then the oldest; a second one is never a reason to delete.
			if prev == nil || !prev.State.active() && r.State.active() ||
				prev.State.active() == r.State.active() && lessID(r.ID, prev.ID) {
				p.marked[k] = r
			}
		}
	}
}

// lessID orders Respa ids numerically when they are numbers.
func lessID(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func (p *planner) entry(old Entry) {
	e := p.events[old.Key]
	if e != nil && p.doneEv[old.Key] {
		e = nil
	}
	if e == nil && old.Origin == FromRespa && old.ReservationID != "" {
		// The backend may have keyed the event differently from our UID (Graph sets its own).
		if s := p.stamped[old.ReservationID]; s != nil && !p.doneEv[s.Key()] {
			if _, owned := p.in.Ledger.Get(s.Key()); !owned {
				e = s
			}
		}
	}
	var r *Reservation
	if old.ReservationID != "" {
		r = p.res[old.ReservationID]
	} else {
		r = p.marked[old.Key]
	}
	if r != nil && p.doneRes[r.ID] {
		r = nil
	}
	if e != nil {
		p.doneEv[e.Key()] = true
	}
	if r != nil {
		p.doneRes[r.ID] = true
	}
	p.pair(&old, old.Origin, old.Key, e, r)
}

func (p *planner) unlinked() error {
	keys := make([]EventKey, 0, len(p.events))
	for k := range p.events {
		if !p.doneEv[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var byUID map[string]string // RespaUID → reservation id, built only when needed
	for _, k := range keys {
		e := p.events[k]
		link := e.Link
		if link == "" && strings.HasPrefix(e.UID, "respa-") {
			// The stamp may be missing (an exception made before it was set, a backend that
			// drops it); our deterministic UID still names the reservation.
			if byUID == nil {
				byUID = make(map[string]string, len(p.res))
				for id := range p.res {
					byUID[RespaUID(p.s.Instance, id)] = id
				}
			}
			if id, ok := byUID[e.UID]; ok {
				link = RespaLink(p.s.Instance, id)
			}
		}
		if inst, id, ok := ParseLink(link); ok {
			if inst != p.s.Instance {
				p.skip(SideExchange, string(k), "stamped by another Respa instance %q", inst)
				continue
			}
			if r := p.res[id]; r != nil && !p.doneRes[id] {
				p.doneEv[k], p.doneRes[id] = true, true
				p.plan.Rebuilt++
				p.pair(nil, FromRespa, k, e, r)
				continue
			}
			p.skip(SideExchange, string(k), "stamped for reservation %s, which is not listed or already linked", id)
			continue
		}
		if r := p.marked[k]; r != nil && !p.doneRes[r.ID] {
			p.doneEv[k], p.doneRes[r.ID] = true, true
			p.plan.Rebuilt++
			p.pair(nil, FromExchange, k, e, r)
			continue
		}
		p.createReservation(e, nil)
	}
	ids := make([]string, 0, len(p.res))
	for id := range p.res {
		if !p.doneRes[id] {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if lessID(a, b) {
			return -1
		}
		if a == b {
			return 0
		}
		return 1
	})
	for _, id := range ids {
		r := p.res[id]
		if k, ok := ParseMarker(r.Comments); ok {
			if r.State.active() {
				p.skip(SideRespa, id, "marked for event %s, which is not listed", k)
			}
			continue
		}
		if err := p.createEvent(r, nil); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) past(end time.Time) bool { return !end.After(p.s.Now) }

// PastRetention is how long a link is kept after its pair fell behind the window's start:
// long enough that an item moved back from the recent past finds its counterpart.
const PastRetention = 14 * 24 * time.Hour

// expired reports whether a link may be forgotten: its pair ended well before the window.
func (p *planner) expired(e *Entry) bool {
	return e.End.Before(p.s.Window.Start.Add(-PastRetention))
}

func (p *planner) inWindowEvent(e *Event) bool {
	s, en := timesOf(e, p.s.TimeZone)
	return p.s.Window.overlaps(s, en)
}

func (p *planner) inWindowRes(r *Reservation) bool {
	b, e := reservationTimes(r)
	return p.s.Window.overlaps(b, e)
}

func (p *planner) writable(side Side) bool {
	if side == SideExchange {
		return p.s.Direction != ExchangeToRespa
	}
	return p.s.Direction != RespaToExchange
}

// propagates reports whether a deletion made in side travels to the other side.
func (p *planner) propagates(side Side) bool {
	switch p.s.DeletionPolicy {
	case DeleteBoth:
		return true
	case DeleteExchangeToRespa:
		return side == SideExchange
	case DeleteRespaToExchange:
		return side == SideRespa
	}
	return false
}

func (p *planner) keep(old *Entry) {
	if old != nil {
		p.plan.base.Put(*old)
	}
}

// pair decides a linked pair (old is nil when the link was rebuilt from identity markers).
func (p *planner) pair(old *Entry, origin Origin, key EventKey, e *Event, r *Reservation) {
	exGone := e == nil && p.in.Exchange.Complete && p.in.Exchange.Gone[key]
	resGone := r == nil && old != nil && old.ReservationID != "" && p.in.Respa.Complete && p.in.Respa.Gone[old.ReservationID]

	switch {
	case e == nil && r == nil:
		// Forget the pair only when both sides are known to be gone, or it left the window:
		// one side unseen in a partial listing may still need the deletion of the other.
		exKnown := exGone || old.Pending() && old.Origin == FromRespa && p.in.Exchange.Complete
		resKnown := resGone || old.Pending() && old.Origin == FromExchange && p.in.Respa.Complete
		if exKnown && resKnown || p.expired(old) {
			return
		}
		p.keep(old)
		if p.s.Window.overlaps(old.Start, old.End) {
			p.skip(SideExchange, string(key), "neither side listed; keeping the link")
		}
		return
	case e == nil:
		if old.Origin == FromRespa && old.ItemID == "" {
			// The create was planned but never confirmed. Plan it again (same UID) only once the
			// backend confirmed no event has that UID anywhere: it may have landed and moved.
			if exGone {
				p.createEventOrKeep(r, old)
				return
			}
			p.keep(old)
			p.skip(SideExchange, r.ID, "earlier create not confirmed and event not looked up yet")
			return
		}
		if !exGone {
			p.keep(old)
			if p.inWindowRes(r) {
				p.skip(SideExchange, string(key), "event missing from the listing and not confirmed gone")
			}
			return
		}
		if old.InFlight&deleteBit(exSide) != 0 || p.resDeleted(origin, r) {
			return // our own delete landed, or both sides are gone: forget the pair
		}
		p.deleted(SideExchange, old, origin, key, e, r, "event deleted in Exchange")
		return
	case r == nil:
		if old.Origin == FromExchange && old.ReservationID == "" {
			p.createReservation(e, old)
			return
		}
		if !resGone {
			p.keep(old)
			if p.inWindowEvent(e) {
				p.skip(SideRespa, old.ReservationID, "reservation missing from the listing and not confirmed gone")
			}
			return
		}
		if old.InFlight&deleteBit(resSide) != 0 || e.Cancelled {
			return
		}
		p.deleted(SideRespa, old, origin, key, e, r, "reservation deleted in Respa")
		return
	}
	if !p.inWindowEvent(e) && !p.inWindowRes(r) {
		// Both left the window: nothing is written or deleted out there. The link is kept
		// a while, so that a side brought back alone is linked again rather than copied.
		if old == nil {
			// A link rebuilt out here is recorded all the same, for the day one side returns;
			// its hashes stay unknown, so it is reconciled then.
			if en := p.linkOnly(key, origin, e, r); !p.expired(&en) {
				p.plan.base.Put(en)
			}
		} else if !p.expired(old) {
			p.keep(old)
		}
		return
	}
	exDeleted := e.Cancelled
	resDeleted := p.resDeleted(origin, r)
	switch {
	case exDeleted && resDeleted:
		return
	case exDeleted:
		p.deleted(SideExchange, old, origin, key, e, r, "event cancelled in Exchange")
	case resDeleted:
		p.deleted(SideRespa, old, origin, key, e, r, fmt.Sprintf("reservation %s in Respa", r.State))
	default:
		p.update(old, origin, e, r)
	}
}

// resDeleted reports whether the reservation no longer wants its event: cancelled or denied,
// or, when born in Respa, no longer confirmed.
func (p *planner) resDeleted(origin Origin, r *Reservation) bool {
	return !r.State.active() || origin == FromRespa && r.State != StateConfirmed
}

func (p *planner) createEventOrKeep(r *Reservation, old *Entry) {
	if err := p.createEvent(r, old); err != nil {
		p.keep(old)
		p.skip(SideExchange, r.ID, "%v", err)
	}
}

// deleted handles a deletion seen on side gone; the counterpart is deleted only when the
// ledger vouches for the link and the policies allow it.
func (p *planner) deleted(gone Side, old *Entry, origin Origin, key EventKey, e *Event, r *Reservation, why string) {
	target, item := SideRespa, ""
	if r != nil {
		item = r.ID
	}
	if gone == SideRespa {
		target, item = SideExchange, string(key)
	}
	if old == nil {
		// A link rebuilt without a ledger never deletes in the pass that rebuilt it; recording
		// the link lets the next pass act on the explicit cancellation.
		p.plan.base.Put(p.linkOnly(key, origin, e, r))
		p.skip(target, item, "%s; no ledger record yet, deletion waits for the next pass", why)
		return
	}
	if !p.propagates(gone) {
		p.keep(old)
		p.skip(target, item, "%s; deletion policy %s keeps the counterpart", why, p.s.DeletionPolicy)
		return
	}
	if !p.writable(target) {
		p.keep(old)
		p.skip(target, item, "%s; direction %s does not write %s", why, p.s.Direction, target)
		return
	}
	f := effect{before: old, remove: true}
	if target == SideRespa {
		if r == nil || !r.State.active() {
			return
		}
		if b, end := reservationTimes(r); p.past(end) || !p.s.Window.overlaps(b, end) {
			p.keep(old)
			p.skip(target, item, "%s; reservation is in the past or outside the window", why)
			return
		}
		f.writes[resSide] = groupTime | groupText
		p.plan.ReservationCancels = append(p.plan.ReservationCancels, ReservationCancel{ID: r.ID, Reason: why, effect: p.addEffect(f)})
		return
	}
	if e == nil || e.Cancelled {
		return
	}
	if s, end := timesOf(e, p.s.TimeZone); p.past(end) || !p.s.Window.overlaps(s, end) {
		p.keep(old)
		p.skip(target, item, "%s; event is in the past or outside the window", why)
		return
	}
	f.writes[exSide] = groupTime | groupText
	p.plan.EventDeletes = append(p.plan.EventDeletes, EventDelete{
		Ref: refOf(key, e.ItemID, e.ChangeKey), Reason: why, effect: p.addEffect(f),
	})
}

func (p *planner) addEffect(f effect) int {
	p.plan.effects = append(p.plan.effects, f)
	i := len(p.plan.effects) - 1
	if e, ok := p.plan.effects[i].entryPending(); ok {
		p.plan.base.Put(e)
	}
	return i
}

// entryPending is the entry while the writes are in flight (before any outcome).
func (f *effect) entryPending() (Entry, bool) {
	if f.intent != nil {
		if f.before != nil {
			return *f.before, true
		}
		return Entry{}, false
	}
	return f.entry()
}

// entryOf is the ledger entry of a pair as both sides are now.
func (p *planner) entryOf(key EventKey, origin Origin, e *Event, r *Reservation) Entry {
	en := Entry{Key: key, Origin: origin}
	if e != nil {
		en.Key, en.ItemID = e.Key(), e.ItemID
		en.Start, en.End = timesOf(e, p.s.TimeZone)
		en.Exchange = hashEvent(e, p.s.TimeZone)
	}
	if r != nil {
		en.ReservationID = r.ID
		if e == nil {
			en.Start, en.End = reservationTimes(r)
		}
		en.Respa = hashReservation(r)
	}
	return en
}

// linkOnly is the entry of a link whose sync state is unknown: the next pass that can write
// treats both sides as changed and lets the policy decide.
func (p *planner) linkOnly(key EventKey, origin Origin, e *Event, r *Reservation) Entry {
	en := p.entryOf(key, origin, e, r)
	en.Exchange, en.Respa = Hash{}, Hash{}
	return en
}

// source decides which side's version of a group wins this pass; false when neither changed.
func (p *planner) source(g group, origin Origin, exChanged, resChanged bool) (Side, bool) {
	if !exChanged && !resChanged {
		return "", false
	}
	switch p.s.Direction {
	case ExchangeToRespa:
		return SideExchange, true
	case RespaToExchange:
		return SideRespa, true
	}
	switch p.s.ConflictPolicy {
	case ExchangeWins:
		if resChanged && !exChanged {
			return SideRespa, true
		}
		return SideExchange, true
	case RespaWins:
		if exChanged && !resChanged {
			return SideExchange, true
		}
		return SideRespa, true
	}
	// OriginWins, with the original's exception: Outlook may move a Respa-born event.
	if g == groupTime && origin == FromRespa && exChanged && !resChanged {
		return SideExchange, true
	}
	if origin == FromRespa {
		return SideRespa, true
	}
	return SideExchange, true
}

// reserverOf resolves who booked an Exchange event: the organizer, or the first required
// attendee other than the room when the room organized it itself. False when an EX address
// is not resolved yet.
func (p *planner) reserverOf(e *Event) (Person, bool) {
	who, ok := p.resolve(e.Organizer)
	if ok && (p.s.isRoom(who) || who.Email == "") {
		for _, a := range e.RequiredAttendees {
			if a2, ok2 := p.resolve(a); ok2 && !p.s.isRoom(a2) && a2.Email != "" {
				return a2, true
			}
		}
	}
	return who, ok
}

func (p *planner) resolve(x Person) (Person, bool) {
	if !strings.EqualFold(x.RoutingType, "EX") {
		return x, true
	}
	r, ok := p.in.Names[x.Email]
	if !ok {
		return x, false
	}
	if r.Name == "" {
		r.Name = x.Name
	}
	return r, true
}

// respaText is the Respa text wanted from the event; fields lists what differs from r.
func (p *planner) respaText(origin Origin, e *Event, r *Reservation) (Reservation, Fields) {
	want, f := *r, Fields(0)
	subject := e.Subject
	if origin == FromExchange {
		who, ok := p.reserverOf(e)
		subject = stripOrganizer(e.Subject, e.Organizer.Name, who.Name)
		if ok && who.Email != "" && (strings.TrimSpace(r.ReserverName) != strings.TrimSpace(who.Name) || !equalFoldTrim(r.ReserverEmail, who.Email)) {
			want.ReserverName, want.ReserverEmail = strings.TrimSpace(who.Name), strings.TrimSpace(who.Email)
			f |= FieldReserver
		}
	}
	if normText(subject) != normText(r.Subject) {
		want.Subject = strings.TrimSpace(subject)
		f |= FieldSubject
	}
	if normText(e.Body) != normText(r.Description) {
		want.Description = e.Body
		f |= FieldBody
	}
	return want, f
}

// eventText is the event text wanted from the reservation; fields lists what differs from e.
func (p *planner) eventText(origin Origin, e *Event, r *Reservation) (Event, Fields, error) {
	want, f := *e, Fields(0)
	if origin == FromRespa {
		subject, body, err := p.s.render(r)
		if err != nil {
			return want, 0, err
		}
		if normText(subject) != normText(e.Subject) {
			want.Subject, f = subject, f|FieldSubject
		}
		if normText(body) != normText(e.Body) {
			want.Body, f = body, f|FieldBody
		}
		if p.s.location != "" && normText(p.s.location) != normText(e.Location) {
			want.Location, f = p.s.location, f|FieldLocation
		}
		return want, f, nil
	}
	who, _ := p.reserverOf(e)
	if normText(stripOrganizer(e.Subject, e.Organizer.Name, who.Name)) != normText(r.Subject) {
		want.Subject, f = strings.TrimSpace(r.Subject), f|FieldSubject
	}
	if normText(e.Body) != normText(r.Description) {
		want.Body, f = r.Description, f|FieldBody
	}
	return want, f, nil
}

// update plans the writes of a linked pair where both sides are alive.
func (p *planner) update(old *Entry, origin Origin, e *Event, r *Reservation) {
	exNow, resNow := hashEvent(e, p.s.TimeZone), hashReservation(r)
	exBase, resBase := baseline(old, exNow, resNow)
	exTC, resTC := changed(exBase.Time, exNow.Time), changed(resBase.Time, resNow.Time)
	exXC, resXC := changed(exBase.Text, exNow.Text), changed(resBase.Text, resNow.Text)
	if old != nil {
		// What a failed write falls back to is the baseline just chosen, not the raw entry.
		b := *old
		b.Exchange, b.Respa = exBase, resBase
		b.ExchangeAlt, b.RespaAlt, b.InFlight = Hash{}, Hash{}, 0
		old = &b
	}
	f := effect{before: old, post: p.entryOf(e.Key(), origin, e, r)}
	if !exTC && !resTC && !exXC && !resXC {
		p.addSettled(f)
		return
	}
	evWant, resWant := *e, *r
	var evFields, resFields Fields
	var reasons []string

	es, ee := timesOf(e, p.s.TimeZone)
	rb, re := reservationTimes(r)
	if !es.Equal(rb) || !ee.Equal(re) {
		if src, ok := p.source(groupTime, origin, exTC, resTC); ok {
			if src == SideExchange {
				resWant.Begin, resWant.End = es, ee
				resFields |= FieldTime
			} else {
				evWant.Start, evWant.End, evWant.AllDay = rb, re, false
				evFields |= FieldTime
			}
			reasons = append(reasons, "time from "+string(src))
		}
	}
	if exXC || resXC {
		var consistent bool
		if origin == FromExchange {
			_, rf := p.respaText(origin, e, r)
			consistent = rf == 0
		} else {
			_, ef, err := p.eventText(origin, e, r)
			if err != nil {
				p.keep(old)
				p.skip(SideExchange, string(e.Key()), "%v", err)
				return
			}
			consistent = ef == 0
		}
		if src, ok := p.source(groupText, origin, exXC, resXC); ok && !consistent {
			if src == SideExchange {
				want, rf := p.respaText(origin, e, r)
				resWant.Subject, resWant.Description = want.Subject, want.Description
				resWant.ReserverName, resWant.ReserverEmail = want.ReserverName, want.ReserverEmail
				resFields |= rf
			} else {
				want, ef, _ := p.eventText(origin, e, r)
				evWant.Subject, evWant.Body, evWant.Location = want.Subject, want.Body, want.Location
				evFields |= ef
			}
			reasons = append(reasons, "text from "+string(src))
		}
	}
	// The past is not rewritten: Respa refuses it and nobody needs it.
	// A pair brought back from the past by one side follows it; history stays as it was.
	if evFields != 0 {
		if _, end := timesOf(e, p.s.TimeZone); p.past(end) && p.past(evWant.End) {
			p.skip(SideExchange, string(e.Key()), "event is in the past; not rewritten")
			f.unsettled |= fieldsGroups(evFields)
			evFields = 0
		}
	}
	if resFields != 0 {
		if _, end := reservationTimes(r); p.past(end) && p.past(resWant.End) {
			p.skip(SideRespa, r.ID, "reservation is in the past; not rewritten")
			f.unsettled |= fieldsGroups(resFields)
			resFields = 0
		}
	}
	if evFields == 0 && resFields == 0 {
		p.addSettled(f)
		return
	}
	reason := strings.Join(reasons, ", ")
	if old == nil {
		reason += " (link rebuilt)"
	}
	if evFields != 0 {
		f.writes[exSide] = fieldsGroups(evFields)
		f.post.Exchange = hashEvent(&evWant, p.s.TimeZone)
		f.post.Start, f.post.End = timesOf(&evWant, p.s.TimeZone)
	}
	if resFields != 0 {
		f.writes[resSide] = fieldsGroups(resFields)
		f.post.Respa = hashReservation(&resWant)
	}
	i := p.addEffect(f)
	if evFields != 0 {
		p.plan.EventUpdates = append(p.plan.EventUpdates, EventUpdate{Event: evWant, Fields: evFields, Reason: reason, effect: i})
	}
	if resFields != 0 {
		p.plan.ReservationUpdates = append(p.plan.ReservationUpdates, ReservationUpdate{Reservation: resWant, Fields: resFields, Reason: reason, effect: i})
	}
}

// changed reports whether a hash half moved since the baseline; unknown counts as changed.
func changed(base, now uint32) bool {
	return base == 0 || now != base
}

// baseline returns the hashes to detect changes against. For a group whose write was in
// flight when the last pass ended, the target tells whether it landed: if it shows what the
// write was going to produce, the pair is compared with the state after the write, else with
// the state before it.
func baseline(old *Entry, exNow, resNow Hash) (Hash, Hash) {
	if old == nil {
		return Hash{}, Hash{}
	}
	ex, res := old.Exchange, old.Respa
	for _, g := range []group{groupTime, groupText} {
		half := func(h Hash) uint32 {
			if g == groupTime {
				return h.Time
			}
			return h.Text
		}
		landed := old.InFlight&flightBit(g, exSide) != 0 && half(exNow) == half(old.ExchangeAlt) ||
			old.InFlight&flightBit(g, resSide) != 0 && half(resNow) == half(old.RespaAlt)
		if landed {
			ex, res = ex.with(g, old.ExchangeAlt), res.with(g, old.RespaAlt)
		}
	}
	return ex, res
}

// addSettled records a pair that needs no write.
func (p *planner) addSettled(f effect) {
	if e, ok := f.entry(); ok {
		p.plan.base.Put(e)
	}
}

func fieldsGroups(f Fields) group {
	var g group
	if f&FieldTime != 0 {
		g |= groupTime
	}
	if f&^FieldTime != 0 {
		g |= groupText
	}
	return g
}

// createReservation plans the reservation of an event born in Exchange.
func (p *planner) createReservation(e *Event, old *Entry) {
	k := e.Key()
	why := ""
	who, resolved := p.reserverOf(e)
	s, en := timesOf(e, p.s.TimeZone)
	switch {
	case e.Cancelled:
		if !p.in.Respa.Complete {
			p.keep(old) // the reservation of the intent may exist unseen
		}
		return
	case !p.writable(SideRespa):
		why = "direction " + string(p.s.Direction) + " does not create reservations"
	case !p.s.Window.overlaps(s, en):
		why = "outside the window"
	case p.past(en):
		why = "in the past"
	case !p.in.Respa.Complete:
		why = "Respa listing incomplete; a reservation may exist unseen"
	case !resolved:
		why = "organizer " + e.Organizer.Email + " not resolved yet"
	}
	if why != "" {
		p.keep(old)
		p.skip(SideRespa, string(k), "%s", why)
		return
	}
	r := Reservation{
		ResourceID: p.s.ResourceID, Begin: s, End: en,
		Subject:      strings.TrimSpace(stripOrganizer(e.Subject, e.Organizer.Name, who.Name)),
		Description:  e.Body,
		ReserverName: strings.TrimSpace(who.Name), ReserverEmail: strings.TrimSpace(who.Email),
		Comments: Marker(k),
	}
	post := Entry{Key: k, ItemID: e.ItemID, Origin: FromExchange, Start: s, End: en,
		Exchange: hashEvent(e, p.s.TimeZone), Respa: hashReservation(&r)}
	// The intent carries the hashes the pair will have, so that if the create lands and the
	// ledger save after it does not, an edit made meanwhile is still seen as an edit.
	intent := post
	f := effect{before: old, intent: &intent, post: post}
	f.writes[resSide] = groupTime | groupText
	reason := "new event in Exchange"
	if old != nil {
		reason = "create not confirmed in an earlier pass"
	}
	p.plan.ReservationCreates = append(p.plan.ReservationCreates, ReservationCreate{Reservation: r, Key: k, Reason: reason, effect: p.addEffect(f)})
}

// createEvent plans the event of a reservation born in Respa.
func (p *planner) createEvent(r *Reservation, old *Entry) error {
	b, en := reservationTimes(r)
	why := ""
	switch {
	case !r.State.active():
		return nil // nothing to mirror and nothing to say
	case r.State != StateConfirmed:
		why = "state " + string(r.State) + "; only confirmed reservations go to Exchange"
	case !p.writable(SideExchange):
		why = "direction " + string(p.s.Direction) + " does not create events"
	case !p.s.Window.overlaps(b, en):
		why = "outside the window"
	case p.past(en):
		why = "in the past"
	case !p.in.Exchange.Complete:
		why = "Exchange listing incomplete; the event may exist unseen"
	}
	if why != "" {
		p.keep(old)
		p.skip(SideExchange, r.ID, "%s", why)
		return nil
	}
	subject, body, err := p.s.render(r)
	if err != nil {
		p.keep(old)
		p.skip(SideExchange, r.ID, "%v", err)
		return nil
	}
	uid := RespaUID(p.s.Instance, r.ID)
	ev := Event{
		UID: uid, Kind: Single, Subject: subject, Body: body, Location: p.s.location,
		Start: b, End: en, Link: RespaLink(p.s.Instance, r.ID),
	}
	k := ev.Key()
	post := Entry{Key: k, ReservationID: r.ID, Origin: FromRespa, Start: b, End: en,
		Exchange: hashEvent(&ev, p.s.TimeZone), Respa: hashReservation(r)}
	intent := post
	f := effect{before: old, intent: &intent, post: post}
	f.writes[exSide] = groupTime | groupText
	reason := "new confirmed reservation in Respa"
	if old != nil {
		reason = "create not confirmed in an earlier pass"
	}
	p.plan.EventCreates = append(p.plan.EventCreates, EventCreate{Event: ev, ReservationID: r.ID, Reason: reason, effect: p.addEffect(f)})
	return nil
}

// guard withholds a side's deletes when they exceed the threshold, unless acknowledged.
func (p *planner) guard() {
	pct := p.s.MassDeletionThresholdPercent
	if pct >= 100 || p.s.MassDeletionAcknowledged {
		return
	}
	linked := p.in.Ledger.Linked()
	limit := max(p.s.MassDeletionMinimum, linked*pct/100)
	if n := len(p.plan.EventDeletes); n > limit {
		p.plan.Guard = append(p.plan.Guard, GuardTrip{Side: SideExchange, Deletes: n, Linked: linked, Percent: pct})
		for _, d := range p.plan.EventDeletes {
			p.skip(SideExchange, string(d.Ref.Key), "%s; withheld by the mass-deletion guard", d.Reason)
			p.plan.effects[d.effect].withheld = true
			p.keep(p.plan.effects[d.effect].before) // not in flight after all
		}
		p.plan.EventDeletes = nil
	}
	if n := len(p.plan.ReservationCancels); n > limit {
		p.plan.Guard = append(p.plan.Guard, GuardTrip{Side: SideRespa, Deletes: n, Linked: linked, Percent: pct})
		for _, d := range p.plan.ReservationCancels {
			p.skip(SideRespa, d.ID, "%s; withheld by the mass-deletion guard", d.Reason)
			p.plan.effects[d.effect].withheld = true
			p.keep(p.plan.effects[d.effect].before)
		}
		p.plan.ReservationCancels = nil
	}
}

// simulate returns the ledger after every planned write succeeded.
func (p *Plan) simulate() Ledger {
	l := p.base.Clone()
	effects := slices.Clone(p.effects)
	mark := func(i, side int) { effects[i].status[side] = statusOK }
	for _, a := range p.EventCreates {
		mark(a.effect, exSide)
	}
	for _, a := range p.EventUpdates {
		mark(a.effect, exSide)
	}
	for _, a := range p.EventDeletes {
		mark(a.effect, exSide)
	}
	for _, a := range p.ReservationCreates {
		mark(a.effect, resSide)
	}
	for _, a := range p.ReservationUpdates {
		mark(a.effect, resSide)
	}
	for _, a := range p.ReservationCancels {
		mark(a.effect, resSide)
	}
	for i := range effects {
		if !effects[i].withheld {
			applyEffect(&l, &effects[i])
		}
	}
	return l
}

// applyEffect writes the effect's current resolution into the ledger.
func applyEffect(l *Ledger, f *effect) {
	if f.intent != nil {
		l.Remove(f.intent.Key)
	}
	if f.before != nil {
		l.Remove(f.before.Key)
	}
	l.Remove(f.post.Key)
	if e, ok := f.entry(); ok {
		l.Put(e)
	}
}

// Action is one planned write in a form fit for a status field or an event message.
type Action struct {
	Side   Side
	Verb   string // Create, Update, Delete (a Respa delete is a cancellation)
	Item   string // event key, or reservation id (the event key for a reservation create)
	Fields string // for updates
	Reason string
}

// Actions lists the planned writes in execution order, for a dry run's report.
func (p *Plan) Actions() []Action {
	var out []Action
	for _, a := range p.EventDeletes {
		out = append(out, Action{Side: SideExchange, Verb: "Delete", Item: string(a.Ref.Key), Reason: a.Reason})
	}
	for _, a := range p.ReservationCancels {
		out = append(out, Action{Side: SideRespa, Verb: "Delete", Item: a.ID, Reason: a.Reason})
	}
	for _, a := range p.ReservationUpdates {
		out = append(out, Action{Side: SideRespa, Verb: "Update", Item: a.Reservation.ID, Fields: a.Fields.String(), Reason: a.Reason})
	}
	for _, a := range p.EventUpdates {
		out = append(out, Action{Side: SideExchange, Verb: "Update", Item: string(a.Event.Key()), Fields: a.Fields.String(), Reason: a.Reason})
	}
	for _, a := range p.ReservationCreates {
		out = append(out, Action{Side: SideRespa, Verb: "Create", Item: string(a.Key), Reason: a.Reason})
	}
	for _, a := range p.EventCreates {
		out = append(out, Action{Side: SideExchange, Verb: "Create", Item: a.ReservationID, Reason: a.Reason})
	}
	return out
}
