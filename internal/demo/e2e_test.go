package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/demo"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
	syncengine "github.com/respa-exchange/respa-exchange-operator/internal/sync"
	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

// TestEndToEnd runs the product as `make demo` does (demo.Start: kube-apiserver and etcd, both
// simulators over HTTP, the manager with the real sync engine) and checks two-way sync on the
// live objects and in both simulators. The subtests share one environment and run in order;
// each one after the demo scenario works on rooms of its own.
func TestEndToEnd(t *testing.T) {
	assets := filepath.Join(testenv.ModuleRoot(t), "bin", "k8s")
	if v := os.Getenv("KUBEBUILDER_ASSETS"); v != "" {
		assets = v
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		testenv.Skip(t, testenv.Envtest, "no kube-apiserver in %s (run `make tools`); skipping the end-to-end tests", assets)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	// A long resync interval: passes run when a subtest asks for one (requestedAt), so
	// that counters measured around them are not disturbed by passes nobody asked for.
	env, err := demo.Start(ctx, demo.Options{Assets: assets, Workdir: t.TempDir(), ResyncInterval: time.Hour})
	if err != nil {
		t.Fatalf("start the demo environment: %v", err)
	}
	defer env.Stop()
	t.Logf("environment up in %s", time.Since(began).Round(time.Millisecond))
	e := &e2e{Env: env, ctx: ctx, instance: backend.Instance(env.RespaURL + "/v1/"), instances: map[string]string{}}

	steps := []struct {
		name string
		run  func(*testing.T, *e2e)
	}{
		{"DemoScenarioCrosses", testDemoScenario},
		{"MovesRetitlesCancellations", testMovesAndCancellations},
		{"SeriesOccurrenceEdits", testSeriesOccurrenceEdits},
		{"Idempotence", testIdempotence},
		{"DryRun", testDryRun},
		{"UnknownRespaResource", testUnknownRespaResource},
		{"LostResponses", testLostResponses},
		{"CrashMidPass", testCrashMidPass},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, e) }) {
			// Later steps read state that earlier ones set up; stop at the first failure.
			return
		}
	}
}

// e2e is the shared environment plus what the checks need to know about identity.
type e2e struct {
	*demo.Env
	ctx context.Context
	// instance names the Respa simulator in the stamps of Respa-born events; instances
	// overrides it for rooms whose mailbox reaches Respa through another URL.
	instance  string
	instances map[string]string
}

// ---- the scenario of `make demo` ----

