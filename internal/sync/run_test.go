package sync_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	rx "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

func quiet(t *testing.T, w *world) {
	t.Helper()
	if rep := w.pass(t); rep.Writes() != 0 {
		t.Errorf("a pass over unchanged data wrote %d times: %+v %+v", rep.Writes(), rep.Exchange, rep.Respa)
	}
}

func TestRunBothWays(t *testing.T) {
	w := newWorld(1)
	meeting := event("m", 1, 10, "Alice Aalto Sprint review")
	meeting.ItemID = ""
	mid := w.ex.Add(meeting)
	rid, err := w.respa.UserCreate(reservation("", 2, 12))
	if err != nil {
		t.Fatal(err)
	}

	rep := w.pass(t)
	if rep.Respa.Creates != 1 || rep.Exchange.Creates != 1 || rep.Linked != 2 {
		t.Fatalf("first pass: %+v", rep)
	}
	rs := w.activeReservations()
	var fromExchange rx.Reservation
	for _, r := range rs {
		if r.ID != rid {
			fromExchange = r
		}
	}
	if fromExchange.ReserverEmail != alice.Email || fromExchange.Subject != "Sprint review" {
		t.Errorf("reservation from Outlook: %+v", fromExchange)
	}
	if e, ok := w.ex.Find(rx.EventKey(rx.RespaUID(instance, rid))); !ok || e.Subject != "Respa - Bob Berg" {
		t.Errorf("event from Respa: %+v %v", e, ok)
	}
	quiet(t, w)

	// Moves both ways.
	w.ex.Modify(mid, func(e *rx.Event) { e.Start, e.End = e.Start.Add(time.Hour), e.End.Add(time.Hour) })
	if err := w.respa.UserModify(rid, func(r *rx.Reservation) { r.Begin, r.End = r.Begin.Add(2*time.Hour), r.End.Add(2*time.Hour) }); err != nil {
		t.Fatal(err)
	}
	rep = w.pass(t)
	if rep.Respa.Updates != 1 || rep.Exchange.Updates != 1 {
		t.Errorf("moves: %+v %+v", rep.Respa, rep.Exchange)
	}
	got, _ := w.respa.Get(fromExchange.ID)
	if !got.Begin.Equal(at(1, 11)) {
		t.Errorf("Outlook move not in Respa: %v", got.Begin)
	}
	e, _ := w.ex.Find(rx.EventKey(rx.RespaUID(instance, rid)))
	if !e.Start.Equal(at(2, 14)) {
		t.Errorf("Respa move not in Exchange: %v", e.Start)
	}
	quiet(t, w)

	// Cancellations both ways.
	w.ex.Delete(mid)
	w.respa.UserCancel(rid)
	rep = w.pass(t)
	if rep.Respa.Deletes != 1 || rep.Exchange.Deletes != 1 || rep.Linked != 0 {
		t.Errorf("cancellations: %+v", rep)
	}
	if n := len(w.activeReservations()); n != 0 {
		t.Errorf("%d reservations still active", n)
	}
	if n := len(w.ex.Events()); n != 0 {
		t.Errorf("%d events left", n)
	}
	quiet(t, w)
}

