package notify

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/backend"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

var _ controllers.ChangeFeed = (*Notifier)(nil)

const (
	testPassword = "notify-test-password"
	testToken    = "notify-test-token"
)

// bench is both simulators on loopback, a mailbox pointing at them and a running Notifier.
type bench struct {
	ex       *exchangesim.Server
	rs       *respasim.Server
	mb       *v1alpha1.ExchangeMailbox
	n        *Notifier
	factory  *backend.Factory
	rooms    []string
	cancel   context.CancelFunc
	stopped  chan struct{}
	resource map[string]*v1alpha1.ExchangeResource
}

func newBench(t testing.TB, rooms int, opts Options, exOpts exchangesim.Options) *bench {
	t.Helper()
	ex := exchangesim.New(exOpts)
	base, err := ex.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Close() })
	rs := respasim.New(respasim.Options{})
	rs.AddUnit(respasim.Unit{ID: "u", Name: map[string]string{"fi": "Talo"}})
	rs.AddUser(respasim.User{Username: "operator", Staff: true})
	rs.AddUser(respasim.User{Username: "citizen"})
	if err := rs.AddToken(respasim.Token{Kind: "Token", Key: testToken, Username: "operator"}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(rs)
	t.Cleanup(hs.Close)

	b := &bench{ex: ex, rs: rs, resource: map[string]*v1alpha1.ExchangeResource{}}
	for i := range rooms {
		email := fmt.Sprintf("room%d@notify.example", i)
		if _, err := ex.AddMailbox(email, fmt.Sprintf("Room %d", i)); err != nil {
			t.Fatal(err)
		}
		rs.AddResource(respasim.Resource{ID: fmt.Sprintf("res%d", i), UnitID: "u", Name: map[string]string{"fi": "Huone"}, Reservable: true, Public: true})
		b.rooms = append(b.rooms, email)
	}
	if err := ex.AddAccount(exchangesim.Account{User: "svc", Password: testPassword, Impersonate: b.rooms}); err != nil {
		t.Fatal(err)
	}
	b.mb = &v1alpha1.ExchangeMailbox{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "mb", Generation: 1, UID: "mb-uid"},
		Spec: v1alpha1.ExchangeMailboxSpec{
			Exchange: v1alpha1.ExchangeEndpoint{
				URL:  strings.TrimSuffix(base, "/") + "/EWS/Exchange.asmx",
				Auth: v1alpha1.ExchangeAuth{Basic: &v1alpha1.PasswordAuth{Username: "svc"}},
			},
			Respa: v1alpha1.RespaEndpoint{URL: hs.URL + "/v1/"},
		},
	}
	b.factory = backend.NewFactory(logr.Discard())
	creds := &controllers.MailboxCredentials{ExchangePassword: testPassword, RespaToken: testToken}
	b.n = New(opts, func(mb *v1alpha1.ExchangeMailbox) (*backend.Clients, error) { return b.factory.For(mb, creds) }, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.stopped = cancel, make(chan struct{})
	go func() {
		defer close(b.stopped)
		_ = b.n.Start(ctx)
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *bench) stop() {
	b.cancel()
	<-b.stopped
}

// track tracks room i as resource "r<i>".
func (b *bench) track(i int, mutate ...func(*v1alpha1.ExchangeResource)) types.NamespacedName {
	res := &v1alpha1.ExchangeResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("r%d", i)},
		Spec: v1alpha1.ExchangeResourceSpec{
			MailboxRef: v1alpha1.LocalObjectReference{Name: "mb"},
			Exchange:   v1alpha1.ResourceExchange{Email: b.rooms[i]},
			Respa:      v1alpha1.ResourceRespa{ResourceID: fmt.Sprintf("res%d", i)},
			Window:     v1alpha1.SyncWindow{Future: &metav1.Duration{Duration: 30 * 24 * time.Hour}},
		},
	}
	for _, m := range mutate {
		m(res)
	}
	b.resource[res.Name] = res
	b.n.Track(res, b.mb)
	return types.NamespacedName{Namespace: res.Namespace, Name: res.Name}
}

// drain empties the resource events and clears the changed marks.
func (b *bench) drain() {
	for {
		select {
		case ev := <-b.n.ResourceEvents():
			b.n.TakeChanged(types.NamespacedName{Namespace: ev.Object.GetNamespace(), Name: ev.Object.GetName()})
		default:
			return
		}
	}
}

