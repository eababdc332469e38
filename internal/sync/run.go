package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	stdsync "sync"
	"time"
)

// ExchangeCalendar is the room calendar as the runner needs it. EWS implements it today and
// Microsoft Graph can later: nothing here is specific to either.
type ExchangeCalendar interface {
	// ListWindow lists singles, occurrences and exceptions overlapping the window, with the
	// Link stamp read. Complete is false when the backend could not cover the whole window.
	ListWindow(ctx context.Context, w Window) (EventListing, error)
	// LookupEvents asks after linked events missing from the listing: by their last ItemId,
	// and when that no longer resolves (an occurrence's ItemId changes with its series) by
	// UID and recurrence id. A ref without ItemId is an event create whose outcome is unknown
	// (a timeout, a crash): find it by UID or by its Link stamp, and answer Gone when no event
	// has either, or the create is never retried. Gone must mean certainly absent; when
	// unsure, answer neither.
	LookupEvents(ctx context.Context, refs []EventRef) ([]EventLookup, error)
	// ResolveNames turns EX (X500) addresses into people; unknown ones are left out.
	ResolveNames(ctx context.Context, addresses []string) (map[string]Person, error)
	// The writes take a batch and answer per item, in order. The error is for the whole call;
	// a per-item error says the item was not written (a create is then planned afresh).
	CreateEvents(ctx context.Context, events []Event) ([]EventResult, error)
	UpdateEvents(ctx context.Context, updates []EventUpdate) ([]EventResult, error)
	DeleteEvents(ctx context.Context, refs []EventRef) ([]error, error)
}

// RespaReservations is the Respa resource as the runner needs it. Respa has no batch
// endpoints, so writes go one by one; a *Rejection error is Respa refusing that item.
type RespaReservations interface {
	ListWindow(ctx context.Context, w Window) (ReservationListing, error)
	Lookup(ctx context.Context, ids []string) ([]ReservationLookup, error)
	Create(ctx context.Context, r Reservation) (Reservation, error)
	Update(ctx context.Context, u ReservationUpdate) (Reservation, error)
	Cancel(ctx context.Context, id string) error
}

// LedgerStore keeps the encoded ledger of one resource (a ConfigMap in the operator).
// Load returns nil bytes when nothing is stored yet.
type LedgerStore interface {
	Load(ctx context.Context) ([]byte, error)
	Save(ctx context.Context, data []byte) error
}

// EventListing is what ListWindow found.
type EventListing struct {
	Events   []Event
	Complete bool
}

// EventLookup answers one EventRef: the event wherever it now is, or Gone. Neither means
// the backend could not tell, which never deletes anything.
type EventLookup struct {
	Event *Event
	Gone  bool
}

// EventResult is the outcome of one write; Event, when set, is the item as stored.
type EventResult struct {
	Event *Event
	Err   error
}

// ReservationListing is what ListWindow found, cancelled and denied reservations included.
type ReservationListing struct {
	Reservations []Reservation
	Complete     bool
}

// ReservationLookup answers one id: the reservation wherever it now is, or Gone.
type ReservationLookup struct {
	Reservation *Reservation
	Gone        bool
}

// NameCache remembers resolved EX addresses per mailbox across passes, as the original did.
type NameCache struct {
	mu    stdsync.Mutex
	names map[string]Person
}

func (c *NameCache) get(addr string) (Person, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.names[addr]
	return p, ok
}

func (c *NameCache) put(addr string, p Person) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = make(map[string]Person)
	}
	c.names[addr] = p
}

// Pass is one run over one resource.
type Pass struct {
	Exchange ExchangeCalendar
	Respa    RespaReservations
	Ledger   LedgerStore
	Options  Options
	// BatchSize bounds the writes between two ledger saves; 0 means DefaultBatchSize.
	BatchSize int
	// DryRun plans and reports but writes nothing, not even the ledger.
	DryRun bool
	// Names caches resolved EX addresses; nil means a cache for this pass only.
	Names *NameCache
	// RebuildMargin widens the listings of a pass that has no ledger (the first one, or after
	// a loss); 0 means DefaultRebuildMargin.
	RebuildMargin time.Duration
}

const (
	DefaultBatchSize     = 50
	DefaultRebuildMargin = 90 * 24 * time.Hour
	// MaxReportedFailures bounds Report.Failed, which ends up in the resource's status.
	MaxReportedFailures = 20
	maxFailureMessage   = 300
)

// SideCounts counts the writes a pass made to one side.
type SideCounts struct {
	Creates, Updates, Deletes int
}