func TestRunRejectionIsIsolated(t *testing.T) {
	w := newWorld(2)
	w.respa.RejectSubject = "FORBIDDEN"
	for i, s := range []string{"Alice Aalto one", "Alice Aalto FORBIDDEN", "Alice Aalto three"} {
		e := event(string(rune('a'+i)), 1+i, 10, s)
		w.ex.Add(e)
	}
	// An Outlook meeting over an existing Respa reservation: Respa refuses the overlap.
	if _, err := w.respa.UserCreate(reservation("", 5, 10)); err != nil {
		t.Fatal(err)
	}
	w.ex.Add(event("d", 5, 10, "Alice Aalto clash"))

	rep := w.pass(t)
	if rep.Respa.Creates != 2 || rep.Exchange.Creates != 1 || rep.FailedCount != 2 {
		t.Fatalf("want 2 reservations and 1 event created, 2 failures; got %+v", rep)
	}
	reasons := map[string]bool{}
	for _, f := range rep.Failed {
		reasons[f.Reason] = true
		if f.Side != rx.SideRespa || f.Message == "" {
			t.Errorf("failure %+v", f)
		}
	}
	if !reasons["Rejected/Validation"] || !reasons["Rejected/Overlap"] {
		t.Errorf("failure reasons %v", reasons)
	}
	// Retried on the next pass, still reported, nothing else written, nothing deleted.
	rep = w.pass(t)
	if rep.FailedCount != 2 || rep.Writes() != 0 {
		t.Errorf("second pass: %+v", rep)
	}
	// Once the person fixes the subject, the item syncs.
	for _, e := range w.ex.Events() {
		if strings.Contains(e.Subject, "FORBIDDEN") {
			w.ex.Modify(e.ItemID, func(e *rx.Event) { e.Subject = "Alice Aalto fine" })
		}
	}
	rep = w.pass(t)
	if rep.FailedCount != 1 || rep.Respa.Creates != 1 {
		t.Errorf("after the fix: %+v", rep)
	}
}