func testDemoScenario(t *testing.T, e *e2e) {
	aurora, _ := demo.RoomByName("aurora")
	boreal, _ := demo.RoomByName("boreal")
	began := time.Now()
	for _, name := range []string{"aurora", "boreal"} {
		eventually(t, 30*time.Second, name+" Ready", func() (bool, string) {
			res := e.resource(t, name)
			c := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.ReadyCondition)
			if c == nil || c.Status != metav1.ConditionTrue {
				return false, fmt.Sprintf("Ready: %+v", c)
			}
			return true, ""
		})
	}
	t.Logf("aurora and boreal Ready %s after the environment came up", time.Since(began).Round(time.Millisecond))

	// A meeting booked in Outlook: a reservation with its organizer as reserver.
	board := e.reservationsWith(aurora, "Board meeting")
	if len(board) != 1 {
		t.Fatalf("Board meeting: want 1 active reservation on aurora, got %d: %+v", len(board), board)
	}
	if b := board[0]; b.ReserverName != "Alice Andersson" || b.ReserverEmailAddress != "alice@demo.example" {
		t.Errorf("Board meeting reserver = %q <%s>, want Alice Andersson <alice@demo.example>", b.ReserverName, b.ReserverEmailAddress)
	}
	boardEv := e.event(t, aurora, "Board meeting")
	if !board[0].Begin.Equal(boardEv.Start) || !board[0].End.Equal(boardEv.End) {
		t.Errorf("Board meeting reserved %s–%s, event is %s–%s", board[0].Begin, board[0].End, boardEv.Start, boardEv.End)
	}

	// A reservation made in Respa: an event in the room's calendar, found by its identity.
	workshop := e.reservationsWith(boreal, "Workshop")
	if len(workshop) != 1 {
		t.Fatalf("Workshop: want 1 reservation on boreal, got %d", len(workshop))
	}
	ev, ok := e.mirrorOf(t, boreal, workshop[0])
	if !ok {
		t.Fatalf("Workshop (reservation %d) has no event in boreal's calendar: %s", workshop[0].ID, e.describe(t, boreal))
	}
	if !ev.Start.Equal(workshop[0].Begin) || !ev.End.Equal(workshop[0].End) {
		t.Errorf("Workshop event %s–%s, reservation %s–%s", ev.Start, ev.End, workshop[0].Begin, workshop[0].End)
	}
	if !strings.Contains(ev.Subject, "Matti Meikäläinen") {
		t.Errorf("Workshop event subject %q, want the reserver in it (Respa - <reserver>)", ev.Subject)
	}

	// A weekly series with an EX organizer: one reservation per occurrence, Bob resolved.
	var occurrences []exchangesim.ItemInfo
	for _, it := range e.view(t, aurora) {
		if it.Subject == "Weekly standup" {
			occurrences = append(occurrences, it)
		}
	}
	standups := e.reservationsWith(aurora, "Weekly standup")
	if len(occurrences) != 4 || len(standups) != len(occurrences) {
		t.Fatalf("Weekly standup: %d occurrences in the window, %d reservations; want 4 and 4", len(occurrences), len(standups))
	}
	for i, r := range standups {
		if r.ReserverName != "Bob Berg" || r.ReserverEmailAddress != "bob@demo.example" {
			t.Errorf("standup reservation %d: reserver %q <%s>, want Bob Berg <bob@demo.example> (EX address resolved)", r.ID, r.ReserverName, r.ReserverEmailAddress)
		}
		if !r.Begin.Equal(occurrences[i].Start) {
			t.Errorf("standup reservation %d begins %s, occurrence %d starts %s", r.ID, r.Begin, i, occurrences[i].Start)
		}
	}

	// The overlap Respa refuses: reported in status and as a Warning, the rest synced.
	sales := e.event(t, aurora, "Sales sync")
	res := e.resource(t, "aurora")
	var failed *v1alpha1.FailedItem
	for i, f := range res.Status.FailedItems {
		if strings.HasPrefix(f.Key, sales.UID) {
			failed = &res.Status.FailedItems[i]
		}
	}
	if failed == nil {
		t.Fatalf("status.failedItems has no entry for Sales sync (UID %s): %+v", sales.UID, res.Status.FailedItems)
	}
	if failed.Side != "Respa" || failed.Reason != "Rejected/Overlap" {
		t.Errorf("Sales sync failure = %+v, want side Respa, reason Rejected/Overlap", *failed)
	}
	if len(e.reservationsWith(aurora, "Sales sync")) != 0 {
		t.Errorf("Sales sync has a reservation although Respa refused it")
	}
	if c := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.SyncedCondition); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.PartialSyncReason {
		t.Errorf("aurora Synced = %+v, want False PartialSync", c)
	}
	eventually(t, 10*time.Second, "a Warning ItemFailed Event for aurora", func() (bool, string) {
		var list eventsv1.EventList
		if err := e.Client.List(e.ctx, &list, client.InNamespace(e.Namespace)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range list.Items {
			seen = append(seen, ev.Type+"/"+ev.Reason+"/"+ev.Regarding.Name)
			if ev.Regarding.Name == "aurora" && ev.Type == "Warning" && ev.Reason == "ItemFailed" && strings.Contains(ev.Note, sales.UID) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("events: %v", seen)
	})
	for _, room := range []demo.Room{aurora, boreal} {
		if problems := e.crossCheck(t, room, sales.UID); len(problems) > 0 {
			t.Errorf("%s is not in sync:\n%s\n%s", room.Name, strings.Join(problems, "\n"), e.describe(t, room))
		}
	}
}

// ---- moves, retitles and cancellations both ways ----

func testMovesAndCancellations(t *testing.T, e *e2e) {
	room := e.addRoom(t, "cirrus", roomSpec{})
	alice := exchangesim.Person{Name: "Alice Andersson", SMTP: "alice@demo.example"}
	start := day(3, 10, 0)
	planning, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: "Planning", Body: "Agenda", Start: start, End: start.Add(time.Hour), Organizer: alice})
	if err != nil {
		t.Fatal(err)
	}
	retro, err := e.Respa.CreateAs(demo.RespaUser, respasim.ReservationRequest{ResourceID: room.ResourceID, Begin: day(3, 14, 0), End: day(3, 15, 0),
		EventSubject: "Retro", ReserverName: "Matti Meikäläinen", ReserverEmailAddress: "matti@demo.example"})
	if err != nil {
		t.Fatal(err)
	}
	e.createResource(t, room, roomSpec{})
	e.syncUntil(t, room, "both bookings crossed", func() (bool, string) {
		p := e.crossCheck(t, room)
		return len(p) == 0 && len(e.reservationsWith(room, "Planning")) == 1, strings.Join(p, "; ")
	})

	// Outlook moves and retitles the meeting: the reservation follows.
	newStart, newTitle := start.Add(time.Hour), "Planning, second round"
	newEnd := newStart.Add(90 * time.Minute)
	if _, err := e.Exchange.UpdateEvent(room.Email, planning.ID, exchangesim.EventChange{Subject: &newTitle, Start: &newStart, End: &newEnd}); err != nil {
		t.Fatal(err)
	}
	e.syncUntil(t, room, "the reservation follows the moved and retitled meeting", func() (bool, string) {
		rs := e.reservationsWith(room, "Planning")
		if len(rs) != 1 {
			return false, fmt.Sprintf("%d reservations", len(rs))
		}
		r := rs[0]
		return r.EventSubject == newTitle && r.Begin.Equal(newStart) && r.End.Equal(newEnd), fmt.Sprintf("%q %s–%s", r.EventSubject, r.Begin, r.End)
	})
	planningRes := e.reservationsWith(room, "Planning")[0]

	// Outlook cancels it: the reservation is cancelled.
	if err := e.Exchange.DeleteEvent(room.Email, planning.ID); err != nil {
		t.Fatal(err)
	}
	e.syncUntil(t, room, "the reservation of the cancelled meeting is cancelled", func() (bool, string) {
		r, _ := e.Respa.Reservation(planningRes.ID)
		return r.State == respasim.StateCancelled, "state " + r.State
	})

	// Respa edits its reservation's description: the event's body follows.
	if _, err := e.Respa.UpdateAs(demo.RespaUser, retro.ID, "Retro", "Bring sticky notes"); err != nil {
		t.Fatal(err)
	}
	e.syncUntil(t, room, "the event's body follows the reservation's description", func() (bool, string) {
		r, _ := e.Respa.Reservation(retro.ID)
		ev, ok := e.mirrorOf(t, room, r)
		return ok && strings.Contains(ev.Body, "Bring sticky notes"), fmt.Sprintf("event body %q", ev.Body)
	})

	// Respa moves its reservation: the event moves.
	movedBegin := day(3, 16, 0)
	if _, err := e.Respa.MoveAs(demo.RespaUser, retro.ID, movedBegin, movedBegin.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.syncUntil(t, room, "the event follows the moved reservation", func() (bool, string) {
		r, _ := e.Respa.Reservation(retro.ID)
		ev, ok := e.mirrorOf(t, room, r)
		if !ok {
			return false, "no event"
		}
		return ev.Start.Equal(movedBegin) && ev.End.Equal(movedBegin.Add(30*time.Minute)), fmt.Sprintf("event %s–%s", ev.Start, ev.End)
	})

	// Respa cancels it: the event is deleted.
	if err := e.Respa.CancelAs(demo.RespaUser, retro.ID); err != nil {
		t.Fatal(err)
	}
	e.syncUntil(t, room, "the event of the cancelled reservation is deleted", func() (bool, string) {
		r, _ := e.Respa.Reservation(retro.ID)
		if _, ok := e.mirrorOf(t, room, r); ok {
			return false, "event still there"
		}
		return len(e.view(t, room)) == 0, e.describe(t, room)
	})
	if problems := e.crossCheck(t, room); len(problems) > 0 {
		t.Errorf("cirrus is not in sync: %s", strings.Join(problems, "; "))
	}
}