// Failure is one item the pass could not write.
type Failure struct {
	Side    Side
	Item    string
	Reason  string // Rejected/<reason>, Conflict, NotFound, Timeout or Error
	Message string
}

// Report is what a pass did, for the resource's status and events.
type Report struct {
	Items        int // events listed in Exchange
	Reservations int // reservations listed in Respa
	Linked       int // linked pairs in the ledger after the pass
	Exchange     SideCounts
	Respa        SideCounts
	Failed       []Failure // at most MaxReportedFailures
	FailedCount  int
	Skipped      int
	Guard        []GuardTrip
	// LedgerLost is set when the stored ledger was corrupt and the pass rebuilt links.
	LedgerLost bool
	Rebuilt    int
	// Partial is set when a listing did not cover the whole window.
	Partial bool
	// Plan is set on a dry run.
	Plan *Plan
}

// Writes counts the writes made on both sides.
func (r *Report) Writes() int {
	return r.Exchange.Creates + r.Exchange.Updates + r.Exchange.Deletes + r.Respa.Creates + r.Respa.Updates + r.Respa.Deletes
}

func (r *Report) fail(side Side, item string, err error) {
	r.FailedCount++
	if len(r.Failed) >= MaxReportedFailures {
		return
	}
	reason := "Error"
	var rej *Rejection
	switch {
	case errors.As(err, &rej):
		reason = "Rejected/" + rej.Reason
	case errors.Is(err, ErrConflict):
		reason = "Conflict"
	case errors.Is(err, ErrNotFound):
		reason = "NotFound"
	case errors.Is(err, context.DeadlineExceeded):
		reason = "Timeout"
	}
	msg := err.Error()
	if len(msg) > maxFailureMessage {
		msg = msg[:maxFailureMessage] + "…"
	}
	r.Failed = append(r.Failed, Failure{Side: side, Item: item, Reason: reason, Message: msg})
}

// Run lists both sides, plans, and executes the plan in batches, saving the ledger after
// each batch so that a crash loses at most the batch in flight. Per-item failures are in the
// report; the error is for what stops the pass (a listing, a whole call, the ledger store).
func Run(ctx context.Context, p Pass) (Report, error) {
	var rep Report
	raw, err := p.Ledger.Load(ctx)
	if err != nil {
		return rep, fmt.Errorf("load ledger: %w", err)
	}
	prev, err := DecodeLedger(raw)
	if err != nil {
		// A corrupt ledger is treated as lost: links come back from identity markers and
		// nothing is deleted on its word.
		rep.LedgerLost = true
		prev = Ledger{}
	}
	opts := p.Options
	// Without a ledger, links can only be rebuilt from items that are listed; one side of a
	// pair may have been moved out of the window, so look wider once, or its counterpart
	// would look new and be copied a second time.
	margin := p.RebuildMargin
	if margin == 0 {
		margin = DefaultRebuildMargin
	}
	wide := Window{Start: opts.Window.Start.Add(-margin), End: opts.Window.End.Add(margin)}
	exWindow, resWindow := opts.Window, opts.Window
	rebuilding := prev.Len() == 0 || prev.Rebuilding
	if rebuilding {
		exWindow, resWindow = wide, wide
	}
	// A reservation create whose outcome is unknown can only be found by its marker, which
	// Respa cannot search: look wider in case a person moved it out of the window meanwhile.
	for _, e := range prev.entries {
		if e.Origin == FromExchange && e.ReservationID == "" {
			resWindow = wide
			break
		}
	}
	exList, err := p.Exchange.ListWindow(ctx, exWindow)
	if err != nil {
		return rep, fmt.Errorf("list Exchange events in %s: %w", exWindow, err)
	}
	resList, err := p.Respa.ListWindow(ctx, resWindow)
	if err != nil {
		return rep, fmt.Errorf("list Respa reservations in %s: %w", resWindow, err)
	}
	for i := range exList.Events {
		if s, e := timesOf(&exList.Events[i], tzOr(opts.TimeZone)); opts.Window.overlaps(s, e) {
			rep.Items++
		}
	}
	for i := range resList.Reservations {
		if b, e := reservationTimes(&resList.Reservations[i]); opts.Window.overlaps(b, e) {
			rep.Reservations++
		}
	}
	rep.Partial = !exList.Complete || !resList.Complete

	in := Input{
		Exchange: ExchangeView{Events: exList.Events, Complete: exList.Complete},
		Respa:    RespaView{Reservations: resList.Reservations, Complete: resList.Complete},
		Ledger:   prev,
		Options:  opts,
	}
	lookupMissing(ctx, p, &in)
	in.Names = resolveNames(ctx, p, in.Exchange.Events)

	plan, err := PlanPass(in)
	if err != nil {
		return rep, fmt.Errorf("plan: %w", err)
	}
	rep.Skipped, rep.Guard, rep.Rebuilt = len(plan.Skips), plan.Guard, plan.Rebuilt
	if p.DryRun {
		rep.Plan = plan
		rep.Linked = plan.Ledger.Linked()
		return rep, nil
	}
	x := executor{pass: p, plan: plan, rep: &rep, tz: tzOr(opts.TimeZone), saved: prev.Clone(), work: plan.base.Clone()}
	// Recovery ends with the first pass that saw both sides whole.
	x.work.Rebuilding = rebuilding && !(exList.Complete && resList.Complete)
	if rep.LedgerLost {
		x.saved.Instance = "\x00" // differs from any ledger, so the damaged one is replaced
	}
	if err := x.save(ctx); err != nil {
		return rep, err
	}
	err = x.execute(ctx)
	rep.Linked = x.work.Linked()
	return rep, err
}