func TestRunDryRunWritesNothing(t *testing.T) {
	w := newWorld(3)
	w.ex.Add(event("a", 1, 10, "Alice Aalto x"))
	if _, err := w.respa.UserCreate(reservation("", 2, 10)); err != nil {
		t.Fatal(err)
	}
	rep, err := w.run(true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Plan == nil || len(rep.Plan.ReservationCreates) != 1 || len(rep.Plan.EventCreates) != 1 {
		t.Fatalf("dry run plan: %+v", rep.Plan)
	}
	acts := rep.Plan.Actions()
	if len(acts) != 2 || acts[0].Verb != "Create" || acts[0].Side != rx.SideRespa || acts[1].Side != rx.SideExchange || acts[1].Reason == "" {
		t.Errorf("dry run actions: %+v", acts)
	}
	if rep.Writes() != 0 || w.ledger.Saves != 0 || len(w.ex.Events()) != 1 || len(w.respa.Reservations()) != 1 {
		t.Errorf("dry run wrote: report %d writes, %d ledger saves", rep.Writes(), w.ledger.Saves)
	}
}

func TestRunCorruptLedgerRebuildsAndDeletesNothing(t *testing.T) {
	w := newWorld(4)
	for i := range 4 {
		w.ex.Add(event(string(rune('a'+i)), 1+i, 10, "Alice Aalto x"))
		if _, err := w.respa.UserCreate(reservation("", 1+i, 14)); err != nil {
			t.Fatal(err)
		}
	}
	w.pass(t)
	w.ledger.Corrupt()
	for _, r := range w.activeReservations() {
		w.respa.UserCancel(r.ID)
	}
	rep := w.pass(t)
	if !rep.LedgerLost || rep.Exchange.Deletes != 0 || rep.Respa.Deletes != 0 || rep.Rebuilt == 0 {
		t.Errorf("after corruption: %+v", rep)
	}
	// The rebuilt links let the following pass carry out the cancellations.
	rep = w.pass(t)
	if rep.LedgerLost || rep.Exchange.Deletes != 8 {
		t.Errorf("pass after the rebuild: %+v", rep)
	}
}

func TestRunSeries(t *testing.T) {
	w := newWorld(5)
	proto := event("s", 1, 10, "Alice Aalto Standup")
	uid := w.ex.AddSeries(proto, 4, 7*24*time.Hour)
	rep := w.pass(t)
	if rep.Respa.Creates != 4 {
		t.Fatalf("a series of 4 became %d reservations", rep.Respa.Creates)
	}
	// Retitling the series gives every occurrence a new ItemId: updates, no duplicates.
	w.ex.EditSeries(uid, 0, func(e *rx.Event) { e.Subject = "Alice Aalto Daily" })
	rep = w.pass(t)
	if rep.Respa.Updates != 4 || rep.Respa.Creates != 0 || rep.Respa.Deletes != 0 {
		t.Errorf("series retitle: %+v", rep.Respa)
	}
	// Moving one occurrence changes only its reservation.
	var occ rx.Event
	for _, e := range w.ex.Events() {
		if e.Kind == rx.Occurrence {
			occ = e
			break
		}
	}
	w.ex.Modify(occ.ItemID, func(e *rx.Event) { e.Start, e.End = e.Start.Add(3*time.Hour), e.End.Add(3*time.Hour) })
	rep = w.pass(t)
	if rep.Respa.Updates != 1 || rep.Writes() != 1 {
		t.Errorf("occurrence move: %+v", rep)
	}
	// Moving the series changes every recurrence id: the old occurrences are gone.
	w.ex.EditSeries(uid, time.Hour, nil)
	rep = w.pass(t)
	if rep.Respa.Deletes != 4 || rep.Respa.Creates != 4 {
		t.Errorf("series move: %+v", rep.Respa)
	}
	if n := len(w.activeReservations()); n != 4 {
		t.Errorf("%d active reservations, want 4", n)
	}
	quiet(t, w)
}

func TestRunPartialListingDeletesNothing(t *testing.T) {
	w := newWorld(6)
	for i := range 6 {
		w.ex.Add(event(string(rune('a'+i)), 1+i, 10, "Alice Aalto x"))
	}
	w.pass(t)
	w.faults.Rate.Partial = 1
	w.faults.Enable(true)
	for range 5 {
		rep := w.pass(t)
		if !rep.Partial || rep.Respa.Deletes != 0 || rep.Exchange.Deletes != 0 || rep.Respa.Creates != 0 {
			t.Fatalf("partial listing: %+v", rep)
		}
	}
	w.faults.Enable(false)
	quiet(t, w)
}

func TestRunCrashAfterEveryWrite(t *testing.T) {
	setup := func() *world {
		w := newWorld(7)
		for i := range 5 {
			w.ex.Add(event(string(rune('a'+i)), 1+i, 10, "Alice Aalto x"))
			if _, err := w.respa.UserCreate(reservation("", 1+i, 14)); err != nil {
				t.Fatal(err)
			}
		}
		return w
	}
	// Count the writes of a clean first pass, then crash before each of them in turn.
	clean := setup()
	clean.pass(t)
	total := clean.faults.WriteCount()
	if total == 0 {
		t.Fatal("no writes counted")
	}
	for k := range total {
		w := setup()
		w.faults.CrashAfter(k)
		if _, err := w.run(false); err == nil {
			t.Fatalf("crash after %d writes: the pass did not stop", k)
		}
		w.faults.Restart()
		w.pass(t)
		quiet(t, w)
		if n := len(w.activeReservations()); n != 10 {
			t.Errorf("crash after %d writes: %d active reservations, want 10", k, n)
		}
		if n := len(w.ex.Events()); n != 10 {
			t.Errorf("crash after %d writes: %d events, want 10", k, n)
		}
	}
}

func TestRunReportsFailuresBounded(t *testing.T) {
	w := newWorld(8)
	w.respa.RejectSubject = "X"
	for i := range 30 {
		w.ex.Add(event(fmt.Sprint(i), 1+i, 10, "Alice Aalto X"+strings.Repeat("y", 500)))
	}
	rep := w.pass(t)
	if rep.FailedCount != 30 || len(rep.Failed) != rx.MaxReportedFailures {
		t.Fatalf("failed %d, listed %d; want 30 and %d", rep.FailedCount, len(rep.Failed), rx.MaxReportedFailures)
	}
	for _, f := range rep.Failed {
		if len(f.Message) > 310 || f.Reason != "Rejected/Validation" {
			t.Errorf("failure not bounded or misclassified: %q (%d bytes)", f.Reason, len(f.Message))
		}
	}
}