// waitChanged waits until key is enqueued and marked changed, and returns how many times it
// was enqueued meanwhile (status updates included).
func (b *bench) waitChanged(t testing.TB, key types.NamespacedName, within time.Duration, what string) int {
	t.Helper()
	deadline := time.After(within)
	n := 0
	for {
		select {
		case ev := <-b.n.ResourceEvents():
			got := types.NamespacedName{Namespace: ev.Object.GetNamespace(), Name: ev.Object.GetName()}
			if got == key {
				n++
				if b.n.TakeChanged(key) {
					return n
				}
			}
		case <-deadline:
			t.Fatalf("%s: %s was not signalled within %s", what, key, within)
		}
	}
}

func (b *bench) waitMode(t testing.TB, key types.NamespacedName, mode string, within time.Duration) *v1alpha1.StreamStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := b.n.ResourceStream(key)
		if s != nil && s.Mode == mode {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stream mode %+v, want %s within %s", key, s, mode, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tomorrow(h int) time.Time {
	d := time.Now().UTC().AddDate(0, 0, 1)
	return time.Date(d.Year(), d.Month(), d.Day(), h, 0, 0, 0, time.UTC)
}

func TestNotificationEnqueuesTheRoomOnceDebounced(t *testing.T) {
	b := newBench(t, 2, Options{Debounce: 300 * time.Millisecond}, exchangesim.Options{})
	k0 := b.track(0)
	k1 := b.track(1)
	b.waitMode(t, k0, ModeStreaming, 5*time.Second)
	b.waitMode(t, k1, ModeStreaming, 5*time.Second)
	if s := b.n.MailboxStream(types.NamespacedName{Namespace: "ns", Name: "mb"}); s == nil || s.Mode != ModeStreaming || s.Since == nil {
		t.Fatalf("mailbox stream %+v, want Streaming with a time", s)
	}
	// Let the connections open before the edit: the subscriptions queue events anyway, but the
	// test measures the streaming path.
	time.Sleep(300 * time.Millisecond)
	b.drain()

	// Three edits in a burst: Exchange sends several events for each, and one pass must do.
	it, err := b.ex.CreateEvent(b.rooms[0], exchangesim.Event{Subject: "Burst", Start: tomorrow(9), End: tomorrow(10)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Burst 2", "Burst 3"} {
		subject := s
		if _, err := b.ex.UpdateEvent(b.rooms[0], it.ID, exchangesim.EventChange{Subject: &subject}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	b.waitChanged(t, k0, 3*time.Second, "notification")
	t.Logf("signalled %s after the edits", time.Since(start).Round(time.Millisecond))
	// Nothing more for the burst, and nothing for the other room.
	time.Sleep(600 * time.Millisecond)
	if b.n.TakeChanged(k0) {
		t.Error("the burst signalled room 0 twice; the debounce should have joined it")
	}
	if b.n.TakeChanged(k1) {
		t.Error("room 1 was signalled for an edit in room 0")
	}
}

func TestLostSubscriptionsAreRenewedWithACatchUp(t *testing.T) {
	b := newBench(t, 1, Options{Debounce: 100 * time.Millisecond, RetryMin: 200 * time.Millisecond, ExchangePollInterval: time.Hour},
		exchangesim.Options{KeepAliveInterval: 100 * time.Millisecond})
	k := b.track(0)
	b.waitMode(t, k, ModeStreaming, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	b.drain()

	if n := b.ex.KillSubscriptions(""); n == 0 {
		t.Fatal("no subscription to kill")
	}
	// The loss itself enqueues a pass (events may already be lost), then the renewal a catch-up.
	b.waitChanged(t, k, 5*time.Second, "loss")
	b.waitChanged(t, k, 5*time.Second, "catch-up after resubscribing")
	b.waitMode(t, k, ModeStreaming, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	b.drain()

	// The renewed subscription carries notifications.
	if _, err := b.ex.CreateEvent(b.rooms[0], exchangesim.Event{Subject: "After renewal", Start: tomorrow(11), End: tomorrow(12)}); err != nil {
		t.Fatal(err)
	}
	b.waitChanged(t, k, 3*time.Second, "notification on the renewed subscription")

	// A cut stream is handled the same way.
	b.drain()
	if n := b.ex.KillStreams(""); n == 0 {
		t.Fatal("no stream to kill")
	}
	b.waitChanged(t, k, 5*time.Second, "catch-up after a cut stream")
	b.waitMode(t, k, ModeStreaming, 5*time.Second)
}

func TestPollingWhileSubscribeFails(t *testing.T) {
	b := newBench(t, 1, Options{ExchangePollInterval: 300 * time.Millisecond, RetryMin: 200 * time.Millisecond, RetryMax: 400 * time.Millisecond}, exchangesim.Options{})
	if err := b.ex.InjectFault(exchangesim.Fault{Operation: "Subscribe", Kind: "HTTP500"}); err != nil {
		t.Fatal(err)
	}
	k := b.track(0)
	s := b.waitMode(t, k, ModePolling, 5*time.Second)
	if s.Since == nil || !strings.Contains(s.Message, "polled every") {
		t.Errorf("polling status %+v, want a time and a message saying why", s)
	}
	mbKey := types.NamespacedName{Namespace: "ns", Name: "mb"}
	if ms := b.n.MailboxStream(mbKey); ms == nil || ms.Mode != ModePolling {
		t.Errorf("mailbox stream %+v, want Polling", ms)
	}
	// Polled: enqueued at each interval without any change.
	b.drain()
	b.waitChanged(t, k, 2*time.Second, "poll")
	b.waitChanged(t, k, 2*time.Second, "second poll")

	b.ex.ClearFaults()
	b.waitMode(t, k, ModeStreaming, 5*time.Second)
	if ms := b.n.MailboxStream(mbKey); ms == nil || ms.Mode != ModeStreaming {
		t.Errorf("mailbox stream %+v after recovery, want Streaming", ms)
	}
}

func TestDelegateMailboxIsPolled(t *testing.T) {
	b := newBench(t, 1, Options{ExchangePollInterval: 200 * time.Millisecond}, exchangesim.Options{})
	b.mb.Spec.Exchange.AccessMode = "Delegate"
	k := b.track(0)
	s := b.waitMode(t, k, ModePolling, 5*time.Second)
	if !strings.Contains(s.Message, "delegate") {
		t.Errorf("message %q should say delegate access is why", s.Message)
	}
	if c := b.ex.Counters(); c.ByOperation["Subscribe"] != 0 {
		t.Errorf("%d Subscribe calls for a delegate mailbox, want 0", c.ByOperation["Subscribe"])
	}
	b.drain()
	b.waitChanged(t, k, 2*time.Second, "poll")
}

func TestSubscriptionsFollowTheResources(t *testing.T) {
	b := newBench(t, 3, Options{Debounce: 100 * time.Millisecond}, exchangesim.Options{})
	k0, k1 := b.track(0), b.track(1)
	b.waitMode(t, k0, ModeStreaming, 5*time.Second)
	b.waitMode(t, k1, ModeStreaming, 5*time.Second)

	// Suspended (or deleted): untracked, no more signals, its subscription ends.
	b.n.Untrack(k1)
	if s := b.n.ResourceStream(k1); s != nil {
		t.Errorf("untracked resource still has stream %+v", s)
	}
	// Moved to another room.
	b.resource["r0"].Spec.Exchange.Email = b.rooms[2]
	b.n.Track(b.resource["r0"], b.mb)
	time.Sleep(500 * time.Millisecond)
	b.drain()
	if _, err := b.ex.CreateEvent(b.rooms[1], exchangesim.Event{Subject: "Untracked", Start: tomorrow(9), End: tomorrow(10)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ex.CreateEvent(b.rooms[0], exchangesim.Event{Subject: "Old room", Start: tomorrow(9), End: tomorrow(10)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ex.CreateEvent(b.rooms[2], exchangesim.Event{Subject: "New room", Start: tomorrow(9), End: tomorrow(10)}); err != nil {
		t.Fatal(err)
	}
	b.waitChanged(t, k0, 3*time.Second, "edit in the resource's new room")
	time.Sleep(400 * time.Millisecond)
	if b.n.TakeChanged(k0) {
		t.Error("the resource was signalled twice: its old room is still subscribed")
	}
	if b.n.TakeChanged(k1) {
		t.Error("an untracked resource was signalled")
	}

	// Untracking the last resource closes the mailbox's connection and subscriptions.
	b.n.Untrack(k0)
	deadline := time.Now().Add(5 * time.Second)
	for b.ex.Counters().ByOperation["Unsubscribe"] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d Unsubscribe calls, want 3 (room 1, the old room 0, room 2)", b.ex.Counters().ByOperation["Unsubscribe"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := b.n.MailboxStream(types.NamespacedName{Namespace: "ns", Name: "mb"}); s != nil {
		t.Errorf("mailbox without rooms still has stream %+v", s)
	}
}

func TestManyRoomsSpreadOverConnections(t *testing.T) {
	old := maxPerConnection
	maxPerConnection = 2
	t.Cleanup(func() { maxPerConnection = old })
	b := newBench(t, 5, Options{Debounce: 50 * time.Millisecond}, exchangesim.Options{})
	var keys []types.NamespacedName
	for i := range 5 {
		keys = append(keys, b.track(i))
	}
	for _, k := range keys {
		b.waitMode(t, k, ModeStreaming, 5*time.Second)
	}
	deadline := time.Now().Add(3 * time.Second)
	for b.ex.Counters().ByOperation["GetStreamingEvents"] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streaming connections, want 3 for 5 rooms at 2 per connection", b.ex.Counters().ByOperation["GetStreamingEvents"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	b.drain()
	for i, k := range keys {
		if _, err := b.ex.CreateEvent(b.rooms[i], exchangesim.Event{Subject: "Each", Start: tomorrow(9), End: tomorrow(10)}); err != nil {
			t.Fatal(err)
		}
		b.waitChanged(t, k, 3*time.Second, fmt.Sprintf("room %d", i))
	}
}

func TestRespaPollerEnqueuesOnlyChangedResources(t *testing.T) {
	b := newBench(t, 3, Options{RespaPollInterval: 200 * time.Millisecond}, exchangesim.Options{})
	k0, k1 := b.track(0), b.track(1)
	// A resource that only copies Exchange to Respa is not polled.
	k2 := b.track(2, func(r *v1alpha1.ExchangeResource) { r.Spec.Direction = v1alpha1.DirectionExchangeToRespa })
	r, err := b.rs.CreateAs("citizen", respasim.ReservationRequest{ResourceID: "res0", Begin: tomorrow(9), End: tomorrow(10), EventSubject: "Sauna"})
	if err != nil {
		t.Fatal(err)
	}
	// Let two polls record the digests.
	time.Sleep(500 * time.Millisecond)
	b.drain()
	if b.n.TakeChanged(k0) || b.n.TakeChanged(k1) {
		t.Fatal("a resource was signalled without a change")
	}
	before := b.rs.APIRequests()
	time.Sleep(450 * time.Millisecond)
	if b.n.TakeChanged(k0) || b.n.TakeChanged(k1) {
		t.Fatal("a resource was signalled without a change")
	}
	// Two or three polls of two resources, each one request for both.
	if got := b.rs.APIRequests() - before; got < 1 || got > 3 {
		t.Errorf("%d Respa requests in ~2 polls of 2 resources, want one per poll", got)
	}

	if _, err := b.rs.UpdateAs("citizen", r.ID, "Sauna club", ""); err != nil {
		t.Fatal(err)
	}
	b.waitChanged(t, k0, 2*time.Second, "Respa edit")
	time.Sleep(450 * time.Millisecond)
	if b.n.TakeChanged(k1) {
		t.Error("resource 1 was signalled for an edit of resource 0")
	}
	if _, err := b.rs.CreateAs("citizen", respasim.ReservationRequest{ResourceID: "res2", Begin: tomorrow(9), End: tomorrow(10), EventSubject: "X"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(450 * time.Millisecond)
	if b.n.TakeChanged(k2) {
		t.Error("an ExchangeToRespa resource was signalled for a Respa change")
	}
}

func TestDigestsIgnoreOrderAndSeeEachSyncedField(t *testing.T) {
	begin := tomorrow(9)
	mk := func(id int64, resource, subject string) respa.Reservation {
		return respa.Reservation{ID: id, ResourceID: resource, Begin: begin, End: begin.Add(time.Hour), State: "confirmed", EventSubject: subject}
	}
	base := []respa.Reservation{mk(1, "a", "S"), mk(2, "a", "T"), mk(3, "b", "U")}
	d := Digests(base)
	rev := Digests([]respa.Reservation{base[2], base[1], base[0]})
	if d["a"] != rev["a"] || d["b"] != rev["b"] {
		t.Error("digest depends on listing order")
	}
	edits := map[string]func(*respa.Reservation){
		"subject":     func(r *respa.Reservation) { r.EventSubject = "T2" },
		"description": func(r *respa.Reservation) { r.EventDescription = "more" },
		"begin":       func(r *respa.Reservation) { r.Begin = r.Begin.Add(-time.Hour) },
		"end":         func(r *respa.Reservation) { r.End = r.End.Add(time.Hour) },
		"state":       func(r *respa.Reservation) { r.State = "cancelled" },
		"reserver":    func(r *respa.Reservation) { r.ReserverName = "Matti" },
		"comments":    func(r *respa.Reservation) { r.Comments = "marker" },
	}
	for field, edit := range edits {
		list := []respa.Reservation{base[0], base[1], base[2]}
		edit(&list[1])
		got := Digests(list)
		if got["a"] == d["a"] {
			t.Errorf("an edit of %s did not change the digest", field)
		}
		if got["b"] != d["b"] {
			t.Errorf("an edit of %s in resource a changed the digest of b", field)
		}
	}
	touched := []respa.Reservation{base[0], base[1], base[2]}
	touched[1].ModifiedAt = time.Now()
	if Digests(touched)["a"] != d["a"] {
		t.Error("modified_at alone changed the digest")
	}
}

func TestRespaPollOutageKeepsTheLastDigests(t *testing.T) {
	b := newBench(t, 1, Options{RespaPollInterval: 150 * time.Millisecond}, exchangesim.Options{})
	k := b.track(0)
	time.Sleep(400 * time.Millisecond)
	b.rs.InjectFault(respasim.Fault{Method: "GET", PathPrefix: "/v1/reservation/", Status: 403})
	// Changed during the outage: seen once listings work again, by comparing with the digest
	// from before it.
	if _, err := b.rs.CreateAs("citizen", respasim.ReservationRequest{ResourceID: "res0", Begin: tomorrow(9), End: tomorrow(10), EventSubject: "During outage"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	b.drain()
	if b.n.TakeChanged(k) {
		t.Fatal("signalled while Respa refused every listing")
	}
	b.rs.ClearFaults()
	b.waitChanged(t, k, 2*time.Second, "change made during the outage")
}

func TestConnectionLimitPollsTheRest(t *testing.T) {
	old := maxPerConnection
	maxPerConnection = 2
	t.Cleanup(func() { maxPerConnection = old })
	b := newBench(t, 5, Options{Debounce: 50 * time.Millisecond, MaxConnections: 2}, exchangesim.Options{})
	var keys []types.NamespacedName
	for i := range 5 {
		keys = append(keys, b.track(i))
	}
	// Two connections of two subscriptions: four rooms stream, the fifth is polled and says why.
	deadline := time.Now().Add(5 * time.Second)
	var streaming, polled []types.NamespacedName
	for {
		streaming, polled = nil, nil
		for _, k := range keys {
			switch s := b.n.ResourceStream(k); {
			case s != nil && s.Mode == ModeStreaming:
				streaming = append(streaming, k)
			case s != nil && s.Mode == ModePolling:
				polled = append(polled, k)
			}
		}
		if len(streaming) == 4 && len(polled) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streaming and %d polled rooms, want 4 and 1", len(streaming), len(polled))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if msg := b.n.ResourceStream(polled[0]).Message; !strings.Contains(msg, "2 streaming connections") {
		t.Errorf("polled room's message %q does not say the connections are full", msg)
	}
	if n := b.ex.Counters().ByOperation["Subscribe"]; n > 4 {
		t.Errorf("%d Subscribe calls for 4 subscriptions", n)
	}
	// A streaming room leaves: the polled one takes its place.
	b.n.Untrack(streaming[0])
	b.waitMode(t, polled[0], ModeStreaming, 5*time.Second)
}