func tzOr(tz *time.Location) *time.Location {
	if tz == nil {
		return time.UTC
	}
	return tz
}

// lookupMissing asks both sides about linked items that vanished from a complete listing,
// so that only a confirmed absence can delete and an item that merely left the window is
// recognized as such.
func lookupMissing(ctx context.Context, p Pass, in *Input) {
	listedEv := make(map[EventKey]bool, len(in.Exchange.Events))
	for i := range in.Exchange.Events {
		listedEv[in.Exchange.Events[i].Key()] = true
	}
	listedRes := make(map[string]bool, len(in.Respa.Reservations))
	for i := range in.Respa.Reservations {
		listedRes[in.Respa.Reservations[i].ID] = true
	}
	var refs []EventRef
	var ids []string
	for _, e := range in.Ledger.Entries() {
		// Ask about pairs of the window, and about any pair whose other side is listed.
		if !in.Options.Window.overlaps(e.Start, e.End) && !listedEv[e.Key] && !listedRes[e.ReservationID] {
			continue
		}
		if in.Exchange.Complete && !listedEv[e.Key] {
			ref := refOf(e.Key, e.ItemID, "")
			if e.Origin == FromRespa && e.ReservationID != "" {
				ref.Link = RespaLink(in.Options.Instance, e.ReservationID)
			}
			refs = append(refs, ref)
		}
		if in.Respa.Complete && e.ReservationID != "" && !listedRes[e.ReservationID] {
			ids = append(ids, e.ReservationID)
		}
	}
	if len(refs) > 0 {
		if found, err := p.Exchange.LookupEvents(ctx, refs); err == nil && len(found) == len(refs) {
			in.Exchange.Gone = make(map[EventKey]bool)
			for i, f := range found {
				switch {
				case f.Gone:
					in.Exchange.Gone[refs[i].Key] = true
				case f.Event != nil && !listedEv[f.Event.Key()]:
					in.Exchange.Events = append(in.Exchange.Events, *f.Event)
					listedEv[f.Event.Key()] = true
				}
			}
		}
	}
	if len(ids) > 0 {
		if found, err := p.Respa.Lookup(ctx, ids); err == nil && len(found) == len(ids) {
			in.Respa.Gone = make(map[string]bool)
			for i, f := range found {
				switch {
				case f.Gone:
					in.Respa.Gone[ids[i]] = true
				case f.Reservation != nil && !listedRes[f.Reservation.ID]:
					in.Respa.Reservations = append(in.Respa.Reservations, *f.Reservation)
					listedRes[f.Reservation.ID] = true
				}
			}
		}
	}
}

// resolveNames resolves the EX addresses of organizers and attendees not cached yet. A
// failure leaves them unresolved; the planner skips those events until a later pass.
func resolveNames(ctx context.Context, p Pass, events []Event) map[string]Person {
	cache := p.Names
	if cache == nil {
		cache = &NameCache{}
	}
	names := make(map[string]Person)
	var missing []string
	seen := make(map[string]bool)
	consider := func(x Person) {
		if !strings.EqualFold(x.RoutingType, "EX") || x.Email == "" || seen[x.Email] {
			return
		}
		seen[x.Email] = true
		if r, ok := cache.get(x.Email); ok {
			names[x.Email] = r
			return
		}
		missing = append(missing, x.Email)
	}
	for i := range events {
		consider(events[i].Organizer)
		for _, a := range events[i].RequiredAttendees {
			consider(a)
		}
	}
	if len(missing) == 0 {
		return names
	}
	slices.Sort(missing)
	got, err := p.Exchange.ResolveNames(ctx, missing)
	if err != nil {
		return names
	}
	for addr, r := range got {
		cache.put(addr, r)
		names[addr] = r
	}
	return names
}

