package respasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	staffKey = "staff-secret"
	userKey  = "user-secret"
)

type fixture struct {
	t    *testing.T
	sim  *Server
	srv  *httptest.Server
	base time.Time // a future full hour, where tests place reservations
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim := New(Options{})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	sim.AddUnit(Unit{ID: "u1", Name: map[string]string{"fi": "Pasila", "en": "Pasila"}, TimeZone: "Europe/Helsinki"})
	sim.AddResource(Resource{ID: "room1", UnitID: "u1", Name: map[string]string{"fi": "Neukkari"}, Reservable: true, Public: true})
	sim.AddResource(Resource{ID: "room2", UnitID: "u1", Name: map[string]string{"en": "Hall"}, Reservable: true, Public: true, NeedManualConfirmation: true})
	sim.AddResource(Resource{ID: "closed", UnitID: "u1", Name: map[string]string{"fi": "Varasto"}, Public: true})
	sim.AddUser(User{Username: "operator", Staff: true})
	sim.AddUser(User{Username: "citizen"})
	for _, tk := range []Token{{"Token", staffKey, "operator"}, {"Bearer", staffKey, "operator"}, {"Token", userKey, "citizen"}} {
		if err := sim.AddToken(tk); err != nil {
			t.Fatal(err)
		}
	}
	// Noon Helsinki time two days ahead keeps a short reservation on one local day.
	day := time.Now().In(helsinki).AddDate(0, 0, 2)
	base := time.Date(day.Year(), day.Month(), day.Day(), 12, 0, 0, 0, helsinki).UTC()
	return &fixture{t: t, sim: sim, srv: srv, base: base}
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (f *fixture) call(method, path, auth string, body any) answer {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (f *fixture) reservationBody(resource string, from, to time.Duration) map[string]any {
	return map[string]any{
		"resource": resource,
		"begin":    f.base.Add(from).Format(time.RFC3339),
		"end":      f.base.Add(to).Format(time.RFC3339),
	}
}

func expect(t *testing.T, a answer, status int, contains string) {
	t.Helper()
	if a.status != status || !strings.Contains(a.raw, contains) {
		t.Fatalf("got %d %s, want %d containing %q", a.status, a.raw, status, contains)
	}
}

func TestCreateSetsStateByManualConfirmation(t *testing.T) {
	f := newFixture(t)
	a := f.call("POST", "/v1/reservation/", "Token "+staffKey, f.reservationBody("room1", 0, time.Hour))
	expect(t, a, 201, `"state":"confirmed"`)
	a = f.call("POST", "/v1/reservation/", "Token "+userKey, f.reservationBody("room2", 0, time.Hour))
	expect(t, a, 201, `"state":"requested"`)
	a = f.call("POST", "/v1/reservation/", "Bearer "+staffKey, f.reservationBody("room2", 2*time.Hour, 3*time.Hour))
	expect(t, a, 201, `"state":"confirmed"`)
}

func TestValidationMessagesAndStatusCodes(t *testing.T) {
	f := newFixture(t)
	staff, user := "Token "+staffKey, "Token "+userKey
	expect(t, f.call("POST", "/v1/reservation/", staff, f.reservationBody("room1", 0, time.Hour)), 201, "confirmed")

	past := map[string]any{"resource": "room1", "begin": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00Z"}
	withComments := f.reservationBody("room1", 5*time.Hour, 6*time.Hour)
	withComments["comments"] = "marker"
	staffEvent := f.reservationBody("room1", 5*time.Hour, 6*time.Hour)
	staffEvent["staff_event"] = true
	for _, tc := range []struct {
		name   string
		auth   string
		body   any
		status int
		want   string
	}{
		{"past", staff, past, 400, `{"non_field_errors":["You cannot make a reservation in the past"]}`},
		{"end before begin", staff, f.reservationBody("room1", 3*time.Hour, 2*time.Hour), 400, `["['You must end the reservation after it has begun']"]`},
		{"overlap", staff, f.reservationBody("room1", 30*time.Minute, 90*time.Minute), 400, `["['The resource is already reserved for some of the period']"]`},
		{"touching is no overlap", staff, f.reservationBody("room1", time.Hour, 2*time.Hour), 201, "confirmed"},
		{"staff length must fit slots", staff, f.reservationBody("room1", 3*time.Hour, 3*time.Hour+45*time.Minute), 400, `The minimum reservation length is 30 minutes`},
		{"user minimum length", user, f.reservationBody("room1", 3*time.Hour, 3*time.Hour+15*time.Minute), 400, `The minimum reservation length is 30 minutes`},
		{"user multi day", user, f.reservationBody("room1", 3*time.Hour, 27*time.Hour), 400, `You cannot make a multi day reservation`},
		{"user comments", user, withComments, 400, `{"comments":["Only allowed to be set by staff members"]}`},
		{"user staff event", user, staffEvent, 400, `{"staff_event":["Only allowed to be set by resource managers"]}`},
		{"user not reservable", user, f.reservationBody("closed", 3*time.Hour, 4*time.Hour), 403, `You are not allowed to make reservations in this resource.`},
		{"unknown resource", staff, f.reservationBody("nope", 3*time.Hour, 4*time.Hour), 400, `{"resource":["Invalid pk \"nope\" - object does not exist."]}`},
		{"unknown user", staff, map[string]any{"resource": "room1", "begin": f.base.Add(3 * time.Hour), "end": f.base.Add(4 * time.Hour), "user": map[string]any{"id": "nobody"}}, 400, `{"user":{"id":["Invalid pk \"nobody\" - object does not exist."]}}`},
		{"missing fields", staff, map[string]any{"resource": "room1"}, 400, `"begin":["This field is required."]`},
		{"bad datetime", staff, map[string]any{"resource": "room1", "begin": "tomorrow", "end": "later"}, 400, `Datetime has wrong format`},
		{"anonymous", "", f.reservationBody("room1", 3*time.Hour, 4*time.Hour), 401, `Authentication credentials were not provided.`},
		{"bad token", "Token wrong", f.reservationBody("room1", 3*time.Hour, 4*time.Hour), 401, `Invalid token.`},
		{"bad jwt", "Bearer wrong", f.reservationBody("room1", 3*time.Hour, 4*time.Hour), 401, `Error decoding signature.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, f.call("POST", "/v1/reservation/", tc.auth, tc.body), tc.status, tc.want)
		})
	}
}

func TestCancelledAndDeniedFreeTheSlot(t *testing.T) {
	f := newFixture(t)
	staff := "Token " + staffKey
	a := f.call("POST", "/v1/reservation/", staff, f.reservationBody("room1", 0, time.Hour))
	id := int(a.body["id"].(float64))
	before, _ := f.sim.Reservation(id)
	expect(t, f.call("DELETE", fmt.Sprintf("/v1/reservation/%d/", id), staff, nil), 204, "")
	after, _ := f.sim.Reservation(id)
	if after.State != StateCancelled || !after.ModifiedAt.After(before.ModifiedAt) {
		t.Fatalf("after DELETE: state %s modified %v (was %v)", after.State, after.ModifiedAt, before.ModifiedAt)
	}
	expect(t, f.call("DELETE", fmt.Sprintf("/v1/reservation/%d/", id), staff, nil), 204, "")
	if again, _ := f.sim.Reservation(id); !again.ModifiedAt.Equal(after.ModifiedAt) {
		t.Fatal("cancelling a cancelled reservation changed it")
	}
	a = f.call("POST", "/v1/reservation/", "Token "+userKey, f.reservationBody("room2", 0, time.Hour))
	expect(t, a, 201, "requested")
	rid := int(a.body["id"].(float64))
	if _, err := f.sim.SetStateAs("operator", rid, StateDenied); err != nil {
		t.Fatal(err)
	}
	expect(t, f.call("POST", "/v1/reservation/", staff, f.reservationBody("room1", 0, time.Hour)), 201, "confirmed")
	expect(t, f.call("POST", "/v1/reservation/", staff, f.reservationBody("room2", 0, time.Hour)), 201, "confirmed")
}

func TestPermissionsOnOthersReservations(t *testing.T) {
	f := newFixture(t)
	staff, user := "Token "+staffKey, "Token "+userKey
	a := f.call("POST", "/v1/reservation/", staff, f.reservationBody("room1", 0, time.Hour))
	id := int(a.body["id"].(float64))
	path := fmt.Sprintf("/v1/reservation/%d/", id)
	expect(t, f.call("DELETE", path, user, nil), 403, "You do not have permission to perform this action.")
	expect(t, f.call("PUT", path, user, f.reservationBody("room1", time.Hour, 2*time.Hour)), 403, "permission")
	got := f.call("GET", path, user, nil)
	expect(t, got, 200, `"state":"confirmed"`)
	if _, ok := got.body["comments"]; ok {
		t.Error("plain user sees comments")
	}
	if _, ok := got.body["event_subject"]; ok {
		t.Error("plain user sees extra fields of others' reservations")
	}
	expect(t, f.call("DELETE", path, staff, nil), 204, "")
	expect(t, f.call("GET", path, user, nil), 404, "Not found.")
	expect(t, f.call("GET", "/v1/reservation/999/", staff, nil), 404, "Not found.")
}

func TestPutMovesAndPatchOnlyState(t *testing.T) {
	f := newFixture(t)
	staff := "Token " + staffKey
	a := f.call("POST", "/v1/reservation/", staff, f.reservationBody("room1", 0, time.Hour))
	id := int(a.body["id"].(float64))
	path := fmt.Sprintf("/v1/reservation/%d/", id)
	// Overlapping its own old times is fine: the reservation is excluded.
	body := f.reservationBody("room1", 30*time.Minute, 90*time.Minute)
	body["event_subject"] = "Moved"
	expect(t, f.call("PUT", path, staff, body), 200, `"event_subject":"Moved"`)
	expect(t, f.call("PATCH", path, staff, map[string]any{"event_subject": "x"}), 400, "Patching of field event_subject is not allowed")
	expect(t, f.call("PATCH", path, staff, map[string]any{"state": "bogus"}), 400, `"bogus\" is not a valid choice.`)
	expect(t, f.call("PATCH", path, staff, map[string]any{"state": "cancelled"}), 200, `"state":"cancelled"`)
}

func TestListFiltersAndPagination(t *testing.T) {
	f := newFixture(t)
	staff, user := "Token "+staffKey, "Token "+userKey
	var ids []int
	for i := 0; i < 25; i++ {
		a := f.call("POST", "/v1/reservation/", staff, f.reservationBody([]string{"room1", "room2"}[i%2], time.Duration(i)*time.Hour, time.Duration(i+1)*time.Hour))
		expect(t, a, 201, "confirmed")
		ids = append(ids, int(a.body["id"].(float64)))
	}
	// A past reservation, put in place directly as an import would.
	f.sim.mu.Lock()
	f.sim.nextID++
	f.sim.reservations[f.sim.nextID] = &Reservation{ID: f.sim.nextID, ResourceID: "room1", Begin: time.Date(2020, 1, 1, 10, 0, 0, 0, time.UTC), End: time.Date(2020, 1, 1, 11, 0, 0, 0, time.UTC), State: StateConfirmed, Type: "normal"}
	f.sim.byResource["room1"] = append(f.sim.byResource["room1"], f.sim.nextID)
	f.sim.mu.Unlock()
	expect(t, f.call("DELETE", fmt.Sprintf("/v1/reservation/%d/", ids[0]), staff, nil), 204, "")

	count := func(q, auth string) int {
		t.Helper()
		a := f.call("GET", "/v1/reservation/?"+q, auth, nil)
		if a.status != 200 {
			t.Fatalf("%s: %d %s", q, a.status, a.raw)
		}
		return int(a.body["count"].(float64))
	}
	cases := []struct {
		q    string
		auth string
		want int
	}{
		{"", staff, 25},
		{"all=true", staff, 26},
		{"start=2019-12-31T00:00:00Z", staff, 26},
		{"resource=room1", staff, 13},
		{"resource=room1,room2", staff, 25},
		{"resource=nope", staff, 0},
		{"state=cancelled", staff, 1},
		{"state=confirmed,cancelled", staff, 25},
		{"", user, 24},
		// Inclusive overlap: [base+1h, base+2h] touches reservations 0..2.
		{"start=" + f.base.Add(time.Hour).Format(time.RFC3339) + "&end=" + f.base.Add(2*time.Hour).Format(time.RFC3339), staff, 3},
	}
	for _, tc := range cases {
		if got := count(tc.q, tc.auth); got != tc.want {
			t.Errorf("list %q as %s: count %d, want %d", tc.q, tc.auth[:5], got, tc.want)
		}
	}
	expect(t, f.call("GET", "/v1/reservation/?start=soon", staff, nil), 400, `'start' must be a timestamp in ISO 8601 format`)

	// Pages of 10: next and previous links, and a stable order by begin.
	a := f.call("GET", "/v1/reservation/?page_size=10", staff, nil)
	if n := len(a.body["results"].([]any)); n != 10 || a.body["previous"] != nil {
		t.Fatalf("first page: %d results, previous %v", n, a.body["previous"])
	}
	next := a.body["next"].(string)
	if !strings.Contains(next, "page=2") || !strings.HasPrefix(next, f.srv.URL) {
		t.Fatalf("next = %s", next)
	}
	a = f.call("GET", strings.TrimPrefix(next, f.srv.URL), staff, nil)
	if prev, _ := a.body["previous"].(string); prev == "" || strings.Contains(prev, "page=") {
		t.Fatalf("previous of page 2 = %v, want a link without page", a.body["previous"])
	}
	expect(t, f.call("GET", "/v1/reservation/?page_size=10&page=4", staff, nil), 404, "Invalid page.")
	a = f.call("GET", "/v1/reservation/?page_size=100000&all=true", staff, nil)
	if n := len(a.body["results"].([]any)); n != 26 {
		t.Fatalf("page_size over the cap: %d results", n)
	}
	a = f.call("GET", "/v1/reservation/?page_size=0", staff, nil)
	if n := len(a.body["results"].([]any)); n != DefaultPageSize {
		t.Fatalf("page_size=0: %d results, want default %d", n, DefaultPageSize)
	}
}

func TestPageSizeCap(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sim.Seed(SeedOptions{Resources: 2, ReservationsPerResource: 300, Start: f.base}); err != nil {
		t.Fatal(err)
	}
	a := f.call("GET", "/v1/reservation/?page_size=1000", "Token "+staffKey, nil)
	if n := len(a.body["results"].([]any)); n != MaxPageSize || a.body["next"] == nil {
		t.Fatalf("page_size=1000 gave %d results, next %v; want %d and a next link", n, a.body["next"], MaxPageSize)
	}
}

func TestUserEndpointTakesOnlyJWT(t *testing.T) {
	f := newFixture(t)
	expect(t, f.call("GET", "/v1/user/", "Bearer "+staffKey, nil), 200, `"username":"operator"`)
	expect(t, f.call("GET", "/v1/user/", "Token "+staffKey, nil), 401, msgNotProvided)
}

func TestResourceDetailAndVisibility(t *testing.T) {
	f := newFixture(t)
	f.sim.AddResource(Resource{ID: "hidden", UnitID: "u1", Reservable: true})
	expect(t, f.call("GET", "/v1/resource/room1/", "", nil), 200, `"unit":{"id":"u1","name":{"en":"Pasila","fi":"Pasila"},"time_zone":"Europe/Helsinki"}`)
	expect(t, f.call("GET", "/v1/resource/hidden/", "Token "+userKey, nil), 404, "Not found.")
	expect(t, f.call("GET", "/v1/resource/hidden/", "Token "+staffKey, nil), 200, `"name":null`)
	expect(t, f.call("GET", "/v1/resource/nope/", "Token "+staffKey, nil), 404, "Not found.")
}

func TestFaultsAndCounters(t *testing.T) {
	f := newFixture(t)
	f.sim.InjectFault(Fault{Method: "GET", PathPrefix: "/v1/reservation/", Status: 503, RetryAfter: 2, Times: 1})
	a := f.call("GET", "/v1/reservation/", "Token "+staffKey, nil)
	if a.status != 503 {
		t.Fatalf("first call: %d, want the injected 503", a.status)
	}
	expect(t, f.call("GET", "/v1/reservation/", "Token "+staffKey, nil), 200, `"count":0`)
	f.call("GET", "/v1/resource/room1/", "", nil)
	c := f.sim.Counters()
	if c["GET reservation-list"] != 2 || c["GET resource-detail"] != 1 {
		t.Fatalf("counters %v", c)
	}
	f.sim.ResetCounters()
	if f.sim.APIRequests() != 0 {
		t.Fatal("counters not reset")
	}
}

func TestHangFaultReleasedByClientTimeout(t *testing.T) {
	f := newFixture(t)
	f.sim.InjectFault(Fault{PathPrefix: "/v1/", Hang: true})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := client.Get(f.srv.URL + "/v1/reservation/")
	if err == nil {
		t.Fatal("request against a hanging server succeeded")
	}
}

func TestAdminHTTP(t *testing.T) {
	f := newFixture(t)
	a := f.call("POST", "/admin/reservations?as=citizen", "", map[string]any{
		"resource": "room2", "begin": f.base, "end": f.base.Add(time.Hour), "event_subject": "Sauna",
	})
	expect(t, a, 201, `"state":"requested"`)
	id := int(a.body["id"].(float64))
	expect(t, f.call("POST", fmt.Sprintf("/admin/reservations/%d/confirm?as=operator", id), "", nil), 200, `"state":"confirmed"`)
	// A confirmed reservation of a manual-confirmation resource is out of its owner's hands.
	expect(t, f.call("POST", fmt.Sprintf("/admin/reservations/%d/cancel?as=citizen", id), "", nil), 403, msgNoPermission)
	expect(t, f.call("POST", fmt.Sprintf("/admin/reservations/%d/move?as=operator", id), "", map[string]any{"Begin": f.base.Add(time.Hour), "End": f.base.Add(2 * time.Hour)}), 200, `"state":"confirmed"`)
	expect(t, f.call("POST", "/admin/reservations?as=citizen", "", map[string]any{"resource": "room2", "begin": f.base.Add(time.Hour), "end": f.base.Add(2 * time.Hour)}), 400, msgOverlap)
	expect(t, f.call("POST", "/admin/faults", "", map[string]any{"path_prefix": "/v1/resource/", "status": 500}), 201, "")
	expect(t, f.call("GET", "/v1/resource/room1/", "", nil), 500, "Server Error")
	expect(t, f.call("DELETE", "/admin/faults", "", nil), 204, "")
	expect(t, f.call("GET", "/admin/counters", "", nil), 200, `"GET resource-detail":1`)
	expect(t, f.call("GET", "/admin/reservations", "", nil), 200, `"event_subject":"Sauna"`)
	expect(t, f.call("POST", "/admin/reset", "", nil), 204, "")
	if len(f.sim.Reservations()) != 0 {
		t.Fatal("reset kept reservations")
	}
}

func TestTimesAreRespaStyle(t *testing.T) {
	winter := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	if got := formatTime(winter); got != "2026-01-15T12:00:00+02:00" {
		t.Errorf("formatTime = %s", got)
	}
	if got := formatTime(winter.Add(1500 * time.Microsecond)); got != "2026-01-15T12:00:00.001500+02:00" {
		t.Errorf("formatTime with micros = %s", got)
	}
	if got, ok := parseBodyTime("2026-07-01T12:00:00"); !ok || !got.Equal(time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("naive time parsed as %v, want Helsinki summer time", got)
	}
	if got := humanizeDuration(150 * time.Minute); got != "2 hours 30 minutes" {
		t.Errorf("humanizeDuration = %q", got)
	}
}

func TestAdminSetupRoutes(t *testing.T) {
	sim := New(Options{})
	srv := httptest.NewServer(sim)
	defer func() { sim.Close(); srv.Close() }()
	f := &fixture{t: t, sim: sim, srv: srv}
	expect(t, f.call("POST", "/admin/units", "", Unit{ID: "u9", Name: map[string]string{"sv": "Enhet"}}), 201, `"id":"u9"`)
	expect(t, f.call("POST", "/admin/resources", "", map[string]any{"id": "r9", "unit": "u9", "name": map[string]string{"fi": "Sali"}, "need_manual_confirmation": true, "max_period": "2h"}), 201, `"reservable":true`)
	expect(t, f.call("POST", "/admin/users", "", User{Username: "ops", Staff: true}), 201, `"username":"ops"`)
	expect(t, f.call("POST", "/admin/tokens", "", Token{Kind: "Token", Key: "k9", Username: "ops"}), 201, `"kind":"Token"`)
	expect(t, f.call("POST", "/admin/tokens", "", Token{Kind: "Token", Key: "k0", Username: "ghost"}), 400, "unknown user")
	expect(t, f.call("GET", "/v1/resource/r9/", "Token k9", nil), 200, `"max_period":"02:00:00"`)
	expect(t, f.call("POST", "/admin/seed", "", SeedOptions{Units: 1, Resources: 2, ReservationsPerResource: 3}), 201, `"resources":["res-0001","res-0002"]`)
	expect(t, f.call("GET", "/v1/reservation/?resource=res-0001,res-0002", "Token k9", nil), 200, `"count":6`)
	expect(t, f.call("GET", "/admin/nothing", "", nil), 404, "no admin route")
}

func TestLatencyAppliesToAPIOnly(t *testing.T) {
	sim := New(Options{Latency: time.Hour})
	srv := httptest.NewServer(sim)
	defer func() { sim.Close(); srv.Close() }()
	client := &http.Client{Timeout: 2 * time.Second}
	if _, err := client.Get(srv.URL + "/v1/resource/"); err == nil {
		t.Fatal("API answered despite an hour of latency")
	}
	resp, err := client.Get(srv.URL + "/admin/counters")
	if err != nil {
		t.Fatalf("admin delayed by API latency: %v", err)
	}
	resp.Body.Close()
}
