package respa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

const (
	staffKey = "s3cr3t-staff-token-value"
	userKey  = "s3cr3t-user-token-value"
)

type env struct {
	t    *testing.T
	sim  *respasim.Server
	srv  *httptest.Server
	base time.Time
	logs *bytes.Buffer
	mu   *sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sim := respasim.New(respasim.Options{})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	sim.AddUnit(respasim.Unit{ID: "u1", Name: map[string]string{"fi": "Kirjasto", "en": "Library", "sv": "Bibliotek"}})
	sim.AddResource(respasim.Resource{ID: "room1", UnitID: "u1", Name: map[string]string{"fi": "Kokoushuone", "en": "Meeting room"}, Reservable: true, Public: true})
	sim.AddResource(respasim.Resource{ID: "room2", UnitID: "u1", Name: map[string]string{"en": "Hall", "sv": "Sal"}, Reservable: true, Public: true, NeedManualConfirmation: true})
	sim.AddResource(respasim.Resource{ID: "closed", UnitID: "u1", Name: map[string]string{"fi": "Varasto"}, Public: true})
	sim.AddUser(respasim.User{Username: "operator", Staff: true})
	sim.AddUser(respasim.User{Username: "citizen"})
	for _, tk := range []respasim.Token{{Kind: "Token", Key: staffKey, Username: "operator"}, {Kind: "Bearer", Key: staffKey, Username: "operator"}, {Kind: "Token", Key: userKey, Username: "citizen"}} {
		if err := sim.AddToken(tk); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Now().AddDate(0, 0, 2)
	base := time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, time.UTC)
	return &env{t: t, sim: sim, srv: srv, base: base, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
}

// client returns a client whose logs (V(1) included) go to e.logs.
func (e *env) client(token string, mod ...func(*respa.Config)) *respa.Client {
	e.t.Helper()
	cfg := respa.Config{
		BaseURL: e.srv.URL + "/v1/", Token: token,
		Retry: respa.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		Logger: funcr.New(func(prefix, args string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.logs.WriteString(prefix + " " + args + "\n")
		}, funcr.Options{Verbosity: 2}),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := respa.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) reservation(resource string, from, to time.Duration) respa.Reservation {
	return respa.Reservation{
		ResourceID: resource, Begin: e.base.Add(from), End: e.base.Add(to),
		EventSubject: "Board meeting", ReserverName: "Exchange", Comments: "exchange:uid-1",
	}
}

// noSecrets fails if a token shows up in an error or in the logs.
func (e *env) noSecrets(err error) {
	e.t.Helper()
	e.mu.Lock()
	logs := e.logs.String()
	e.mu.Unlock()
	for _, secret := range []string{staffKey, userKey} {
		if err != nil && strings.Contains(err.Error(), secret) {
			e.t.Errorf("error leaks a token: %v", err)
		}
		if strings.Contains(logs, secret) {
			e.t.Errorf("logs leak a token:\n%s", logs)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []respa.Config{
		{BaseURL: "http://127.0.0.1/v1/"},
		{BaseURL: "127.0.0.1/v1/", Token: "x"},
		{BaseURL: "http://user:pw@127.0.0.1/v1/", Token: "x"},
		{BaseURL: "http://127.0.0.1/v1/", Token: "x", TokenKind: "Basic"},
		{BaseURL: "http://127.0.0.1/v1/", Token: "x y"},
	} {
		if _, err := respa.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows URL credentials: %v", err)
		}
	}
}

func TestCheckAccess(t *testing.T) {
	e := newEnv(t)
	if err := e.client(staffKey).CheckAccess(ctx(t)); err != nil {
		t.Fatalf("staff token: %v", err)
	}
	if err := e.client(staffKey, func(c *respa.Config) { c.TokenKind = "Bearer" }).CheckAccess(ctx(t)); err != nil {
		t.Fatalf("bearer token: %v", err)
	}
	err := e.client("wrong-token").CheckAccess(ctx(t))
	if !errors.Is(err, respa.ErrUnauthorized) {
		t.Fatalf("bad token: %v, want ErrUnauthorized", err)
	}
	e.noSecrets(err)

	bad, err := respa.New(respa.Config{BaseURL: e.srv.URL + "/nothing-here/", Token: staffKey, Retry: respa.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.CheckAccess(ctx(t)); !errors.Is(err, respa.ErrNotFound) {
		t.Fatalf("wrong base path: %v, want ErrNotFound", err)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	c, err := respa.New(respa.Config{BaseURL: deadURL + "/v1/", Token: staffKey, Retry: respa.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckAccess(ctx(t))
	if !errors.Is(err, respa.ErrUnavailable) || errors.Is(err, respa.ErrUnauthorized) {
		t.Fatalf("unreachable server: %v, want ErrUnavailable only", err)
	}
	e.noSecrets(err)
}

func TestGetResource(t *testing.T) {
	e := newEnv(t)
	c := e.client(staffKey)
	r, err := c.GetResource(ctx(t), "room1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "Kokoushuone" || r.Unit.ID != "u1" || r.Unit.Name != "Kirjasto" || r.Unit.TimeZone != "Europe/Helsinki" || r.MinPeriod != 30*time.Minute {
		t.Fatalf("resource = %+v", r)
	}
	r, err = c.GetResource(ctx(t), "room2")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "Hall" || !r.NeedManualConfirmation {
		t.Fatalf("resource without Finnish name = %+v", r)
	}
	_, err = c.GetResource(ctx(t), "no-such-room")
	if !errors.Is(err, respa.ErrNotFound) {
		t.Fatalf("unknown resource: %v, want ErrNotFound", err)
	}
	var apiErr *respa.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Detail != "Not found." {
		t.Fatalf("unknown resource error = %#v", apiErr)
	}
}

func TestCreateUpdateCancel(t *testing.T) {
	e := newEnv(t)
	c := e.client(staffKey)
	created, err := c.CreateReservation(ctx(t), e.reservation("room1", 0, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == 0 || created.State != respa.StateConfirmed || !created.Begin.Equal(e.base) ||
		created.Begin.Location() != time.UTC || created.Comments != "exchange:uid-1" || created.ModifiedAt.IsZero() {
		t.Fatalf("created = %+v", created)
	}
	got, err := c.GetReservation(ctx(t), created.ID)
	if err != nil || got.EventSubject != "Board meeting" || got.User == nil {
		t.Fatalf("get = %+v, %v", got, err)
	}

	moved := created
	moved.Begin, moved.End = e.base.Add(30*time.Minute), e.base.Add(2*time.Hour)
	moved.EventSubject = "Moved"
	updated, err := c.UpdateReservation(ctx(t), moved)
	if err != nil {
		t.Fatal(err)
	}
	if !updated.End.Equal(moved.End) || updated.EventSubject != "Moved" || !updated.ModifiedAt.After(created.ModifiedAt) {
		t.Fatalf("updated = %+v", updated)
	}

	manual, err := c.CreateReservation(ctx(t), e.reservation("room2", 0, time.Hour))
	if err != nil || manual.State != respa.StateConfirmed {
		t.Fatalf("staff on a manual-confirmation room: %+v, %v", manual, err)
	}
	requested, err := e.client(userKey).CreateReservation(ctx(t), respa.Reservation{ResourceID: "room2", Begin: e.base.Add(3 * time.Hour), End: e.base.Add(4 * time.Hour)})
	if err != nil || requested.State != respa.StateRequested {
		t.Fatalf("user on a manual-confirmation room: %+v, %v", requested, err)
	}
	confirmed, err := c.SetState(ctx(t), requested.ID, respa.StateConfirmed)
	if err != nil || confirmed.State != respa.StateConfirmed {
		t.Fatalf("confirm: %+v, %v", confirmed, err)
	}

	for i := 0; i < 2; i++ {
		res, err := c.CancelReservation(ctx(t), created.ID)
		if err != nil || res != respa.Cancelled {
			t.Fatalf("cancel #%d: %v, %v", i+1, res, err)
		}
	}
	if r, _ := e.sim.Reservation(int(created.ID)); r.State != respasim.StateCancelled {
		t.Fatalf("simulator state after cancel: %s", r.State)
	}
	res, err := c.CancelReservation(ctx(t), 424242)
	if err != nil || res != respa.NotFound {
		t.Fatalf("cancel unknown: %v, %v", res, err)
	}
	_, err = e.client(userKey).CancelReservation(ctx(t), manual.ID)
	if !errors.Is(err, respa.ErrForbidden) {
		t.Fatalf("user cancels staff's reservation: %v, want ErrForbidden", err)
	}
	e.noSecrets(err)
}

func TestRejections(t *testing.T) {
	e := newEnv(t)
	c := e.client(staffKey)
	if _, err := c.CreateReservation(ctx(t), e.reservation("room1", 0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	past := e.reservation("room1", 0, time.Hour)
	past.Begin, past.End = time.Date(2020, 1, 1, 10, 0, 0, 0, time.UTC), time.Date(2020, 1, 1, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		c     *respa.Client
		r     respa.Reservation
		check func(*respa.Rejection) bool
	}{
		{"overlap", c, e.reservation("room1", 30*time.Minute, 90*time.Minute), (*respa.Rejection).Overlap},
		{"past", c, past, (*respa.Rejection).InPast},
		{"end before begin", c, e.reservation("room1", 3*time.Hour, 2*time.Hour), func(r *respa.Rejection) bool { return r.Has(respa.MessageEndBeforeBegin) }},
		{"slot multiple", c, e.reservation("room1", 3*time.Hour, 3*time.Hour+10*time.Minute), func(r *respa.Rejection) bool {
			return r.Has(respa.MessageMinLength) && r.Message() == "The minimum reservation length is 30 minutes"
		}},
		{"unknown resource", c, e.reservation("nope", 3*time.Hour, 4*time.Hour), func(r *respa.Rejection) bool {
			return len(r.Fields["resource"]) == 1 && strings.Contains(r.Fields["resource"][0], "Invalid pk")
		}},
		{"comments from a plain user", e.client(userKey), e.reservation("room1", 5*time.Hour, 6*time.Hour), func(r *respa.Rejection) bool {
			return r.Fields["comments"][0] == "Only allowed to be set by staff members" && r.Message() == "comments: Only allowed to be set by staff members"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.CreateReservation(ctx(t), tc.r)
			var rej *respa.Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("got %v, want a *Rejection", err)
			}
			if !tc.check(rej) {
				t.Fatalf("rejection %+v (%s) does not match", rej, rej.Message())
			}
			if errors.Is(err, respa.ErrUnavailable) || errors.Is(err, respa.ErrUnauthorized) {
				t.Fatalf("a rejection looks like a connection or credential failure: %v", err)
			}
		})
	}
	_, err := e.client(userKey).CreateReservation(ctx(t), respa.Reservation{ResourceID: "closed", Begin: e.base, End: e.base.Add(time.Hour)})
	if !errors.Is(err, respa.ErrForbidden) || !strings.Contains(err.Error(), "You are not allowed to make reservations in this resource.") {
		t.Fatalf("non-reservable: %v", err)
	}
	_, err = e.client("bad-token").CreateReservation(ctx(t), e.reservation("room1", 8*time.Hour, 9*time.Hour))
	if !errors.Is(err, respa.ErrUnauthorized) {
		t.Fatalf("bad token create: %v", err)
	}
	if len(e.sim.Reservations()) != 1 {
		t.Fatalf("rejected creates left %d reservations", len(e.sim.Reservations()))
	}
}

func TestRetriesIdempotentCallsOnly(t *testing.T) {
	e := newEnv(t)
	c := e.client(staffKey)
	e.sim.InjectFault(respasim.Fault{Method: "GET", PathPrefix: "/v1/resource/", Status: 503, Times: 2})
	if _, err := c.GetResource(ctx(t), "room1"); err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if n := e.sim.Counters()["GET resource-detail"]; n != 3 {
		t.Fatalf("GET attempts = %d, want 3", n)
	}

	e.sim.InjectFault(respasim.Fault{Method: "GET", PathPrefix: "/v1/resource/", Status: 502})
	_, err := c.GetResource(ctx(t), "room1")
	if !errors.Is(err, respa.ErrUnavailable) {
		t.Fatalf("GET against a persistent 502: %v", err)
	}
	if n := e.sim.Counters()["GET resource-detail"]; n != 3+4 {
		t.Fatalf("GET attempts = %d, want 4 more (the default MaxAttempts)", n-3)
	}
	e.sim.ClearFaults()

	e.sim.InjectFault(respasim.Fault{Method: "POST", PathPrefix: "/v1/reservation/", Status: 500, Times: 1})
	_, err = c.CreateReservation(ctx(t), e.reservation("room1", 0, time.Hour))
	if !errors.Is(err, respa.ErrUnavailable) {
		t.Fatalf("POST on 500: %v", err)
	}
	if n := e.sim.Counters()["POST reservation-list"]; n != 1 {
		t.Fatalf("POST attempts = %d, want exactly 1", n)
	}

	created, err := c.CreateReservation(ctx(t), e.reservation("room1", 0, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.sim.InjectFault(respasim.Fault{Method: "DELETE", PathPrefix: "/v1/reservation/", Status: 504, Times: 1})
	if res, err := c.CancelReservation(ctx(t), created.ID); err != nil || res != respa.Cancelled {
		t.Fatalf("DELETE after a 504: %v, %v", res, err)
	}
	if n := e.sim.Counters()["DELETE reservation-detail"]; n != 2 {
		t.Fatalf("DELETE attempts = %d, want 2", n)
	}
	e.noSecrets(err)
}

func TestRetryAfterBeyondLimitStopsRetrying(t *testing.T) {
	e := newEnv(t)
	c := e.client(staffKey, func(cfg *respa.Config) { cfg.Retry.MaxRetryAfter = time.Second })
	e.sim.InjectFault(respasim.Fault{PathPrefix: "/v1/", Status: 429, RetryAfter: 3600})
	_, err := c.GetResource(ctx(t), "room1")
	if !errors.Is(err, respa.ErrUnavailable) {
		t.Fatalf("429: %v", err)
	}
	if n := e.sim.Counters()["GET resource-detail"]; n != 1 {
		t.Fatalf("attempts = %d, want 1: an hour's Retry-After is not waited out", n)
	}
}

func TestTimeout(t *testing.T) {
	e := newEnv(t)
	c := e.client(staffKey, func(cfg *respa.Config) {
		cfg.Timeout = 100 * time.Millisecond
		cfg.Retry.MaxAttempts = 2
	})
	e.sim.InjectFault(respasim.Fault{PathPrefix: "/v1/reservation/", Hang: true})
	_, err := c.GetReservation(ctx(t), 1)
	if !errors.Is(err, respa.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging server: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if n := e.sim.Counters()["GET reservation-detail"]; n != 2 {
		t.Fatalf("attempts = %d, want 2", n)
	}
	_, err = c.CreateReservation(ctx(t), e.reservation("room1", 0, time.Hour))
	if !errors.Is(err, respa.ErrUnavailable) {
		t.Fatalf("hanging POST: %v", err)
	}
	if n := e.sim.Counters()["POST reservation-list"]; n != 1 {
		t.Fatalf("POST attempts = %d, want 1", n)
	}
}

func seed(t *testing.T, e *env, resources, perResource int) []string {
	t.Helper()
	ids, err := e.sim.Seed(respasim.SeedOptions{Resources: resources, ReservationsPerResource: perResource, Start: e.base, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestListPagesAndChunks(t *testing.T) {
	e := newEnv(t)
	ids := seed(t, e, 10, 7) // 70 reservations
	c := e.client(staffKey)
	rs, err := c.ListReservations(ctx(t), respa.ListOptions{ResourceIDs: ids, PageSize: 20, ResourcesPerRequest: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 70 {
		t.Fatalf("listed %d, want 70", len(rs))
	}
	seen := map[int64]bool{}
	for _, r := range rs {
		if seen[r.ID] {
			t.Fatalf("reservation %d listed twice", r.ID)
		}
		seen[r.ID] = true
	}
	// Chunks of 4+4+2 resources hold 28, 28 and 14 reservations: 2+2+1 pages.
	if n := e.sim.Counters()["GET reservation-list"]; n != 5 {
		t.Fatalf("list requests = %d, want 5", n)
	}

	// Cancellations stay visible; a state filter narrows.
	if _, err := c.CancelReservation(ctx(t), rs[0].ID); err != nil {
		t.Fatal(err)
	}
	rs, err = c.ListReservations(ctx(t), respa.ListOptions{ResourceIDs: ids[:1], Start: e.base, End: e.base.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	cancelled := 0
	for _, r := range rs {
		if r.State == respa.StateCancelled {
			cancelled++
		}
	}
	if len(rs) != 7 || cancelled != 1 {
		t.Fatalf("listed %d with %d cancelled, want 7 with 1", len(rs), cancelled)
	}
	rs, err = c.ListReservations(ctx(t), respa.ListOptions{ResourceIDs: ids[:1], States: []respa.State{respa.StateCancelled}})
	if err != nil || len(rs) != 1 {
		t.Fatalf("state filter: %d, %v", len(rs), err)
	}
}

func TestListFollowsNextOnlyOnOwnHost(t *testing.T) {
	e := newEnv(t)
	seed(t, e, 1, 5)
	// A proxy that makes Respa believe it is somewhere else.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		e.sim.ServeHTTP(rec, r)
		body := strings.ReplaceAll(rec.Body.String(), "http://"+r.Host, "http://evil.invalid")
		w.WriteHeader(rec.Code)
		_, _ = io.WriteString(w, body)
	}))
	defer proxy.Close()
	c, err := respa.New(respa.Config{BaseURL: proxy.URL + "/v1/", Token: staffKey})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.ListReservations(ctx(t), respa.ListOptions{PageSize: 2})
	if err != nil || len(rs) != 5 {
		t.Fatalf("listed %d, %v", len(rs), err)
	}
}

// mutatingTransport creates a reservation after the first page it passes.
type mutatingTransport struct {
	e     *env
	times int
	pages int
}

func (m *mutatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && r.URL.Path == "/v1/reservation/" && r.Method == "GET" {
		m.pages++
		if m.pages%2 == 1 && m.times > 0 {
			m.times--
			start := m.e.base.AddDate(0, 1, m.times)
			if _, err := m.e.sim.CreateAs("operator", respasim.ReservationRequest{ResourceID: "room1", Begin: start, End: start.Add(time.Hour)}); err != nil {
				return nil, fmt.Errorf("mutate: %w", err)
			}
		}
	}
	return resp, err
}

func TestListRestartsWhenListingChanges(t *testing.T) {
	e := newEnv(t)
	seed(t, e, 1, 6)
	mt := &mutatingTransport{e: e, times: 1}
	c := e.client(staffKey, func(cfg *respa.Config) { cfg.Transport = mt })
	rs, err := c.ListReservations(ctx(t), respa.ListOptions{PageSize: 4})
	if err != nil || len(rs) != 7 {
		t.Fatalf("after one change: %d, %v; want all 7", len(rs), err)
	}

	mt.times, mt.pages = 10, 0
	_, err = c.ListReservations(ctx(t), respa.ListOptions{PageSize: 4})
	if !errors.Is(err, respa.ErrListingChanged) {
		t.Fatalf("ever-changing listing: %v, want ErrListingChanged", err)
	}
}

func TestRateLimitIsHonoured(t *testing.T) {
	e := newEnv(t)
	limiter := respa.NewLimiter(1.0/3600, 1) // one request, then one an hour
	a := e.client(staffKey, func(cfg *respa.Config) { cfg.Limiter = limiter })
	b := e.client(staffKey, func(cfg *respa.Config) { cfg.Limiter = limiter })
	if err := a.CheckAccess(ctx(t)); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.CheckAccess(short); err == nil {
		t.Fatal("second client sharing the limiter was not held back")
	}
	if n := e.sim.APIRequests(); n != 1 {
		t.Fatalf("requests reaching Respa = %d, want 1", n)
	}
}

func TestTokensNeverLeak(t *testing.T) {
	e := newEnv(t)
	c := e.client(staffKey)
	// A misbehaving proxy echoes the Authorization header back.
	echo := "upstream said: Authorization: Token " + staffKey
	for _, f := range []respasim.Fault{
		{PathPrefix: "/v1/resource/", Status: 500, Body: echo},
		{PathPrefix: "/v1/resource/", Status: 400, Body: `{"non_field_errors":["` + echo + `"]}`},
		{PathPrefix: "/v1/resource/", Status: 403, Body: `{"detail":"` + echo + `"}`},
		{PathPrefix: "/v1/resource/", Status: 418, Body: echo},
	} {
		e.sim.ClearFaults()
		e.sim.InjectFault(f)
		_, err := c.GetResource(ctx(t), "room1")
		if err == nil {
			t.Fatalf("fault %d passed", f.Status)
		}
		if !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("fault %d: error %q does not show the redaction", f.Status, err)
		}
		e.noSecrets(err)
	}
	e.sim.ClearFaults()
	_, err := e.client(userKey).CreateReservation(ctx(t), e.reservation("room1", 0, time.Hour))
	e.noSecrets(err)
	e.mu.Lock()
	logged := e.logs.Len()
	e.mu.Unlock()
	if logged == 0 {
		t.Fatal("nothing was logged, so the log check proves nothing")
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	e := newEnv(t)
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.Header.Get("Authorization") != "" {
			t.Error("token followed the redirect")
		}
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/v1/reservation/", http.StatusFound))
	defer redirector.Close()
	c, err := respa.New(respa.Config{BaseURL: redirector.URL + "/v1/", Token: staffKey})
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckAccess(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "redirected to "+target.URL+"/v1/reservation/") || hits != 0 {
		t.Fatalf("redirect: %v (target hit %d times)", err, hits)
	}
	e.noSecrets(err)
}

func TestListOnlyEmptyIDsListsNothing(t *testing.T) {
	e := newEnv(t)
	seed(t, e, 1, 2)
	rs, err := e.client(staffKey).ListReservations(ctx(t), respa.ListOptions{ResourceIDs: []string{""}})
	if err != nil || len(rs) != 0 || e.sim.APIRequests() != 0 {
		t.Fatalf("listed %d with %d requests, %v; want nothing", len(rs), e.sim.APIRequests(), err)
	}
}
