package backend

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
	syncengine "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// memLedger is a LedgerStore in memory, for passes without Kubernetes.
type memLedger struct {
	mu    sync.Mutex
	data  []byte
	saves int
}

func (m *memLedger) Load(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data, nil
}

func (m *memLedger) Save(_ context.Context, d []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = append([]byte(nil), d...)
	m.saves++
	return nil
}

// rig is one room and one Respa resource, both simulated over HTTP on loopback, and the
// operator's real clients and adapters between them.
type rig struct {
	mb     *v1alpha1.ExchangeMailbox
	creds  *controllers.MailboxCredentials
	ex     *exchangesim.Server
	rs     *respasim.Server
	pass   syncengine.Pass
	ledger *memLedger
	room   string
}

const (
	rigRoom     = "room@bench.example"
	rigResource = "bench-room"
)

func newRig(tb testing.TB) *rig {
	tb.Helper()
	ex := exchangesim.New(exchangesim.Options{FindCountLimit: 100000})
	base, err := ex.Start("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ex.Close() })
	if _, err := ex.AddMailbox(rigRoom, "Bench room"); err != nil {
		tb.Fatal(err)
	}
	if err := ex.AddAccount(exchangesim.Account{User: "svc", Password: "bench-password", Impersonate: []string{rigRoom}}); err != nil {
		tb.Fatal(err)
	}
	rs := respasim.New(respasim.Options{})
	rs.AddUnit(respasim.Unit{ID: "u", Name: map[string]string{"fi": "Talo"}})
	rs.AddResource(respasim.Resource{ID: rigResource, UnitID: "u", Name: map[string]string{"fi": "Huone"}, Reservable: true, Public: true})
	rs.AddUser(respasim.User{Username: "operator", Staff: true})
	rs.AddUser(respasim.User{Username: "citizen"})
	if err := rs.AddToken(respasim.Token{Kind: "Token", Key: "bench-token", Username: "operator"}); err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(rs)
	tb.Cleanup(hs.Close)

	mb := &v1alpha1.ExchangeMailbox{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "mb", Generation: 1},
		Spec: v1alpha1.ExchangeMailboxSpec{
			Exchange: v1alpha1.ExchangeEndpoint{URL: strings.TrimSuffix(base, "/") + "/EWS/Exchange.asmx",
				Auth: v1alpha1.ExchangeAuth{Basic: &v1alpha1.PasswordAuth{Username: "svc"}}},
			Respa: v1alpha1.RespaEndpoint{URL: hs.URL + "/v1/"},
		},
	}
	f := NewFactory(logr.Discard())
	f.RespaRateLimit = 10000
	creds := &controllers.MailboxCredentials{ExchangePassword: "bench-password", RespaToken: "bench-token"}
	clients, err := f.For(mb, creds)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	led := &memLedger{}
	return &rig{
		mb: mb, creds: creds, ex: ex, rs: rs, ledger: led, room: rigRoom,
		pass: syncengine.Pass{
			Exchange: &ExchangeCalendar{Client: clients.EWS, Room: rigRoom, Details: &DetailCache{}},
			Respa:    &RespaReservations{Client: clients.Respa, ResourceID: rigResource},
			Ledger:   led,
			Options: syncengine.Options{
				Window: syncengine.Window{Start: now, End: now.Add(400 * 24 * time.Hour)}, Now: now,
				RoomEmail: rigRoom, ResourceID: rigResource, ResourceName: "Huone", Instance: Instance(hs.URL + "/v1/"),
				TimeZone: time.UTC,
			},
			Names: &syncengine.NameCache{},
		},
	}
}

// seedExchange books n one-hour meetings in the room, one every spacing from tomorrow on.
func (r *rig) seedExchange(tb testing.TB, n int, spacing ...time.Duration) {
	start := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	step := time.Hour
	if len(spacing) > 0 {
		step = spacing[0]
	}
	for i := 0; i < n; i++ {
		s := start.Add(time.Duration(i) * step)
		if _, err := r.ex.CreateEvent(r.room, exchangesim.Event{Subject: fmt.Sprintf("Meeting %d", i), Start: s, End: s.Add(time.Hour),
			Organizer: exchangesim.Person{Name: "Alice", SMTP: "alice@bench.example"}}); err != nil {
			tb.Fatal(err)
		}
	}
}

