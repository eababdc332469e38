package notify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/demo"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/notify"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
	syncengine "github.com/respa-exchange/respa-exchange-operator/internal/sync"
	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

const respaPollInterval = 3 * time.Second

// TestChangesArriveInSeconds runs the whole product (demo.Start: API server, both simulators,
// the manager) with a resync interval of an hour, so that every pass after the first ones is
// caused by a notification, a catch-up, the polling fallback or the Respa poller.
func TestChangesArriveInSeconds(t *testing.T) {
	assets := filepath.Join(testenv.ModuleRoot(t), "bin", "k8s")
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		testenv.Skip(t, testenv.Envtest, "no kube-apiserver in %s (run `make tools`); skipping the notification tests", assets)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := demo.Start(ctx, demo.Options{
		Assets: assets, Workdir: t.TempDir(), ResyncInterval: time.Hour,
		Logger: notifierLog(t),
		Notify: notify.Options{
			RespaPollInterval: respaPollInterval,
			// Long: only the catch-up after resubscribing may carry an edit made while down.
			ExchangePollInterval: 10 * time.Minute,
			Debounce:             300 * time.Millisecond,
			RetryMin:             500 * time.Millisecond,
			RetryMax:             time.Second,
		},
	})
	if err != nil {
		t.Fatalf("start the demo environment: %v", err)
	}
	defer env.Stop()
	e := &rig{Env: env, ctx: ctx}
	for _, r := range demo.Rooms {
		e.waitStream(t, r.Name, notify.ModeStreaming, 60*time.Second)
	}
	steps := []struct {
		name string
		run  func(*testing.T, *rig)
	}{
		{"ExchangeEditReachesRespa", testExchangeEditReachesRespa},
		{"LostSubscriptionsCatchUp", testLostSubscriptionsCatchUp},
		{"RespaEditReachesExchange", testRespaEditReachesExchange},
		{"SuspendEndsTheSubscription", testSuspendEndsTheSubscription},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, e) }) {
			return
		}
	}
}