// ---- a series edited one occurrence at a time ----

func testSeriesOccurrenceEdits(t *testing.T, e *e2e) {
	room := e.addRoom(t, "delta", roomSpec{})
	first := day(8, 12, 0)
	local := first.In(demo.Zone)
	series, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: "Daily check-in", Start: first, End: first.Add(30 * time.Minute),
		Organizer:  exchangesim.Person{Name: "Carol Castrén", SMTP: "carol@demo.example"},
		Recurrence: &exchangesim.Recurrence{Pattern: "Daily", Interval: 1, StartDate: local.Format("2006-01-02"), NumberOfOccurrences: 3}})
	if err != nil {
		t.Fatal(err)
	}
	e.createResource(t, room, roomSpec{})
	e.syncUntil(t, room, "one reservation per occurrence", func() (bool, string) {
		p := e.crossCheck(t, room)
		return len(p) == 0 && len(e.reservationsWith(room, "Daily check-in")) == 3, strings.Join(p, "; ")
	})
	occ := e.view(t, room)
	before := e.reservationsWith(room, "Daily check-in")
	if len(occ) != 3 || occ[0].UID != series.UID || occ[1].RecurrenceID == nil {
		t.Fatalf("the series' view is not three occurrences: %s", e.describe(t, room))
	}

	// Outlook moves the second occurrence: only its reservation moves, and the other two
	// keep theirs (an occurrence is known by UID and recurrence id, not by its ItemId).
	moved := occ[1].Start.Add(2 * time.Hour)
	movedEnd := moved.Add(30 * time.Minute)
	if _, err := e.Exchange.UpdateEvent(room.Email, occ[1].ID, exchangesim.EventChange{Start: &moved, End: &movedEnd}); err != nil {
		t.Fatal(err)
	}
	e.syncUntil(t, room, "the moved occurrence's reservation follows", func() (bool, string) {
		r, _ := e.Respa.Reservation(before[1].ID)
		return r.Begin.Equal(moved) && len(e.crossCheck(t, room)) == 0, fmt.Sprintf("reservation %d begins %s", r.ID, r.Begin)
	})
	for _, i := range []int{0, 2} {
		if r, _ := e.Respa.Reservation(before[i].ID); !active(r) || !r.Begin.Equal(before[i].Begin) {
			t.Errorf("occurrence %d's reservation %d changed: %s %s, was %s", i, r.ID, r.State, r.Begin, before[i].Begin)
		}
	}

	// Outlook deletes the third occurrence: its reservation is cancelled, the others stay.
	if err := e.Exchange.DeleteEvent(room.Email, occ[2].ID); err != nil {
		t.Fatal(err)
	}
	e.syncUntil(t, room, "the deleted occurrence's reservation is cancelled", func() (bool, string) {
		r, _ := e.Respa.Reservation(before[2].ID)
		return r.State == respasim.StateCancelled, "state " + r.State
	})
	if got := e.reservationsWith(room, "Daily check-in"); len(got) != 2 || got[0].ID != before[0].ID || got[1].ID != before[1].ID {
		t.Errorf("after deleting one occurrence: active reservations %v, want %d and %d", ids(got), before[0].ID, before[1].ID)
	}
	if p := e.crossCheck(t, room); len(p) > 0 {
		t.Errorf("delta is not in sync: %s", strings.Join(p, "; "))
	}
	if all := e.reservations(room, true); len(all) != 3 {
		t.Errorf("Respa holds %d reservations of delta (cancelled included), want 3: %s", len(all), e.describe(t, room))
	}
}

