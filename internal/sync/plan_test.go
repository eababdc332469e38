package sync_test

import (
	"strings"
	"testing"
	"time"

	rx "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// exchangeBorn returns an event born in Exchange and the reservation a clean sync made of it.
func exchangeBorn(id string, day, hour int) (rx.Event, rx.Reservation) {
	e := event(id, day, hour, "Alice Aalto Planning")
	r := rx.Reservation{
		ID: "r" + id, ResourceID: resource, Begin: e.Start, End: e.End, State: rx.StateConfirmed,
		Subject: "Planning", Description: "agenda", ReserverName: alice.Name, ReserverEmail: alice.Email,
		Comments: rx.Marker(e.Key()),
	}
	return e, r
}

// respaBorn returns a reservation born in Respa and the event a clean sync made of it.
func respaBorn(id string, day, hour int) (rx.Event, rx.Reservation) {
	r := reservation(id, day, hour)
	e := rx.Event{
		ItemID: "item-r" + id, ChangeKey: "ck", UID: rx.RespaUID(instance, id), Link: rx.RespaLink(instance, id),
		Subject: "Respa - Bob Berg", Body: "notes", Location: "Kokoushuone 1, Pääkirjasto",
		Start: r.Begin, End: r.End, Organizer: rx.Person{Name: "Kokoushuone", Email: room, RoutingType: "SMTP"},
	}
	return e, r
}

type views struct {
	evs []rx.Event
	rs  []rx.Reservation
}

// planAfter plans a pass over the views "now", given a ledger settled on the views "before".
func planAfter(t *testing.T, before, now views, o rx.Options) *rx.Plan {
	t.Helper()
	l := settledLedger(t, before.evs, before.rs, o)
	return mustPlan(t, rx.Input{
		Exchange: rx.ExchangeView{Events: now.evs, Complete: true},
		Respa:    rx.RespaView{Reservations: now.rs, Complete: true},
		Ledger:   l, Options: o,
	})
}

func TestPlanCreatesFromExchange(t *testing.T) {
	e := event("1", 1, 10, "Alice Aalto Planning")
	p := mustPlan(t, rx.Input{
		Exchange: rx.ExchangeView{Events: []rx.Event{e}, Complete: true},
		Respa:    rx.RespaView{Complete: true},
		Options:  opts(),
	})
	expectWrites(t, p, map[string]int{"res.create": 1})
	got := p.ReservationCreates[0].Reservation
	if got.Subject != "Planning" || got.ReserverName != alice.Name || got.ReserverEmail != alice.Email {
		t.Errorf("mapping: got subject %q reserver %q <%s>", got.Subject, got.ReserverName, got.ReserverEmail)
	}
	if !got.Begin.Equal(e.Start) || !got.End.Equal(e.End) || got.Begin.Location() != time.UTC {
		t.Errorf("times: got %v–%v, want %v–%v in UTC", got.Begin, got.End, e.Start, e.End)
	}
	if k, ok := rx.ParseMarker(got.Comments); !ok || k != e.Key() || !strings.HasPrefix(got.Comments, rx.MarkerText) {
		t.Errorf("marker: comments %q", got.Comments)
	}
	if got.Description != "agenda" || got.ResourceID != resource {
		t.Errorf("description/resource: %+v", got)
	}

	// The cases that must not create.
	cancelled := e
	cancelled.Cancelled = true
	past := event("2", -2, 10, "old")
	for name, in := range map[string]rx.Input{
		"cancelled event":           {Exchange: rx.ExchangeView{Events: []rx.Event{cancelled}, Complete: true}, Respa: rx.RespaView{Complete: true}},
		"partial Respa listing":     {Exchange: rx.ExchangeView{Events: []rx.Event{e}, Complete: true}, Respa: rx.RespaView{Complete: false}},
		"event in the past":         {Exchange: rx.ExchangeView{Events: []rx.Event{past}, Complete: true}, Respa: rx.RespaView{Complete: true}},
		"already has a reservation": {Exchange: rx.ExchangeView{Events: []rx.Event{e}, Complete: true}, Respa: rx.RespaView{Complete: true, Reservations: []rx.Reservation{{ID: "9", ResourceID: resource, Begin: e.Start, End: e.End, State: rx.StateConfirmed, Comments: "note " + rx.Marker(e.Key())}}}},
	} {
		in.Options = opts()
		if name == "event in the past" {
			in.Options.Window.Start = t0.Add(-7 * 24 * time.Hour)
		}
		p := mustPlan(t, in)
		if n := len(p.ReservationCreates); n != 0 {
			t.Errorf("%s: %d reservation creates, want 0", name, n)
		}
	}
	o := opts()
	o.Direction = rx.RespaToExchange
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: []rx.Event{e}, Complete: true}, Respa: rx.RespaView{Complete: true}, Options: o})
	if len(p.ReservationCreates) != 0 {
		t.Errorf("direction RespaToExchange created a reservation")
	}
}