// seedRespa reserves n one-hour slots as Respa staff (plain users may not cross midnight),
// one every spacing, offset by three hours from the Exchange ones so they never overlap.
func (r *rig) seedRespa(tb testing.TB, n int, spacing ...time.Duration) {
	step := time.Hour
	start := time.Now().UTC().Truncate(time.Hour).Add(24*time.Hour + 2000*time.Hour)
	if len(spacing) > 0 {
		step = spacing[0]
		start = time.Now().UTC().Truncate(time.Hour).Add(27 * time.Hour)
	}
	for i := 0; i < n; i++ {
		s := start.Add(time.Duration(i) * step)
		if _, err := r.rs.CreateAs("operator", respasim.ReservationRequest{ResourceID: rigResource, Begin: s, End: s.Add(time.Hour),
			EventSubject: fmt.Sprintf("Reservation %d", i), ReserverName: "Matti"}); err != nil {
			tb.Fatal(err)
		}
	}
}

type requestCounts struct {
	exchange, exchangeWrites int
	respa, respaWrites       int64
}

func (r *rig) counts() requestCounts {
	var c requestCounts
	for op, n := range r.ex.Counters().ByOperation {
		c.exchange += n
		if op == "CreateItem" || op == "UpdateItem" || op == "DeleteItem" {
			c.exchangeWrites += n
		}
	}
	for k, n := range r.rs.Counters() {
		if strings.HasSuffix(k, " admin") || strings.Contains(k, "admin") {
			continue
		}
		c.respa += n
		if strings.HasPrefix(k, "POST") || strings.HasPrefix(k, "PUT") || strings.HasPrefix(k, "PATCH") || strings.HasPrefix(k, "DELETE") {
			c.respaWrites += n
		}
	}
	return c
}

func (c requestCounts) minus(o requestCounts) requestCounts {
	return requestCounts{c.exchange - o.exchange, c.exchangeWrites - o.exchangeWrites, c.respa - o.respa, c.respaWrites - o.respaWrites}
}

func TestPassOverSimulatorsImportsThenWritesNothing(t *testing.T) {
	r := newRig(t)
	r.seedExchange(t, 40)
	r.seedRespa(t, 30)
	ctx := context.Background()

	rep, err := syncengine.Run(ctx, r.pass)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Respa.Creates != 40 || rep.Exchange.Creates != 30 || rep.FailedCount != 0 {
		t.Fatalf("initial import: %d reservations and %d events created, %d failed (%+v); want 40, 30, 0", rep.Respa.Creates, rep.Exchange.Creates, rep.FailedCount, rep.Failed)
	}
	// Both sides now hold 70 bookings, and a second pass agrees that nothing changed.
	if n := len(r.rs.Reservations()); n != 70 {
		t.Errorf("Respa holds %d reservations, want 70", n)
	}
	before := r.counts()
	rep, err = syncengine.Run(ctx, r.pass)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Writes() != 0 || rep.Linked != 70 {
		t.Fatalf("unchanged pass: %d writes, %d linked; want 0 writes and 70 linked", rep.Writes(), rep.Linked)
	}
	d := r.counts().minus(before)
	if d.exchangeWrites != 0 || d.respaWrites != 0 {
		t.Errorf("unchanged pass sent %d Exchange and %d Respa writes", d.exchangeWrites, d.respaWrites)
	}
	// Reads of an unchanged pass: the calendar view (split by the client into spans of at most
	// 28 days, so its count depends on the window's length, not on the number of events) and
	// one Respa listing; never a GetItem per event, because details are cached by ChangeKey.
	ops := r.ex.Counters().ByOperation
	gets := ops["GetItem"]
	rep, err = syncengine.Run(ctx, r.pass)
	if err != nil || rep.Writes() != 0 {
		t.Fatalf("third pass: %v, %d writes", err, rep.Writes())
	}
	if after := r.ex.Counters().ByOperation["GetItem"]; after != gets {
		t.Errorf("an unchanged pass read %d items with GetItem", after-gets)
	}
	if d.exchange > 400/28+4 || d.respa > 2 {
		t.Errorf("unchanged pass made %d Exchange and %d Respa requests (%v)", d.exchange, d.respa, ops)
	}

	// An edit in Outlook crosses on the next pass, and only it is written.
	items, err := r.ex.Items(r.room)
	if err != nil {
		t.Fatal(err)
	}
	var target exchangesim.ItemInfo
	for _, it := range items {
		if it.Subject == "Meeting 3" {
			target = it
		}
	}
	title := "Meeting 3 (moved to Friday)"
	if _, err := r.ex.UpdateEvent(r.room, target.ID, exchangesim.EventChange{Subject: &title}); err != nil {
		t.Fatal(err)
	}
	rep, err = syncengine.Run(ctx, r.pass)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Respa.Updates != 1 || rep.Writes() != 1 {
		t.Errorf("after one retitle: %d Respa updates, %d writes; want 1 and 1", rep.Respa.Updates, rep.Writes())
	}
	found := false
	for _, res := range r.rs.Reservations() {
		found = found || res.EventSubject == title
	}
	if !found {
		t.Errorf("no reservation titled %q after the pass", title)
	}
}