func ids(rs []respasim.Reservation) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// ---- idempotence ----

func testIdempotence(t *testing.T, e *e2e) {
	rooms := []demo.Room{e.room("boreal"), e.room("cirrus"), e.room("delta")}
	// Book something new in cirrus so that the pass before the quiet ones has work to do.
	s := day(4, 9, 0)
	if _, err := e.Exchange.CreateEvent(rooms[1].Email, exchangesim.Event{Subject: "Steering group", Start: s, End: s.Add(time.Hour),
		Organizer: exchangesim.Person{Name: "Carol Castrén", SMTP: "carol@demo.example"}}); err != nil {
		t.Fatal(err)
	}
	for _, room := range rooms {
		e.syncUntil(t, room, "quiescence", func() (bool, string) { return len(e.crossCheck(t, room)) == 0, "" })
		e.quiesce(t, room)
	}

	exBefore, respaBefore := e.Exchange.Counters().ByOperation, e.Respa.Counters()
	for round := range 2 {
		for _, room := range rooms {
			res := e.forcePass(t, room.Name)
			c := res.Status.Counts
			if c.Exchange != (v1alpha1.WriteCounts{}) || c.Respa != (v1alpha1.WriteCounts{}) {
				t.Errorf("%s, quiet pass %d: counts.exchange %+v, counts.respa %+v, want all zero", room.Name, round+1, c.Exchange, c.Respa)
			}
			if c.LinkedPairs == 0 {
				t.Errorf("%s, quiet pass %d: no linked pairs; the check would pass on an empty room", room.Name, round+1)
			}
		}
	}
	exAfter, respaAfter := e.Exchange.Counters().ByOperation, e.Respa.Counters()
	for _, op := range []string{"CreateItem", "UpdateItem", "DeleteItem"} {
		if d := exAfter[op] - exBefore[op]; d != 0 {
			t.Errorf("Exchange received %d %s during quiet passes", d, op)
		}
	}
	if exAfter["FindItem"] == exBefore["FindItem"] {
		t.Errorf("Exchange saw no FindItem during the quiet passes: did they run at all?")
	}
	for k, v := range respaAfter {
		method, kind, _ := strings.Cut(k, " ")
		if kind == "admin" || method == "GET" || method == "HEAD" || method == "OPTIONS" {
			continue
		}
		if d := v - respaBefore[k]; d != 0 {
			t.Errorf("Respa received %d %s during quiet passes", d, k)
		}
	}
}

// ---- dryRun ----

func testDryRun(t *testing.T, e *e2e) {
	room := e.addRoom(t, "estrella", roomSpec{})
	s := day(5, 9, 0)
	if _, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: "Budget talks", Start: s, End: s.Add(time.Hour),
		Organizer: exchangesim.Person{Name: "Alice Andersson", SMTP: "alice@demo.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Respa.CreateAs(demo.RespaUser, respasim.ReservationRequest{ResourceID: room.ResourceID, Begin: day(5, 13, 0), End: day(5, 14, 0),
		EventSubject: "Choir practice", ReserverName: "Matti Meikäläinen", ReserverEmailAddress: "matti@demo.example"}); err != nil {
		t.Fatal(err)
	}
	itemsBefore, _ := e.Exchange.Items(room.Email)
	reservationsBefore := e.reservations(room, true)
	exBefore, respaBefore := e.Exchange.Counters().ByOperation, e.Respa.Counters()

	e.createResource(t, room, roomSpec{dryRun: true})
	var res *v1alpha1.ExchangeResource
	eventually(t, 30*time.Second, "a dry run pass", func() (bool, string) {
		res = e.resource(t, room.Name)
		c := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.SyncedCondition)
		return c != nil && c.Reason == v1alpha1.DryRunReason, fmt.Sprintf("Synced %+v", c)
	})
	res = e.forcePass(t, room.Name) // a second pass must not act on the first one's plan either
	if c := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.SyncedCondition); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.DryRunReason {
		t.Errorf("Synced = %+v, want False with reason DryRun", c)
	}
	var creates []string
	for _, a := range res.Status.PlannedActions {
		creates = append(creates, a.Side+" "+a.Action+" "+a.Reason)
	}
	want := map[string]bool{"Respa": false, "Exchange": false}
	for _, a := range res.Status.PlannedActions {
		if strings.EqualFold(a.Action, "create") {
			want[a.Side] = true
		}
	}
	if !want["Respa"] || !want["Exchange"] || len(res.Status.PlannedActions) != 2 {
		t.Errorf("plannedActions = %v, want one create in Respa (Budget talks) and one in Exchange (Choir practice)", creates)
	}

	itemsAfter, _ := e.Exchange.Items(room.Email)
	if len(itemsAfter) != len(itemsBefore) {
		t.Errorf("dry run: Exchange had %d items in %s, now %d", len(itemsBefore), room.Email, len(itemsAfter))
	}
	if after := e.reservations(room, true); len(after) != len(reservationsBefore) {
		t.Errorf("dry run: Respa had %d reservations of %s, now %d", len(reservationsBefore), room.ResourceID, len(after))
	}
	exAfter, respaAfter := e.Exchange.Counters().ByOperation, e.Respa.Counters()
	for _, op := range []string{"CreateItem", "UpdateItem", "DeleteItem"} {
		if d := exAfter[op] - exBefore[op]; d != 0 {
			t.Errorf("dry run: Exchange received %d %s", d, op)
		}
	}
	for k, v := range respaAfter {
		method, kind, _ := strings.Cut(k, " ")
		if kind != "admin" && method != "GET" && v != respaBefore[k] {
			t.Errorf("dry run: Respa received %d %s", v-respaBefore[k], k)
		}
	}
}