func TestPlanReserverResolution(t *testing.T) {
	x500 := "/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=carl"
	roomOrganized := event("1", 1, 10, "Kokoushuone Weekly")
	roomOrganized.Organizer = rx.Person{Name: "Kokoushuone", Email: room, RoutingType: "SMTP"}
	roomOrganized.RequiredAttendees = []rx.Person{{Name: "Kokoushuone", Email: room}, {Name: "Dana Dahl", Email: "dana@city.example", RoutingType: "SMTP"}}
	exOrganized := event("2", 2, 10, "Carl Corp Review")
	exOrganized.Organizer = rx.Person{Name: "Carl Corp", Email: x500, RoutingType: "EX"}

	in := rx.Input{
		Exchange: rx.ExchangeView{Events: []rx.Event{roomOrganized, exOrganized}, Complete: true},
		Respa:    rx.RespaView{Complete: true},
		Options:  opts(),
	}
	p := mustPlan(t, in)
	if len(p.ReservationCreates) != 1 {
		t.Fatalf("want only the room-organized event created while the EX organizer is unresolved, got %d", len(p.ReservationCreates))
	}
	if got := p.ReservationCreates[0].Reservation; got.ReserverEmail != "dana@city.example" || got.Subject != "Weekly" {
		t.Errorf("room as organizer: reserver %q subject %q, want the first attendee and the room's name stripped", got.ReserverEmail, got.Subject)
	}
	in.Names = map[string]rx.Person{x500: {Name: "Carl Corp", Email: "carl@city.example", RoutingType: "SMTP"}}
	p = mustPlan(t, in)
	if len(p.ReservationCreates) != 2 {
		t.Fatalf("resolved EX organizer: %d creates, want 2", len(p.ReservationCreates))
	}
	if got := p.ReservationCreates[1].Reservation; got.ReserverEmail != "carl@city.example" || got.Subject != "Review" {
		t.Errorf("EX organizer: reserver %q subject %q", got.ReserverEmail, got.Subject)
	}
}

func TestPlanCreatesFromRespa(t *testing.T) {
	r := reservation("7", 1, 12)
	p := mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{r}, Complete: true}, Options: opts()})
	expectWrites(t, p, map[string]int{"ev.create": 1})
	e := p.EventCreates[0].Event
	if e.UID != rx.RespaUID(instance, "7") || e.Link != rx.RespaLink(instance, "7") {
		t.Errorf("identity: uid %q link %q", e.UID, e.Link)
	}
	if e.Subject != "Respa - Bob Berg" || e.Body != "notes" || e.Location != "Kokoushuone 1, Pääkirjasto" {
		t.Errorf("mapping: %q / %q / %q", e.Subject, e.Body, e.Location)
	}
	if rx.RespaUID(instance, "7") != rx.RespaUID(instance, "7") || rx.RespaUID(instance, "7") == rx.RespaUID("other", "7") {
		t.Errorf("RespaUID must be deterministic and depend on the instance")
	}

	o := opts()
	o.SubjectTemplate = "{{.Resource}}: {{.Subject}}"
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{r}, Complete: true}, Options: o})
	if got := p.EventCreates[0].Event.Subject; got != "Kokoushuone 1: Board meeting" {
		t.Errorf("template subject: %q", got)
	}
	o.SubjectTemplate = "{{.Nope"
	if _, err := rx.PlanPass(rx.Input{Options: o}); err == nil {
		t.Errorf("a broken template must be an error")
	}

	for _, st := range []rx.State{rx.StateRequested, rx.StateCancelled, rx.StateDenied, rx.StateWaitingForPayment} {
		r2 := r
		r2.State = st
		p := mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{r2}, Complete: true}, Options: opts()})
		if len(p.EventCreates) != 0 {
			t.Errorf("state %s created an event; only confirmed go to Exchange", st)
		}
	}
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: false}, Respa: rx.RespaView{Reservations: []rx.Reservation{r}, Complete: true}, Options: opts()})
	if len(p.EventCreates) != 0 {
		t.Errorf("a partial Exchange listing must not lead to creates in Exchange")
	}
	other := r
	other.ResourceID = "elsewhere"
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{other}, Complete: true}, Options: opts()})
	if len(p.EventCreates) != 0 {
		t.Errorf("a reservation of another resource created an event")
	}
}

