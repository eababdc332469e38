package sync_test

import (
	"fmt"
	"testing"
	"time"

	rx "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// unchangedPairs returns n linked pairs in sync (half born on each side) and their ledger.
func unchangedPairs(b *testing.B, n int) (rx.Input, rx.Ledger) {
	var evs []rx.Event
	var rs []rx.Reservation
	for i := range n {
		day, hour := 1+i/8, 8+i%8
		var e rx.Event
		var r rx.Reservation
		if i%2 == 0 {
			e, r = exchangeBorn(fmt.Sprint(i), day, hour)
		} else {
			e, r = respaBorn(fmt.Sprint(i), day, hour)
		}
		evs, rs = append(evs, e), append(rs, r)
	}
	o := opts()
	o.Window.End = t0.Add(400 * 24 * time.Hour)
	in := rx.Input{
		Exchange: rx.ExchangeView{Events: evs, Complete: true},
		Respa:    rx.RespaView{Reservations: rs, Complete: true},
		Options:  o,
	}
	p, err := rx.PlanPass(in)
	if err != nil {
		b.Fatal(err)
	}
	return in, p.Ledger
}

// BenchmarkPlanUnchanged1000 plans a pass over 1 000 linked pairs in which nothing changed.
func BenchmarkPlanUnchanged1000(b *testing.B) {
	in, l := unchangedPairs(b, 1000)
	in.Ledger = l
	b.ReportAllocs()
	for b.Loop() {
		p, err := rx.PlanPass(in)
		if err != nil {
			b.Fatal(err)
		}
		if p.Writes() != 0 {
			b.Fatalf("%d writes planned over unchanged pairs", p.Writes())
		}
	}
}

func calls(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// BenchmarkPassUnchanged1000 runs whole passes over the in-memory fakes with 1 000 linked
// pairs and reports the requests each side receives per pass (writes must be 0).
func BenchmarkPassUnchanged1000(b *testing.B) {
	w := seededWorld(b, 500, 500)
	w.pass(b)
	w.pass(b)
	ex0, res0, saves0 := calls(w.ex.Calls), calls(w.respa.Calls), w.ledger.Saves
	b.ReportAllocs()
	for b.Loop() {
		if rep := w.pass(b); rep.Writes() != 0 || rep.Linked != 1000 {
			b.Fatalf("unchanged pass: %d writes, %d linked", rep.Writes(), rep.Linked)
		}
	}
	b.ReportMetric(float64(calls(w.ex.Calls)-ex0)/float64(b.N), "exchange-requests/pass")
	b.ReportMetric(float64(calls(w.respa.Calls)-res0)/float64(b.N), "respa-requests/pass")
	b.ReportMetric(float64(w.ledger.Saves-saves0)/float64(b.N), "ledger-saves/pass")
}

// BenchmarkInitialImport reports the requests of the first pass over 1 000 events born in
// Exchange and 1 000 reservations born in Respa, in batches of 50.
func BenchmarkInitialImport(b *testing.B) {
	for _, c := range []struct {
		name    string
		ex, rsv int
	}{{"1000-exchange-events", 1000, 0}, {"1000-respa-reservations", 0, 1000}} {
		b.Run(c.name, func(b *testing.B) {
			var ex, res, saves float64
			for b.Loop() {
				b.StopTimer()
				w := seededWorld(b, c.ex, c.rsv)
				b.StartTimer()
				rep, err := w.runBatch(50)
				if err != nil || rep.Linked != c.ex+c.rsv {
					b.Fatalf("import: %v, %d linked", err, rep.Linked)
				}
				ex, res, saves = float64(calls(w.ex.Calls)), float64(calls(w.respa.Calls)), float64(w.ledger.Saves)
			}
			b.ReportMetric(ex, "exchange-requests")
			b.ReportMetric(res, "respa-requests")
			b.ReportMetric(saves, "ledger-saves")
		})
	}
}

// seededWorld fills Exchange with nEx meetings and Respa with nRes reservations, none linked.
func seededWorld(b *testing.B, nEx, nRes int) *world {
	w := newWorld(99)
	w.opts.Window.End = t0.Add(400 * 24 * time.Hour)
	for i := range nEx {
		e := event(fmt.Sprint(i), 1+i/8, 8+i%8, "Alice Aalto Meeting")
		e.ItemID = ""
		w.ex.Add(e)
	}
	for i := range nRes {
		r := reservation("", 200+i/8, 8+i%8)
		if _, err := w.respa.UserCreate(r); err != nil {
			b.Fatal(err)
		}
	}
	return w
}