// ---- a room Respa does not know ----

func testUnknownRespaResource(t *testing.T, e *e2e) {
	room := e.addRoom(t, "fjord", roomSpec{})
	room.ResourceID = "no-such-room"
	e.createResource(t, room, roomSpec{})
	eventually(t, 30*time.Second, "Stalled RespaResourceNotFound", func() (bool, string) {
		res := e.resource(t, room.Name)
		c := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.StalledCondition)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.RespaResourceNotFoundReason {
			return false, fmt.Sprintf("Stalled %+v", c)
		}
		if !strings.Contains(c.Message, "no-such-room") {
			return false, "message does not name the resource: " + c.Message
		}
		r := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.ReadyCondition)
		return r != nil && r.Status == metav1.ConditionFalse, fmt.Sprintf("Ready %+v", r)
	})
}

// ---- writes whose answers are lost ----

// testLostResponses puts proxies between the operator and both simulators that let the first
// creates through and then answer 502 in place of the simulator's reply, as a dropped
// connection or a gateway timeout would: the booking exists but the operator does not know.
// The next passes must find those bookings by their identity instead of making them twice.
func testLostResponses(t *testing.T, e *e2e) {
	exProxy := newLossyProxy(t, e.ExchangeURL, func(r *http.Request, body []byte) bool {
		return bytes.Contains(body, []byte("CreateItem"))
	}, 1)
	respaProxy := newLossyProxy(t, e.RespaURL, func(r *http.Request, _ []byte) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/v1/reservation/"
	}, 2)
	mb := &v1alpha1.ExchangeMailbox{}
	if err := e.Client.Get(e.ctx, types.NamespacedName{Namespace: e.Namespace, Name: "city-hall"}, mb); err != nil {
		t.Fatal(err)
	}
	lossy := &v1alpha1.ExchangeMailbox{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: "city-hall-lossy"}, Spec: *mb.Spec.DeepCopy()}
	lossy.Spec.Exchange.URL = exProxy.URL + "/EWS/Exchange.asmx"
	lossy.Spec.Respa.URL = respaProxy.URL + "/v1/"
	if err := e.Client.Create(e.ctx, lossy); err != nil {
		t.Fatal(err)
	}

	room := e.addRoom(t, "echo", roomSpec{})
	e.instances[room.Name] = backend.Instance(lossy.Spec.Respa.URL)
	const each = 3
	for i := range each {
		s := day(9, 9+i, 0)
		if _, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: fmt.Sprintf("Interview %d", i), Start: s, End: s.Add(30 * time.Minute),
			Organizer: exchangesim.Person{Name: "Alice Andersson", SMTP: "alice@demo.example"}}); err != nil {
			t.Fatal(err)
		}
		s = day(9, 14+i, 0)
		if _, err := e.Respa.CreateAs(demo.RespaUser, respasim.ReservationRequest{ResourceID: room.ResourceID, Begin: s, End: s.Add(30 * time.Minute),
			EventSubject: fmt.Sprintf("Consultation %d", i), ReserverName: "Matti Meikäläinen", ReserverEmailAddress: "matti@demo.example"}); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Now()
	e.createResource(t, room, roomSpec{mailbox: lossy.Name})
	e.syncUntil(t, room, "in sync through lossy proxies", func() (bool, string) {
		p := e.crossCheck(t, room)
		return len(p) == 0, strings.Join(p, "; ")
	})
	e.quiesce(t, room)
	if exProxy.lost() != 1 || respaProxy.lost() != 2 {
		t.Fatalf("the proxies lost %d Exchange and %d Respa answers, want 1 and 2: the test did not exercise lost answers", exProxy.lost(), respaProxy.lost())
	}
	e.checkWhole(t, room, 2*each)
	t.Logf("in sync and quiet %s after the resource was created", time.Since(created).Round(time.Millisecond))

	// Leave nothing behind that talks through the proxies once they close.
	for _, o := range []client.Object{e.resource(t, room.Name), lossy} {
		if err := e.Client.Delete(e.ctx, o); err != nil {
			t.Errorf("delete %s: %v", o.GetName(), err)
		}
	}
}