// notifierLog shows the notifier's decisions (why each pass was due) in the test's output.
func notifierLog(t *testing.T) logr.Logger {
	return funcr.New(func(prefix, args string) {
		if strings.Contains(prefix, "notify") {
			t.Log(prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
}

type rig struct {
	*demo.Env
	ctx context.Context
}

func (e *rig) resource(t *testing.T, name string) *v1alpha1.ExchangeResource {
	t.Helper()
	res := &v1alpha1.ExchangeResource{}
	if err := e.Client.Get(e.ctx, types.NamespacedName{Namespace: e.Namespace, Name: name}, res); err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *rig) mailbox(t *testing.T) *v1alpha1.ExchangeMailbox {
	t.Helper()
	mb := &v1alpha1.ExchangeMailbox{}
	if err := e.Client.Get(e.ctx, types.NamespacedName{Namespace: e.Namespace, Name: "city-hall"}, mb); err != nil {
		t.Fatal(err)
	}
	return mb
}

// waitStream waits until the resource's and the mailbox's status.stream say mode.
func (e *rig) waitStream(t *testing.T, name, mode string, within time.Duration) (res, mb *v1alpha1.StreamStatus) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res, mb = e.resource(t, name).Status.Stream, e.mailbox(t).Status.Stream
		if res != nil && res.Mode == mode && mb != nil && mb.Mode == mode {
			return res, mb
		}
		if time.Now().After(deadline) {
			t.Fatalf("status.stream of %s is %+v and of the mailbox %+v; want %s within %s", name, res, mb, mode, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls cond until it holds and returns how long that took.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func (e *rig) inRespa(room demo.Room, subject string) bool {
	for _, r := range e.Respa.Reservations() {
		if r.ResourceID == room.ResourceID && strings.HasPrefix(r.EventSubject, subject) && r.State != respasim.StateCancelled && r.State != respasim.StateDenied {
			return true
		}
	}
	return false
}

// inExchange reports whether the room's calendar has the event made for a Respa reservation.
func (e *rig) inExchange(room demo.Room, reservationID int) bool {
	uid := syncengine.RespaUID(backend.Instance(e.RespaURL+"/v1/"), fmt.Sprint(reservationID))
	items, _ := e.Exchange.Items(room.Email)
	for _, it := range items {
		if it.UID == uid {
			return true
		}
	}
	return false
}

// quiet waits until the resource has had no pass for a while: the Respa poller also enqueues
// the passes that follow the operator's own writes to Respa.
func (e *rig) quiet(t *testing.T, name string, period, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last, since := e.resource(t, name).Status.LastSyncTime, time.Now()
	for time.Since(since) < period {
		if time.Now().After(deadline) {
			t.Fatalf("%s: passes kept running for %s", name, within)
		}
		time.Sleep(200 * time.Millisecond)
		if cur := e.resource(t, name).Status.LastSyncTime; !cur.Equal(last) {
			last, since = cur, time.Now()
		}
	}
}

// day is a whole hour, days from today, in the rooms' zone, clear of the seeded bookings.
func day(days, hour int) time.Time {
	now := time.Now().In(demo.Zone)
	return time.Date(now.Year(), now.Month(), now.Day()+days, hour, 0, 0, 0, demo.Zone)
}

var organizer = exchangesim.Person{Name: "Alice Andersson", SMTP: "alice@demo.example"}

func testExchangeEditReachesRespa(t *testing.T, e *rig) {
	room := demo.Rooms[0]
	if _, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: "Streamed meeting", Start: day(6, 9), End: day(6, 10), Organizer: organizer}); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 15*time.Second, "Exchange edit in Respa", func() bool { return e.inRespa(room, "Streamed meeting") })
	t.Logf("Exchange → Respa in %s (resync interval 1h)", took.Round(time.Millisecond))
}

func testLostSubscriptionsCatchUp(t *testing.T, e *rig) {
	room := demo.Rooms[1]
	// Subscribe keeps failing: the subscriptions cannot be renewed until the fault is cleared.
	if err := e.Exchange.InjectFault(exchangesim.Fault{Operation: "Subscribe", Kind: "HTTP500"}); err != nil {
		t.Fatal(err)
	}
	defer e.Exchange.ClearFaults()
	if n := e.Exchange.KillSubscriptions(""); n == 0 {
		t.Fatal("no subscriptions to kill")
	}
	res, mb := e.waitStream(t, room.Name, notify.ModePolling, 15*time.Second)
	if res.Since == nil || res.Message == "" || mb.Since == nil || mb.Message == "" {
		t.Errorf("polling status without since or message: resource %+v, mailbox %+v", res, mb)
	}
	t.Logf("while down: resource %q, mailbox %q", res.Message, mb.Message)
	// The loss itself enqueued a pass, and its writes to Respa may bring another through the
	// Respa poller; the edit comes after them.
	e.quiet(t, room.Name, 2*respaPollInterval+time.Second, 30*time.Second)
	if _, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: "Booked while down", Start: day(6, 11), End: day(6, 12), Organizer: organizer}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if e.inRespa(room, "Booked while down") {
		t.Fatal("the edit crossed while no subscription existed: the test cannot tell the catch-up from something else")
	}
	e.Exchange.ClearFaults()
	took := waitFor(t, 15*time.Second, "catch-up after resubscribing", func() bool { return e.inRespa(room, "Booked while down") })
	t.Logf("caught up %s after the fault was cleared", took.Round(time.Millisecond))
	e.waitStream(t, room.Name, notify.ModeStreaming, 15*time.Second)

	// And the renewed subscriptions stream again.
	if _, err := e.Exchange.CreateEvent(room.Email, exchangesim.Event{Subject: "After renewal", Start: day(6, 13), End: day(6, 14), Organizer: organizer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "edit after renewal in Respa", func() bool { return e.inRespa(room, "After renewal") })
}

func testRespaEditReachesExchange(t *testing.T, e *rig) {
	room := demo.Rooms[0]
	r, err := e.Respa.CreateAs(demo.RespaUser, respasim.ReservationRequest{ResourceID: room.ResourceID, Begin: day(7, 10), End: day(7, 11),
		EventSubject: "Polled booking", ReserverName: "Matti Meikäläinen", ReserverEmailAddress: "matti@demo.example"})
	if err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, respaPollInterval+10*time.Second, "Respa edit in Exchange", func() bool { return e.inExchange(room, r.ID) })
	t.Logf("Respa → Exchange in %s (poll interval %s)", took.Round(time.Millisecond), respaPollInterval)
}

func testSuspendEndsTheSubscription(t *testing.T, e *rig) {
	room := demo.Rooms[1]
	unsubscribed := func() int { return e.Exchange.Counters().ByMailbox[room.Email]["Unsubscribe"] }
	before := unsubscribed()
	res := e.resource(t, room.Name)
	res.Spec.Suspend = true
	if err := e.Client.Update(e.ctx, res); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "suspended resource without status.stream", func() bool { return e.resource(t, room.Name).Status.Stream == nil })
	waitFor(t, 15*time.Second, "Unsubscribe of the suspended room", func() bool { return unsubscribed() > before })

	res = e.resource(t, room.Name)
	res.Spec.Suspend = false
	if err := e.Client.Update(e.ctx, res); err != nil {
		t.Fatal(err)
	}
	e.waitStream(t, room.Name, notify.ModeStreaming, 15*time.Second)
}