// A create retried after a crash (or a lost ledger) finds the first copy by its identity.
func TestPlanRetriedCreateFindsTheFirst(t *testing.T) {
	e1, r1 := respaBorn("7", 1, 12)
	e2, r2 := exchangeBorn("2", 2, 10)
	p := mustPlan(t, rx.Input{
		Exchange: rx.ExchangeView{Events: []rx.Event{e1, e2}, Complete: true},
		Respa:    rx.RespaView{Reservations: []rx.Reservation{r1, r2}, Complete: true},
		Options:  opts(),
	})
	expectWrites(t, p, nil)
	if p.Rebuilt != 2 || p.Ledger.Linked() != 2 {
		t.Errorf("rebuilt %d links, ledger has %d linked; want 2 and 2", p.Rebuilt, p.Ledger.Linked())
	}
	// The breaking case: a stamp of another Respa instance is not ours to link or copy.
	foreign := e1
	foreign.Link = rx.RespaLink("other-respa", "7")
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: []rx.Event{foreign}, Complete: true}, Respa: rx.RespaView{Complete: true}, Options: opts()})
	expectWrites(t, p, nil)
}

func TestPlanIdempotent(t *testing.T) {
	e1, r1 := respaBorn("7", 1, 12)
	e2, r2 := exchangeBorn("2", 2, 10)
	before := views{[]rx.Event{e1, e2}, []rx.Reservation{r1, r2}}

	p := planAfter(t, before, before, opts())
	expectWrites(t, p, nil)

	// Noise that is not a change: new ChangeKeys (a no-op save), a new ItemId of an
	// occurrence, modified_at, CRLF and trailing blanks, comments around the marker.
	n1, n2 := e1, e2
	n1.ChangeKey, n2.ChangeKey, n2.ItemID = "ck-new", "ck-new2", "item-new"
	n1.Body = "notes\r\n"
	m1, m2 := r1, r2
	m1.ModifiedAt, m2.ModifiedAt = t0.Add(time.Hour), t0.Add(time.Hour)
	m2.Comments = "booked by phone; " + m2.Comments
	p = planAfter(t, before, views{[]rx.Event{n1, n2}, []rx.Reservation{m1, m2}}, opts())
	expectWrites(t, p, nil)
}