// lossyProxy forwards to a simulator and, for the first n requests that match, throws the
// simulator's answer away and answers 502.
type lossyProxy struct {
	URL   string
	mu    sync.Mutex
	left  int
	count int
}

func newLossyProxy(t *testing.T, target string, match func(*http.Request, []byte) bool, n int) *lossyProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{left: n}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // EWS streaming answers flow as they come
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !match(r, body) || !p.take() {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		http.Error(w, "bad gateway: upstream answer lost", http.StatusBadGateway)
	}))
	t.Cleanup(func() {
		// The notifier's EWS stream may still be open through the proxy.
		srv.CloseClientConnections()
		srv.Close()
	})
	p.URL = srv.URL
	return p
}

func (p *lossyProxy) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.left == 0 {
		return false
	}
	p.left--
	p.count++
	return true
}

func (p *lossyProxy) lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// ---- a manager stopped mid-pass ----

func testCrashMidPass(t *testing.T, e *e2e) {
	room := e.addRoom(t, "dynamo", roomSpec{})
	const fromExchange, fromRespa = 20, 5
	bob := exchangesim.Person{Name: "Bob Berg", SMTP: "bob@demo.example"}
	for i := range fromExchange {
		s := day(6+i/8, 8+i%8, 0)
		if _, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: fmt.Sprintf("Review %02d", i), Start: s, End: s.Add(30 * time.Minute), Organizer: bob}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range fromRespa {
		s := day(6+i, 17, 0)
		if _, err := e.Respa.CreateAs(demo.RespaUser, respasim.ReservationRequest{ResourceID: room.ResourceID, Begin: s, End: s.Add(time.Hour),
			EventSubject: fmt.Sprintf("Evening class %d", i), ReserverName: "Matti Meikäläinen", ReserverEmailAddress: "matti@demo.example"}); err != nil {
			t.Fatal(err)
		}
	}
	// Respa answers each create slowly, so the pass is still creating when the manager stops.
	e.Respa.InjectFault(respasim.Fault{Method: "POST", PathPrefix: "/v1/reservation/", Delay: respasim.Duration(250 * time.Millisecond)})
	defer e.Respa.ClearFaults()
	e.createResource(t, room, roomSpec{})
	created := func() int { return len(e.reservations(room, true)) - fromRespa }
	eventually(t, 30*time.Second, "the first pass creating reservations", func() (bool, string) {
		return created() >= 4, fmt.Sprintf("%d created", created())
	})
	if err := e.StopManager(); err != nil {
		t.Fatal(err)
	}
	atStop := created()
	t.Logf("manager stopped after %d of %d reservation creates", atStop, fromExchange)
	if atStop >= fromExchange {
		t.Fatalf("the pass finished before the manager stopped (%d creates); the test proves nothing", atStop)
	}
	e.Respa.ClearFaults()
	if err := e.StartManager(); err != nil {
		t.Fatalf("start a new manager: %v", err)
	}

	e.syncUntil(t, room, "both sides whole after the restart", func() (bool, string) {
		p := e.crossCheck(t, room)
		return len(p) == 0, strings.Join(p, "; ")
	})
	e.quiesce(t, room)
	e.checkWhole(t, room, fromExchange+fromRespa)

	// The restarted operator also finds its pairs when the ledger is gone: identity on both
	// sides (the marker in Respa, the UID and stamp in Exchange), not the ledger, prevents
	// duplicates.
	res := e.resource(t, room.Name)
	ledger := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: controllers.LedgerName(res)}}
	if err := e.Client.Delete(e.ctx, ledger); err != nil {
		t.Fatalf("delete the ledger: %v", err)
	}
	e.quiesce(t, room)
	e.checkWhole(t, room, fromExchange+fromRespa)
}

// checkWhole asserts that the room is in sync, that nothing failed (a create refused as an
// overlap with its own first copy would mean the engine lost a pair), and that neither side
// ever got a second copy of anything, not even one removed later.
func (e *e2e) checkWhole(t *testing.T, room demo.Room, bookings int) {
	t.Helper()
	if p := e.crossCheck(t, room); len(p) > 0 {
		t.Errorf("after quiescence: %s", strings.Join(p, "\n"))
	}
	res := e.resource(t, room.Name)
	if c := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.SyncedCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Synced = %+v, failed items %+v; want True", c, res.Status.FailedItems)
	}
	if got := res.Status.Counts.LinkedPairs; got != int32(bookings) {
		t.Errorf("status.counts.linkedPairs = %d, want %d", got, bookings)
	}
	if all := e.reservations(room, true); len(all) != bookings {
		t.Errorf("Respa holds %d reservations of %s (cancelled included), want %d: %s", len(all), room.ResourceID, bookings, e.describe(t, room))
	}
	if items, _ := e.Exchange.Items(room.Email); len(items) != bookings {
		t.Errorf("Exchange holds %d items in %s, want %d", len(items), room.Email, bookings)
	}
}

