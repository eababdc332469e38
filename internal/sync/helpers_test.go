package sync_test

import (
	"context"
	"testing"
	"time"

	rx "github.com/respa-exchange/respa-exchange-operator/internal/sync"
	"github.com/respa-exchange/respa-exchange-operator/internal/sync/synctest"
)

var (
	helsinki = mustZone("Europe/Helsinki")
	t0       = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC) // a Monday morning, Helsinki 08:00
)

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

const (
	room     = "room.kokous@city.example"
	instance = "respa1"
	resource = "av1"
)

func at(day, hour int) time.Time {
	return t0.Add(time.Duration(day)*24*time.Hour + time.Duration(hour-8)*time.Hour)
}

func opts() rx.Options {
	return rx.Options{
		Window:       rx.Window{Start: t0, End: t0.Add(60 * 24 * time.Hour)},
		Now:          t0,
		RoomEmail:    room,
		ResourceID:   resource,
		ResourceName: "Kokoushuone 1",
		UnitName:     "Pääkirjasto",
		TimeZone:     helsinki,
		Instance:     instance,
		// Most tables are about single items; the guard has its own test.
		MassDeletionThresholdPercent: 100,
	}
}

var alice = rx.Person{Name: "Alice Aalto", Email: "alice@city.example", RoutingType: "SMTP"}

func event(id string, day, hour int, subject string) rx.Event {
	return rx.Event{
		ItemID: "item-" + id, ChangeKey: "ck-" + id, UID: "uid-" + id, Kind: rx.Single,
		Subject: subject, Body: "agenda", Start: at(day, hour), End: at(day, hour+1), Organizer: alice,
	}
}

func reservation(id string, day, hour int) rx.Reservation {
	return rx.Reservation{
		ID: id, ResourceID: resource, Begin: at(day, hour), End: at(day, hour+1), State: rx.StateConfirmed,
		Subject: "Board meeting", Description: "notes", ReserverName: "Bob Berg", ReserverEmail: "bob@city.example",
	}
}

// world bundles the fakes of one scenario.
type world struct {
	now    time.Time
	faults *synctest.Faults
	ex     *synctest.Exchange
	respa  *synctest.Respa
	ledger *synctest.MemoryLedger
	opts   rx.Options
	names  *rx.NameCache
}

func newWorld(seed uint64) *world {
	w := &world{now: t0, faults: synctest.NewFaults(seed), opts: opts(), names: &rx.NameCache{}}
	w.ex = synctest.NewExchange(w.faults)
	w.respa = synctest.NewRespa(w.faults, resource, func() time.Time { return w.now })
	w.ledger = &synctest.MemoryLedger{Faults: w.faults}
	return w
}

func (w *world) pass(t testing.TB) rx.Report {
	t.Helper()
	rep, err := w.run(false)
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	return rep
}

func (w *world) run(dry bool) (rx.Report, error) {
	o := w.opts
	o.Now = w.now
	return rx.Run(context.Background(), rx.Pass{
		Exchange: w.ex, Respa: w.respa, Ledger: w.ledger, Options: o, BatchSize: 3, DryRun: dry, Names: w.names,
	})
}

// activeReservations returns the reservations that still hold the resource.
func (w *world) activeReservations() []rx.Reservation {
	var out []rx.Reservation
	for _, r := range w.respa.Reservations() {
		if r.State != rx.StateCancelled && r.State != rx.StateDenied {
			out = append(out, r)
		}
	}
	return out
}

func mustPlan(t *testing.T, in rx.Input) *rx.Plan {
	t.Helper()
	p, err := rx.PlanPass(in)
	if err != nil {
		t.Fatalf("PlanPass: %v", err)
	}
	return p
}

// settledLedger plans a pass over both views, assumes every write succeeded, and returns the
// next ledger: the state after a clean sync of exactly these views.
func settledLedger(t *testing.T, evs []rx.Event, rs []rx.Reservation, o rx.Options) rx.Ledger {
	t.Helper()
	p := mustPlan(t, rx.Input{
		Exchange: rx.ExchangeView{Events: evs, Complete: true},
		Respa:    rx.RespaView{Reservations: rs, Complete: true},
		Options:  o,
	})
	return p.Ledger
}

func writes(p *rx.Plan) map[string]int {
	return map[string]int{
		"ev.create": len(p.EventCreates), "ev.update": len(p.EventUpdates), "ev.delete": len(p.EventDeletes),
		"res.create": len(p.ReservationCreates), "res.update": len(p.ReservationUpdates), "res.cancel": len(p.ReservationCancels),
	}
}

func expectWrites(t *testing.T, p *rx.Plan, want map[string]int) {
	t.Helper()
	got := writes(p)
	for k, v := range got {
		if want[k] != v {
			t.Errorf("%s: got %d writes, want %d (plan %+v, skips %+v)", k, v, want[k], got, p.Skips)
		}
	}
}

func (w *world) runBatch(batch int) (rx.Report, error) {
	o := w.opts
	o.Now = w.now
	return rx.Run(context.Background(), rx.Pass{
		Exchange: w.ex, Respa: w.respa, Ledger: w.ledger, Options: o, BatchSize: batch, Names: w.names,
	})
}

// dryRun plans without touching the world, the name cache included, so that a replay with
// logging takes the same course as the run that failed.
func (w *world) dryRun() (rx.Report, error) {
	o := w.opts
	o.Now = w.now
	return rx.Run(context.Background(), rx.Pass{
		Exchange: w.ex, Respa: w.respa, Ledger: w.ledger, Options: o, BatchSize: 3, DryRun: true, Names: &rx.NameCache{},
	})
}