func TestPlanChangesAndPolicies(t *testing.T) {
	ee, er := exchangeBorn("1", 1, 10) // born in Exchange
	re, rr := respaBorn("2", 2, 12)    // born in Respa
	before := views{[]rx.Event{ee, re}, []rx.Reservation{er, rr}}

	moveEv := func(e rx.Event, h time.Duration) rx.Event { e.Start, e.End = e.Start.Add(h), e.End.Add(h); return e }
	moveRes := func(r rx.Reservation, h time.Duration) rx.Reservation {
		r.Begin, r.End = r.Begin.Add(h), r.End.Add(h)
		return r
	}
	retitleEv := func(e rx.Event, s string) rx.Event { e.Subject = s; return e }

	type want struct {
		writes map[string]int
		check  func(t *testing.T, p *rx.Plan)
	}
	resBegin := func(h int) func(t *testing.T, p *rx.Plan) {
		return func(t *testing.T, p *rx.Plan) {
			if got := p.ReservationUpdates[0].Reservation.Begin; got.Hour() != h {
				t.Errorf("reservation begins at %v, want hour %d UTC", got, h)
			}
		}
	}
	evStart := func(h int) func(t *testing.T, p *rx.Plan) {
		return func(t *testing.T, p *rx.Plan) {
			if got := p.EventUpdates[0].Event.Start; got.Hour() != h {
				t.Errorf("event starts at %v, want hour %d UTC", got, h)
			}
		}
	}
	cases := []struct {
		name   string
		policy rx.ConflictPolicy
		dir    rx.Direction
		now    views
		want   want
	}{
		{"Exchange move of Exchange-born flows to Respa", rx.OriginWins, "", views{[]rx.Event{moveEv(ee, time.Hour), re}, []rx.Reservation{er, rr}},
			want{map[string]int{"res.update": 1}, resBegin(9)}},
		{"OriginWins: Respa move of Exchange-born is put back", rx.OriginWins, "", views{[]rx.Event{ee, re}, []rx.Reservation{moveRes(er, time.Hour), rr}},
			want{map[string]int{"res.update": 1}, resBegin(8)}},
		{"ExchangeWins: Respa move without conflict flows to Exchange", rx.ExchangeWins, "", views{[]rx.Event{ee, re}, []rx.Reservation{moveRes(er, time.Hour), rr}},
			want{map[string]int{"ev.update": 1}, evStart(9)}},
		{"OriginWins: Outlook move of Respa-born flows back to Respa", rx.OriginWins, "", views{[]rx.Event{ee, moveEv(re, 2*time.Hour)}, []rx.Reservation{er, rr}},
			want{map[string]int{"res.update": 1}, resBegin(12)}},
		{"OriginWins: Outlook retitle of Respa-born is put back", rx.OriginWins, "", views{[]rx.Event{ee, retitleEv(re, "mine now")}, []rx.Reservation{er, rr}},
			want{map[string]int{"ev.update": 1}, func(t *testing.T, p *rx.Plan) {
				if s := p.EventUpdates[0].Event.Subject; s != "Respa - Bob Berg" {
					t.Errorf("subject %q", s)
				}
			}}},
		{"OriginWins: Respa retitle of Respa-born reaches Exchange via the template", rx.OriginWins, "", views{[]rx.Event{ee, re}, []rx.Reservation{er, func() rx.Reservation { r := rr; r.ReserverName = "Eve"; return r }()}},
			want{map[string]int{"ev.update": 1}, func(t *testing.T, p *rx.Plan) {
				if s := p.EventUpdates[0].Event.Subject; s != "Respa - Eve" {
					t.Errorf("subject %q", s)
				}
			}}},
		{"Exchange retitle of Exchange-born flows to Respa without the organizer", rx.OriginWins, "", views{[]rx.Event{retitleEv(ee, "Alice Aalto Budget"), re}, []rx.Reservation{er, rr}},
			want{map[string]int{"res.update": 1}, func(t *testing.T, p *rx.Plan) {
				if s := p.ReservationUpdates[0].Reservation.Subject; s != "Budget" {
					t.Errorf("subject %q", s)
				}
			}}},
		{"conflict, OriginWins: the origin (Exchange) wins", rx.OriginWins, "", views{[]rx.Event{moveEv(ee, time.Hour), re}, []rx.Reservation{moveRes(er, 2*time.Hour), rr}},
			want{map[string]int{"res.update": 1}, resBegin(9)}},
		{"conflict, RespaWins", rx.RespaWins, "", views{[]rx.Event{moveEv(ee, time.Hour), re}, []rx.Reservation{moveRes(er, 2*time.Hour), rr}},
			want{map[string]int{"ev.update": 1}, evStart(10)}},
		{"conflict, ExchangeWins on a Respa-born pair", rx.ExchangeWins, "", views{[]rx.Event{ee, moveEv(re, time.Hour)}, []rx.Reservation{er, moveRes(rr, 2*time.Hour)}},
			want{map[string]int{"res.update": 1}, resBegin(11)}},
		{"conflict, OriginWins on a Respa-born pair: Respa wins", rx.OriginWins, "", views{[]rx.Event{ee, moveEv(re, time.Hour)}, []rx.Reservation{er, moveRes(rr, 2*time.Hour)}},
			want{map[string]int{"ev.update": 1}, evStart(12)}},
		{"direction ExchangeToRespa never writes Exchange", rx.RespaWins, rx.ExchangeToRespa, views{[]rx.Event{ee, re}, []rx.Reservation{moveRes(er, time.Hour), rr}},
			want{map[string]int{"res.update": 1}, resBegin(8)}},
		{"direction RespaToExchange never writes Respa", rx.ExchangeWins, rx.RespaToExchange, views{[]rx.Event{moveEv(ee, time.Hour), re}, []rx.Reservation{er, rr}},
			want{map[string]int{"ev.update": 1}, evStart(8)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts()
			o.ConflictPolicy, o.Direction = c.policy, c.dir
			p := planAfter(t, before, c.now, o)
			expectWrites(t, p, c.want.writes)
			if c.want.check != nil && !t.Failed() {
				c.want.check(t, p)
			}
			// The plan's own next ledger makes the following pass quiet: our writes never echo.
			next := applyPlan(c.now, p)
			p2 := mustPlan(t, rx.Input{
				Exchange: rx.ExchangeView{Events: next.evs, Complete: true},
				Respa:    rx.RespaView{Reservations: next.rs, Complete: true},
				Ledger:   p.Ledger, Options: o,
			})
			expectWrites(t, p2, nil)
		})
	}
}