// ---- helpers ----

// eventually polls cond until it holds or the timeout passes; the failure names the last detail.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var detail string
	for {
		var ok bool
		if ok, detail = cond(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, detail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// day is a time of day in the rooms' zone, days from today.
func day(days, hour, minute int) time.Time {
	now := time.Now().In(demo.Zone)
	return time.Date(now.Year(), now.Month(), now.Day()+days, hour, minute, 0, 0, demo.Zone).UTC()
}

// roomSpec is what differs between the ExchangeResources of the subtests.
type roomSpec struct {
	dryRun  bool
	mailbox string // default city-hall
}

// room returns a room this test added (or one of the scenario's).
func (e *e2e) room(name string) demo.Room {
	if r, ok := demo.RoomByName(name); ok {
		return r
	}
	return demo.Room{Name: name, Email: name + "@demo.example", ResourceID: name, Title: strings.ToUpper(name[:1]) + name[1:] + " room"}
}

// addRoom adds a room mailbox the demo account may impersonate and a Respa resource in the
// demo's unit, as an administrator would before creating its ExchangeResource.
func (e *e2e) addRoom(t *testing.T, name string, _ roomSpec) demo.Room {
	t.Helper()
	r := e.room(name)
	if _, err := e.Exchange.AddMailbox(r.Email, r.Title); err != nil {
		t.Fatal(err)
	}
	if err := e.Exchange.Grant("user:"+demo.ExchangeAccount, r.Email); err != nil {
		t.Fatal(err)
	}
	e.Respa.AddResource(respasim.Resource{ID: r.ResourceID, UnitID: "kaupungintalo", Name: map[string]string{"fi": r.Title, "en": r.Title}, Reservable: true, Public: true})
	return r
}

func (e *e2e) createResource(t *testing.T, r demo.Room, spec roomSpec) {
	t.Helper()
	mailbox := spec.mailbox
	if mailbox == "" {
		mailbox = "city-hall"
	}
	res := &v1alpha1.ExchangeResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: r.Name},
		Spec: v1alpha1.ExchangeResourceSpec{
			MailboxRef:     v1alpha1.LocalObjectReference{Name: mailbox},
			Exchange:       v1alpha1.ResourceExchange{Email: r.Email},
			Respa:          v1alpha1.ResourceRespa{ResourceID: r.ResourceID},
			ResyncInterval: metav1.Duration{Duration: time.Hour},
			Window:         v1alpha1.SyncWindow{Future: &metav1.Duration{Duration: 60 * 24 * time.Hour}},
			DryRun:         spec.dryRun,
		},
	}
	if err := e.Client.Create(e.ctx, res); err != nil {
		t.Fatalf("create ExchangeResource %s: %v", r.Name, err)
	}
}

func (e *e2e) resource(t *testing.T, name string) *v1alpha1.ExchangeResource {
	t.Helper()
	res := &v1alpha1.ExchangeResource{}
	if err := e.Client.Get(e.ctx, types.NamespacedName{Namespace: e.Namespace, Name: name}, res); err != nil {
		t.Fatalf("get ExchangeResource %s: %v", name, err)
	}
	return res
}

// forcePass asks for a pass with the requestedAt annotation and returns the resource once
// the reconciler has handled that request.
func (e *e2e) forcePass(t *testing.T, name string) *v1alpha1.ExchangeResource {
	t.Helper()
	token := time.Now().UTC().Format(time.RFC3339Nano)
	res := e.resource(t, name)
	patch := client.MergeFrom(res.DeepCopy())
	if res.Annotations == nil {
		res.Annotations = map[string]string{}
	}
	res.Annotations[v1alpha1.ReconcileRequestAnnotation] = token
	if err := e.Client.Patch(e.ctx, res, patch); err != nil {
		t.Fatalf("annotate %s: %v", name, err)
	}
	eventually(t, 30*time.Second, "pass "+token+" of "+name, func() (bool, string) {
		res = e.resource(t, name)
		return res.Status.LastHandledReconcileAt == token, "lastHandledReconcileAt " + res.Status.LastHandledReconcileAt
	})
	return res
}

// syncUntil forces passes until cond holds.
func (e *e2e) syncUntil(t *testing.T, room demo.Room, what string, cond func() (bool, string)) {
	t.Helper()
	eventually(t, 45*time.Second, room.Name+": "+what, func() (bool, string) {
		if ok, _ := cond(); ok {
			return true, ""
		}
		e.forcePass(t, room.Name)
		return cond()
	})
}

// quiesce forces passes until one writes nothing.
func (e *e2e) quiesce(t *testing.T, room demo.Room) {
	t.Helper()
	eventually(t, 45*time.Second, room.Name+": a pass without writes", func() (bool, string) {
		c := e.forcePass(t, room.Name).Status.Counts
		return c.Exchange == (v1alpha1.WriteCounts{}) && c.Respa == (v1alpha1.WriteCounts{}), fmt.Sprintf("exchange %+v respa %+v", c.Exchange, c.Respa)
	})
}