// BenchmarkPass measures passes of the real adapters and clients against both simulators:
// the initial import of 1000 Exchange events, of 1000 Respa reservations, and a pass over 1000
// unchanged pairs. Bookings are four a day (one every six hours), a busy room's year. Requests
// per side are reported as metrics.
func BenchmarkPass(b *testing.B) {
	ctx := context.Background()
	const spacing = 6 * time.Hour
	importBench := func(b *testing.B, exchange, respa int) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r := newRig(b)
			r.seedExchange(b, exchange, spacing)
			r.seedRespa(b, respa, spacing)
			before := r.counts()
			b.StartTimer()
			rep, err := syncengine.Run(ctx, r.pass)
			b.StopTimer()
			if err != nil || rep.Respa.Creates != exchange || rep.Exchange.Creates != respa {
				b.Fatalf("import: %v, %d/%d created, failed %+v", err, rep.Respa.Creates, rep.Exchange.Creates, rep.Failed)
			}
			d := r.counts().minus(before)
			b.ReportMetric(float64(d.exchange), "exchange-requests")
			b.ReportMetric(float64(d.respa), "respa-requests")
			b.ReportMetric(float64(r.ledger.saves), "ledger-saves")
			b.ReportMetric(float64(len(r.ledger.data)), "ledger-bytes")
		}
	}
	b.Run("import-1000-exchange-events", func(b *testing.B) { importBench(b, 1000, 0) })
	b.Run("import-1000-respa-reservations", func(b *testing.B) { importBench(b, 0, 1000) })
	b.Run("unchanged-1000-pairs", func(b *testing.B) {
		r := newRig(b)
		r.seedExchange(b, 500, spacing)
		r.seedRespa(b, 500, spacing)
		if _, err := syncengine.Run(ctx, r.pass); err != nil {
			b.Fatal(err)
		}
		before := r.counts()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rep, err := syncengine.Run(ctx, r.pass)
			if err != nil || rep.Writes() != 0 || rep.Linked != 1000 {
				b.Fatalf("unchanged pass: %v, %d writes, %d linked", err, rep.Writes(), rep.Linked)
			}
		}
		b.StopTimer()
		d := r.counts().minus(before)
		b.ReportMetric(float64(d.exchange)/float64(b.N), "exchange-requests/op")
		b.ReportMetric(float64(d.respa)/float64(b.N), "respa-requests/op")
		b.ReportMetric(float64(d.exchangeWrites+int(d.respaWrites))/float64(b.N), "writes/op")
	})
}