// applyPlan applies a plan's updates to the views, as both backends would.
func applyPlan(v views, p *rx.Plan) views {
	out := views{append([]rx.Event(nil), v.evs...), append([]rx.Reservation(nil), v.rs...)}
	for _, u := range p.EventUpdates {
		for i := range out.evs {
			if out.evs[i].ItemID == u.Event.ItemID {
				out.evs[i] = u.Event
				out.evs[i].ChangeKey += "'"
			}
		}
	}
	for _, u := range p.ReservationUpdates {
		for i := range out.rs {
			if out.rs[i].ID == u.Reservation.ID {
				out.rs[i] = u.Reservation
			}
		}
	}
	return out
}

func TestPlanDeletions(t *testing.T) {
	ee, er := exchangeBorn("1", 1, 10)
	re, rr := respaBorn("2", 2, 12)
	before := views{[]rx.Event{ee, re}, []rx.Reservation{er, rr}}
	cancelledRes := func(r rx.Reservation, s rx.State) rx.Reservation { r.State = s; return r }
	cancelledEv := func(e rx.Event) rx.Event { e.Cancelled = true; return e }

	cases := []struct {
		name    string
		policy  rx.DeletionPolicy
		now     views
		goneEv  map[rx.EventKey]bool
		goneRes map[string]bool
		partial bool
		want    map[string]int
	}{
		{"reservation cancelled removes the event", rx.DeleteBoth, views{[]rx.Event{ee, re}, []rx.Reservation{er, cancelledRes(rr, rx.StateCancelled)}}, nil, nil, false, map[string]int{"ev.delete": 1}},
		{"reservation denied removes the event", rx.DeleteBoth, views{[]rx.Event{ee, re}, []rx.Reservation{cancelledRes(er, rx.StateDenied), rr}}, nil, nil, false, map[string]int{"ev.delete": 1}},
		{"Respa-born back to requested leaves Exchange", rx.DeleteBoth, views{[]rx.Event{ee, re}, []rx.Reservation{er, cancelledRes(rr, rx.StateRequested)}}, nil, nil, false, map[string]int{"ev.delete": 1}},
		{"policy ExchangeToRespa keeps the event", rx.DeleteExchangeToRespa, views{[]rx.Event{ee, re}, []rx.Reservation{er, cancelledRes(rr, rx.StateCancelled)}}, nil, nil, false, nil},
		{"event confirmed gone cancels the reservation", rx.DeleteBoth, views{[]rx.Event{re}, []rx.Reservation{er, rr}}, map[rx.EventKey]bool{ee.Key(): true}, nil, false, map[string]int{"res.cancel": 1}},
		{"event cancelled in Outlook cancels the reservation", rx.DeleteBoth, views{[]rx.Event{cancelledEv(ee), re}, []rx.Reservation{er, rr}}, nil, nil, false, map[string]int{"res.cancel": 1}},
		{"policy RespaToExchange keeps the reservation", rx.DeleteRespaToExchange, views{[]rx.Event{re}, []rx.Reservation{er, rr}}, map[rx.EventKey]bool{ee.Key(): true}, nil, false, nil},
		{"policy None keeps both", rx.DeleteNone, views{[]rx.Event{re}, []rx.Reservation{er, cancelledRes(rr, rx.StateCancelled)}}, map[rx.EventKey]bool{ee.Key(): true}, nil, false, nil},
		{"event missing but not confirmed gone deletes nothing", rx.DeleteBoth, views{[]rx.Event{re}, []rx.Reservation{er, rr}}, nil, nil, false, nil},
		{"a partial listing deletes nothing even if told gone", rx.DeleteBoth, views{[]rx.Event{re}, []rx.Reservation{er, rr}}, map[rx.EventKey]bool{ee.Key(): true}, nil, true, nil},
		{"reservation confirmed gone removes the event", rx.DeleteBoth, views{[]rx.Event{ee, re}, []rx.Reservation{er}}, nil, map[string]bool{rr.ID: true}, false, map[string]int{"ev.delete": 1}},
		{"reservation missing but not gone (left the window) deletes nothing", rx.DeleteBoth, views{[]rx.Event{ee, re}, []rx.Reservation{er}}, nil, nil, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts()
			o.DeletionPolicy = c.policy
			l := settledLedger(t, before.evs, before.rs, o)
			p := mustPlan(t, rx.Input{
				Exchange: rx.ExchangeView{Events: c.now.evs, Complete: !c.partial, Gone: c.goneEv},
				Respa:    rx.RespaView{Reservations: c.now.rs, Complete: true, Gone: c.goneRes},
				Ledger:   l, Options: o,
			})
			expectWrites(t, p, c.want)
		})
	}
}