// view is the room's calendar view over the resources' window.
func (e *e2e) view(t *testing.T, room demo.Room) []exchangesim.ItemInfo {
	t.Helper()
	now := time.Now()
	items, err := e.Exchange.CalendarView(room.Email, now.Add(-24*time.Hour), now.Add(60*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Start.Before(items[j].Start) })
	return items
}

func (e *e2e) event(t *testing.T, room demo.Room, subject string) exchangesim.ItemInfo {
	t.Helper()
	for _, it := range e.view(t, room) {
		if it.Subject == subject {
			return it
		}
	}
	t.Fatalf("no event %q in %s", subject, room.Email)
	return exchangesim.ItemInfo{}
}

// reservations lists the room's reservations by begin, cancelled and denied ones only when asked.
func (e *e2e) reservations(room demo.Room, all bool) []respasim.Reservation {
	var out []respasim.Reservation
	for _, r := range e.Respa.Reservations() {
		if r.ResourceID == room.ResourceID && (all || active(r)) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Begin.Before(out[j].Begin) })
	return out
}

// reservationsWith are the room's active reservations whose subject starts with subject.
func (e *e2e) reservationsWith(room demo.Room, subject string) []respasim.Reservation {
	var out []respasim.Reservation
	for _, r := range e.reservations(room, false) {
		if strings.HasPrefix(r.EventSubject, subject) {
			out = append(out, r)
		}
	}
	return out
}

func active(r respasim.Reservation) bool {
	return r.State != respasim.StateCancelled && r.State != respasim.StateDenied
}

func (e *e2e) instanceOf(room demo.Room) string {
	if in, ok := e.instances[room.Name]; ok {
		return in
	}
	return e.instance
}

// mirrorOf finds the event that mirrors a Respa-born reservation, by the identity the sync
// engine gives it.
func (e *e2e) mirrorOf(t *testing.T, room demo.Room, r respasim.Reservation) (exchangesim.ItemInfo, bool) {
	t.Helper()
	uid := syncengine.RespaUID(e.instanceOf(room), fmt.Sprint(r.ID))
	for _, it := range e.view(t, room) {
		if it.UID == uid {
			return it, true
		}
	}
	return exchangesim.ItemInfo{}, false
}

// crossCheck states the no-duplicates and no-lost-items invariants over the room as both
// simulators hold it: every event in the window has exactly one active reservation and
// every active reservation exactly one event, with the same times. Events whose UID is in
// refused are expected to have no reservation (Respa refused them).
func (e *e2e) crossCheck(t *testing.T, room demo.Room, refused ...string) []string {
	t.Helper()
	var problems []string
	events := map[syncengine.EventKey][]exchangesim.ItemInfo{}
	for _, it := range e.view(t, room) {
		var rid time.Time
		if it.RecurrenceID != nil {
			rid = *it.RecurrenceID
		}
		k := syncengine.KeyOf(it.UID, rid)
		events[k] = append(events[k], it)
	}
	linked := map[syncengine.EventKey][]respasim.Reservation{}
	for _, r := range e.reservations(room, false) {
		if k, ok := syncengine.ParseMarker(r.Comments); ok {
			linked[k] = append(linked[k], r)
		} else {
			k := syncengine.EventKey(syncengine.RespaUID(e.instanceOf(room), fmt.Sprint(r.ID)))
			linked[k] = append(linked[k], r)
		}
	}
	keys := map[syncengine.EventKey]bool{}
	for k := range events {
		keys[k] = true
	}
	for k := range linked {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, string(k))
	}
	slices.Sort(sorted)
	for _, s := range sorted {
		k := syncengine.EventKey(s)
		evs, rs := events[k], linked[k]
		uid, _ := syncengine.ParseKey(k)
		if slices.Contains(refused, uid) {
			if len(rs) != 0 {
				problems = append(problems, fmt.Sprintf("%s: refused by Respa but has %d reservations", k, len(rs)))
			}
			continue
		}
		switch {
		case len(evs) != 1 || len(rs) != 1:
			problems = append(problems, fmt.Sprintf("%s: %d events, %d active reservations", k, len(evs), len(rs)))
		case !evs[0].Start.Equal(rs[0].Begin) || !evs[0].End.Equal(rs[0].End):
			problems = append(problems, fmt.Sprintf("%s: event %s–%s, reservation %d %s–%s", k, evs[0].Start, evs[0].End, rs[0].ID, rs[0].Begin, rs[0].End))
		}
	}
	return problems
}

// describe prints both sides of a room for a failure message.
func (e *e2e) describe(t *testing.T, room demo.Room) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "Exchange %s:\n", room.Email)
	for _, it := range e.view(t, room) {
		fmt.Fprintf(&b, "  %s %s–%s %q uid=%s\n", it.Type, it.Start.Format(time.RFC3339), it.End.Format(time.RFC3339), it.Subject, it.UID)
	}
	fmt.Fprintf(&b, "Respa %s:\n", room.ResourceID)
	for _, r := range e.reservations(room, true) {
		fmt.Fprintf(&b, "  %d %s %s–%s %q comments=%q\n", r.ID, r.State, r.Begin.Format(time.RFC3339), r.End.Format(time.RFC3339), r.EventSubject, r.Comments)
	}
	return b.String()
}