// executor carries out a plan and keeps the ledger in step with the outcomes.
type executor struct {
	pass  Pass
	plan  *Plan
	rep   *Report
	tz    *time.Location
	saved Ledger
	work  Ledger
}

func (x *executor) save(ctx context.Context) error {
	if x.work.Equal(&x.saved) {
		return nil
	}
	if err := x.pass.Ledger.Save(ctx, x.work.Encode()); err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	x.saved = x.work.Clone()
	return nil
}

func (x *executor) settle(i, side int, ok bool) {
	st := statusFailed
	if ok {
		st = statusOK
	}
	x.settleAs(i, side, st)
}

func (x *executor) settleAs(i, side int, st status) {
	f := &x.plan.effects[i]
	f.status[side] = st
	applyEffect(&x.work, f)
}

// outcome classifies an error of one write: a refusal means it certainly did not happen.
func outcome(err error, perItem bool) status {
	var rej *Rejection
	switch {
	case err == nil:
		return statusOK
	case perItem || errors.As(err, &rej):
		return statusRefused
	}
	return statusFailed
}

func (x *executor) batchSize() int {
	if x.pass.BatchSize > 0 {
		return x.pass.BatchSize
	}
	return DefaultBatchSize
}

// execute runs deletes first (they free slots Respa would otherwise refuse as overlaps),
// then updates, then creates.
func (x *executor) execute(ctx context.Context) error {
	steps := []func(context.Context) error{
		x.deleteEvents, x.cancelReservations, x.updateReservations, x.updateEvents,
		x.createReservations, x.createEvents,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func chunks[T any](items []T, n int) [][]T {
	var out [][]T
	for len(items) > 0 {
		k := min(n, len(items))
		out = append(out, items[:k])
		items = items[k:]
	}
	return out
}

// callFailed marks a batch whose call failed as a whole, saves what is known and stops the pass.
func (x *executor) callFailed(ctx context.Context, what string, effects []int, side int, items []string, s Side, err error) error {
	for k, i := range effects {
		x.settle(i, side, false)
		x.rep.fail(s, items[k], err)
	}
	if serr := x.save(ctx); serr != nil {
		return errors.Join(fmt.Errorf("%s: %w", what, err), serr)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (x *executor) deleteEvents(ctx context.Context) error {
	for _, batch := range chunks(x.plan.EventDeletes, x.batchSize()) {
		refs := make([]EventRef, len(batch))
		effects := make([]int, len(batch))
		items := make([]string, len(batch))
		for k, a := range batch {
			refs[k], effects[k], items[k] = a.Ref, a.effect, string(a.Ref.Key)
		}
		errs, err := x.pass.Exchange.DeleteEvents(ctx, refs)
		if err == nil && len(errs) != len(refs) {
			err = fmt.Errorf("backend answered %d of %d deletes", len(errs), len(refs))
		}
		if err != nil {
			return x.callFailed(ctx, "delete Exchange events", effects, exSide, items, SideExchange, err)
		}
		for k, e := range errs {
			ok := e == nil || errors.Is(e, ErrNotFound)
			x.settle(effects[k], exSide, ok)
			if ok {
				x.rep.Exchange.Deletes++
			} else {
				x.rep.fail(SideExchange, items[k], e)
			}
		}
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (x *executor) cancelReservations(ctx context.Context) error {
	for _, batch := range chunks(x.plan.ReservationCancels, x.batchSize()) {
		for _, a := range batch {
			err := x.pass.Respa.Cancel(ctx, a.ID)
			ok := err == nil || errors.Is(err, ErrNotFound)
			x.settle(a.effect, resSide, ok)
			if ok {
				x.rep.Respa.Deletes++
			} else {
				x.rep.fail(SideRespa, a.ID, err)
			}
			if ctx.Err() != nil {
				_ = x.save(ctx)
				return fmt.Errorf("cancel Respa reservations: %w", ctx.Err())
			}
		}
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (x *executor) updateReservations(ctx context.Context) error {
	for _, batch := range chunks(x.plan.ReservationUpdates, x.batchSize()) {
		for _, a := range batch {
			got, err := x.pass.Respa.Update(ctx, a)
			x.settleReservation(a.effect, got, err == nil)
			if err == nil {
				x.rep.Respa.Updates++
			} else {
				x.rep.fail(SideRespa, a.Reservation.ID, err)
			}
			if ctx.Err() != nil {
				_ = x.save(ctx)
				return fmt.Errorf("update Respa reservations: %w", ctx.Err())
			}
		}
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	return nil
}

// settleReservation records a Respa write, taking the reservation as Respa stored it.
func (x *executor) settleReservation(i int, got Reservation, ok bool) {
	f := &x.plan.effects[i]
	if ok && got.ID != "" {
		f.post.ReservationID = got.ID
		f.post.Respa = hashReservation(&got)
	}
	x.settle(i, resSide, ok)
}

// settleEvent records an Exchange write, taking the event as Exchange stored it.
func (x *executor) settleEvent(i int, got *Event, ok bool) {
	f := &x.plan.effects[i]
	if ok && got != nil {
		if got.ItemID != "" {
			f.post.ItemID = got.ItemID
		}
		if got.UID != "" {
			f.post.Key = got.Key()
		}
		f.post.Exchange = hashEvent(got, x.tz)
		f.post.Start, f.post.End = timesOf(got, x.tz)
	}
	x.settle(i, exSide, ok)
}

func (x *executor) updateEvents(ctx context.Context) error {
	for _, batch := range chunks(x.plan.EventUpdates, x.batchSize()) {
		effects := make([]int, len(batch))
		items := make([]string, len(batch))
		for k, a := range batch {
			effects[k], items[k] = a.effect, string(a.Event.Key())
		}
		res, err := x.pass.Exchange.UpdateEvents(ctx, batch)
		if err == nil && len(res) != len(batch) {
			err = fmt.Errorf("backend answered %d of %d updates", len(res), len(batch))
		}
		if err != nil {
			return x.callFailed(ctx, "update Exchange events", effects, exSide, items, SideExchange, err)
		}
		for k, r := range res {
			x.settleEvent(effects[k], r.Event, r.Err == nil)
			if r.Err == nil {
				x.rep.Exchange.Updates++
			} else {
				x.rep.fail(SideExchange, items[k], r.Err)
			}
		}
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	return nil
}

// recordIntents saves the entries of a batch of creates before the creates run.
func (x *executor) recordIntents(ctx context.Context, effects []int) error {
	for _, i := range effects {
		x.work.Put(*x.plan.effects[i].intent)
	}
	return x.save(ctx)
}

func (x *executor) createReservations(ctx context.Context) error {
	for _, batch := range chunks(x.plan.ReservationCreates, x.batchSize()) {
		effects := make([]int, len(batch))
		for k, a := range batch {
			effects[k] = a.effect
		}
		if err := x.recordIntents(ctx, effects); err != nil {
			return err
		}
		for _, a := range batch {
			got, err := x.pass.Respa.Create(ctx, a.Reservation)
			ok := err == nil && got.ID != ""
			if err == nil && !ok {
				err = errors.New("Respa returned no reservation id")
			}
			if st := outcome(err, false); st == statusRefused {
				x.settleAs(a.effect, resSide, st)
			} else {
				x.settleReservation(a.effect, got, ok)
			}
			if ok {
				x.rep.Respa.Creates++
			} else {
				x.rep.fail(SideRespa, string(a.Key), err)
			}
			if ctx.Err() != nil {
				_ = x.save(ctx)
				return fmt.Errorf("create Respa reservations: %w", ctx.Err())
			}
		}
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (x *executor) createEvents(ctx context.Context) error {
	for _, batch := range chunks(x.plan.EventCreates, x.batchSize()) {
		effects := make([]int, len(batch))
		items := make([]string, len(batch))
		events := make([]Event, len(batch))
		for k, a := range batch {
			effects[k], items[k], events[k] = a.effect, a.ReservationID, a.Event
		}
		if err := x.recordIntents(ctx, effects); err != nil {
			return err
		}
		res, err := x.pass.Exchange.CreateEvents(ctx, events)
		if err == nil && len(res) != len(batch) {
			err = fmt.Errorf("backend answered %d of %d creates", len(res), len(batch))
		}
		if err != nil {
			return x.callFailed(ctx, "create Exchange events", effects, exSide, items, SideExchange, err)
		}
		for k, r := range res {
			if r.Err != nil {
				// A per-item error of a batch answers for that item: it was not created.
				x.settleAs(effects[k], exSide, outcome(r.Err, true))
			} else {
				x.settleEvent(effects[k], r.Event, true)
			}
			if r.Err == nil {
				x.rep.Exchange.Creates++
			} else {
				x.rep.fail(SideExchange, items[k], r.Err)
			}
		}
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	return nil
}