func TestPlanLostLedgerDeletesNothing(t *testing.T) {
	ee, er := exchangeBorn("1", 1, 10)
	re, rr := respaBorn("2", 2, 12)
	er.State = rx.StateCancelled
	rr.State = rx.StateCancelled
	in := rx.Input{
		Exchange: rx.ExchangeView{Events: []rx.Event{ee, re}, Complete: true},
		Respa:    rx.RespaView{Reservations: []rx.Reservation{er, rr}, Complete: true},
		Options:  opts(),
	}
	p := mustPlan(t, in)
	expectWrites(t, p, nil)
	if p.Rebuilt != 2 || p.Ledger.Len() != 2 {
		t.Fatalf("want both links rebuilt and recorded, got rebuilt=%d ledger=%d", p.Rebuilt, p.Ledger.Len())
	}
	// With the links on record, the next pass acts on the explicit cancellations.
	in.Ledger = p.Ledger
	p = mustPlan(t, in)
	expectWrites(t, p, map[string]int{"ev.delete": 2})
}

func TestPlanMassDeletionGuard(t *testing.T) {
	var before, now views
	for i := range 12 {
		e, r := respaBorn(string(rune('a'+i)), 1+i, 10)
		before.evs, before.rs = append(before.evs, e), append(before.rs, r)
		if i < 7 {
			r.State = rx.StateCancelled
		}
		now.evs, now.rs = append(now.evs, e), append(now.rs, r)
	}
	o := opts()
	o.MassDeletionThresholdPercent = 50
	p := planAfter(t, before, now, o)
	expectWrites(t, p, nil)
	if len(p.Guard) != 1 || p.Guard[0].Side != rx.SideExchange || p.Guard[0].Deletes != 7 || p.Guard[0].Linked != 12 {
		t.Fatalf("guard: %+v", p.Guard)
	}
	if n := p.Ledger.Len(); n != 12 {
		t.Errorf("withheld deletes must keep their links, ledger has %d", n)
	}
	o.MassDeletionAcknowledged = true
	p = planAfter(t, before, now, o)
	expectWrites(t, p, map[string]int{"ev.delete": 7})
	// Below the threshold the deletes go ahead without acknowledgement.
	o.MassDeletionAcknowledged = false
	o.MassDeletionThresholdPercent = 60
	p = planAfter(t, before, now, o)
	expectWrites(t, p, map[string]int{"ev.delete": 7})
}

func TestPlanWindowAndPast(t *testing.T) {
	ee, er := exchangeBorn("1", 1, 10)
	o := opts()
	l := settledLedger(t, []rx.Event{ee}, []rx.Reservation{er}, o)

	// The window moved past the pair: nothing listed, nothing confirmed gone. Nothing is
	// deleted; the link is kept a while, then forgotten.
	o2 := o
	o2.Window.Start, o2.Now = at(3, 8), at(3, 8)
	p := mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: true}, Respa: rx.RespaView{Complete: true}, Ledger: l, Options: o2})
	expectWrites(t, p, nil)
	if p.Ledger.Len() != 1 {
		t.Errorf("a pair just behind the window must be kept a while, ledger has %d", p.Ledger.Len())
	}
	o2.Window.Start, o2.Now = at(30, 8), at(30, 8)
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: true}, Respa: rx.RespaView{Complete: true}, Ledger: l, Options: o2})
	if p.Ledger.Len() != 0 {
		t.Errorf("a pair long behind the window must be forgotten, ledger has %d", p.Ledger.Len())
	}

	// A reservation brought back from the past while its event stays there: the event follows
	// (found by lookup), no second event is made.
	re, rr := respaBorn("9", 1, 10)
	lr := settledLedger(t, []rx.Event{re}, []rx.Reservation{rr}, o)
	o4 := o
	o4.Window.Start, o4.Now = at(2, 8), at(2, 8)
	back := rr
	back.Begin, back.End = at(3, 10), at(3, 11)
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: []rx.Event{re}, Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{back}, Complete: true}, Ledger: lr, Options: o4})
	expectWrites(t, p, map[string]int{"ev.update": 1})

	// The event was moved far out of the window in Outlook; the lookup found it there.
	far := ee
	far.Start, far.End = at(400, 10), at(400, 11)
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: []rx.Event{far}, Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{er}, Complete: true}, Ledger: l, Options: o})
	if len(p.ReservationCancels) != 0 || len(p.EventDeletes) != 0 {
		t.Errorf("an item that left the window deleted something: %+v", writes(p))
	}

	// A change to an event that is already over is not written anywhere.
	o3 := o
	o3.Now = at(1, 12)
	moved := ee
	moved.Subject = "Alice Aalto Renamed"
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: []rx.Event{moved}, Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{er}, Complete: true}, Ledger: l, Options: o3})
	expectWrites(t, p, nil)
}

func TestPlanAllDayAndDST(t *testing.T) {
	// 29 March 2026: clocks in Helsinki go from 03:00 to 04:00, so the day has 23 hours.
	start := time.Date(2026, 3, 29, 0, 0, 0, 0, helsinki)
	end := time.Date(2026, 3, 30, 0, 0, 0, 0, helsinki)
	cases := map[string]rx.Event{
		"created in the room's zone": {Start: start.UTC(), End: end.UTC()},
		"created in UTC":             {Start: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)},
	}
	for name, e := range cases {
		e.ItemID, e.UID, e.Subject, e.AllDay, e.Organizer = "i", "u", "Alice Aalto Seminar", true, alice
		p := mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: []rx.Event{e}, Complete: true}, Respa: rx.RespaView{Complete: true}, Options: opts()})
		if len(p.ReservationCreates) != 1 {
			t.Fatalf("%s: no create", name)
		}
		got := p.ReservationCreates[0].Reservation
		if !got.Begin.Equal(start) || !got.End.Equal(end) {
			t.Errorf("%s: got %v – %v, want local midnights %v – %v", name, got.Begin, got.End, start.UTC(), end.UTC())
		}
		if got.End.Sub(got.Begin) != 23*time.Hour {
			t.Errorf("%s: the DST day lasts %v, want 23h", name, got.End.Sub(got.Begin))
		}
	}
	// Times in UTC on the wire: a Respa-born event keeps the instant, in UTC.
	r := reservation("5", 1, 10)
	r.Begin, r.End = r.Begin.In(helsinki), r.End.In(helsinki)
	p := mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Complete: true}, Respa: rx.RespaView{Reservations: []rx.Reservation{r}, Complete: true}, Options: opts()})
	if e := p.EventCreates[0].Event; e.Start.Location() != time.UTC || !e.Start.Equal(r.Begin) {
		t.Errorf("event start %v, want %v in UTC", e.Start, r.Begin.UTC())
	}
}

func TestPlanOccurrencesKeyedByRecurrenceID(t *testing.T) {
	var evs []rx.Event
	for i := range 3 {
		e := event("s", 1+7*i, 10, "Alice Aalto Weekly")
		e.Kind, e.ItemID, e.RecurrenceID = rx.Occurrence, "occ-"+string(rune('a'+i)), e.Start
		evs = append(evs, e)
	}
	p := mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: evs, Complete: true}, Respa: rx.RespaView{Complete: true}, Options: opts()})
	if len(p.ReservationCreates) != 3 {
		t.Fatalf("one reservation per occurrence: got %d", len(p.ReservationCreates))
	}
	seen := map[string]bool{}
	var rs []rx.Reservation
	for i, c := range p.ReservationCreates {
		if seen[c.Reservation.Comments] {
			t.Errorf("two occurrences share a marker %q", c.Reservation.Comments)
		}
		seen[c.Reservation.Comments] = true
		r := c.Reservation
		r.ID, r.State = string(rune('1'+i)), rx.StateConfirmed
		rs = append(rs, r)
	}
	l := settledLedger(t, evs, rs, opts())
	// The series changed elsewhere: every occurrence has a new ItemId, nothing else moved.
	for i := range evs {
		evs[i].ItemID += "-new"
		evs[i].ChangeKey = "x"
	}
	p = mustPlan(t, rx.Input{Exchange: rx.ExchangeView{Events: evs, Complete: true}, Respa: rx.RespaView{Reservations: rs, Complete: true}, Ledger: l, Options: opts()})
	expectWrites(t, p, nil)
	for _, e := range p.Ledger.Entries() {
		if !strings.HasSuffix(e.ItemID, "-new") {
			t.Errorf("ledger keeps the stale ItemId %q for %s", e.ItemID, e.Key)
		}
	}
}

func TestPlanRejectsBadOptions(t *testing.T) {
	for name, mut := range map[string]func(*rx.Options){
		"no instance":    func(o *rx.Options) { o.Instance = "" },
		"slash instance": func(o *rx.Options) { o.Instance = "a/b" },
		"empty window":   func(o *rx.Options) { o.Window.End = o.Window.Start },
		"bad direction":  func(o *rx.Options) { o.Direction = "Sideways" },
		"bad policy":     func(o *rx.Options) { o.ConflictPolicy = "LoudestWins" },
		"bad deletion":   func(o *rx.Options) { o.DeletionPolicy = "Some" },
	} {
		o := opts()
		mut(&o)
		if _, err := rx.PlanPass(rx.Input{Options: o}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPlanLinksByUIDWhenTheStampIsMissing(t *testing.T) {
	e, r := respaBorn("7", 1, 12)
	e.Link = ""
	p := mustPlan(t, rx.Input{
		Exchange: rx.ExchangeView{Events: []rx.Event{e}, Complete: true},
		Respa:    rx.RespaView{Reservations: []rx.Reservation{r}, Complete: true},
		Options:  opts(),
	})
	expectWrites(t, p, nil)
	if p.Rebuilt != 1 {
		t.Errorf("want the pair linked by its UID, rebuilt=%d", p.Rebuilt)
	}
}
