package exchangesim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

func adminCall(t *testing.T, method, u, token string, in, out any) int {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, u, &body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, u, err)
		}
	}
	return resp.StatusCode
}

func TestAdminAPIActsAsOutlookUser(t *testing.T) {
	sim := New(Options{AdminToken: "admin-tok"})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	a := srv.URL + "/admin"
	if got := adminCall(t, "GET", a+"/mailboxes", "", nil, nil); got != http.StatusUnauthorized {
		t.Errorf("admin without token: %d", got)
	}
	const tok = "admin-tok"
	if got := adminCall(t, "POST", a+"/mailboxes", tok, MailboxInfo{SMTP: room1, Name: "Room one"}, nil); got != http.StatusCreated {
		t.Fatalf("create mailbox: %d", got)
	}
	adminCall(t, "POST", a+"/mailboxes", tok, MailboxInfo{SMTP: alice}, nil)
	if got := adminCall(t, "POST", a+"/accounts", tok, Account{User: "svc", Password: "pw", Impersonate: []string{room1}}, nil); got != http.StatusNoContent {
		t.Errorf("create account: %d", got)
	}
	var created ItemInfo
	start := mustTime(t, "2026-12-07T09:00:00Z")
	if got := adminCall(t, "POST", a+"/mailboxes/"+room1+"/items", tok, Event{Subject: "Weekly", Start: start, End: start.Add(time.Hour),
		Organizer:  Person{SMTP: alice, RoutingType: "EX"},
		Recurrence: &Recurrence{Pattern: "Weekly", DaysOfWeek: []string{"Monday"}, NumberOfOccurrences: 3}}, &created); got != http.StatusCreated {
		t.Fatalf("create series: %d", got)
	}
	if created.Type != "RecurringMaster" || created.Organizer.SMTP != alice {
		t.Errorf("created %+v", created)
	}
	var view []ItemInfo
	q := url.Values{"start": {"2026-12-01T00:00:00Z"}, "end": {"2027-01-01T00:00:00Z"}}
	adminCall(t, "GET", a+"/mailboxes/"+room1+"/view?"+q.Encode(), tok, nil, &view)
	if len(view) != 3 || view[1].Type != "Occurrence" || view[1].RecurrenceID == nil {
		t.Fatalf("view: %+v", view)
	}
	// Retitle and move one occurrence; ids carry '/' and '+', so escape them.
	occPath := a + "/mailboxes/" + room1 + "/items/" + url.PathEscape(view[1].ID)
	var exc ItemInfo
	moved := view[1].Start.Add(2 * time.Hour)
	if got := adminCall(t, "PATCH", occPath, tok, EventChange{Subject: ptr("Moved"), Start: &moved, End: ptr(moved.Add(time.Hour))}, &exc); got != http.StatusOK {
		t.Fatalf("patch occurrence: %d", got)
	}
	if exc.Type != "Exception" || exc.Subject != "Moved" {
		t.Errorf("exception: %+v", exc)
	}
	if got := adminCall(t, "DELETE", a+"/mailboxes/"+room1+"/items/"+url.PathEscape(view[2].ID), tok, nil, nil); got != http.StatusNoContent {
		t.Errorf("delete occurrence: %d", got)
	}
	var items []ItemInfo
	adminCall(t, "GET", a+"/mailboxes/"+room1+"/items", tok, nil, &items)
	if len(items) != 1 || len(items[0].Exceptions) != 1 || len(items[0].DeletedOccurrences) != 1 {
		t.Errorf("items: %+v", items)
	}
	if got := adminCall(t, "DELETE", a+"/mailboxes/"+room1+"/items/"+url.PathEscape(created.ID), tok, nil, nil); got != http.StatusNoContent {
		t.Errorf("cancel series: %d", got)
	}
	if got := adminCall(t, "GET", a+"/mailboxes/"+room1+"/items/"+url.PathEscape(created.ID), tok, nil, nil); got != http.StatusNotFound {
		t.Errorf("cancelled series still found: %d", got)
	}
	if got := adminCall(t, "POST", a+"/faults", tok, Fault{Kind: "ServerBusy", Times: 1}, nil); got != http.StatusNoContent {
		t.Errorf("inject fault: %d", got)
	}
	var cnt Counters
	adminCall(t, "GET", a+"/counters", tok, nil, &cnt)
	if cnt.ByOperation == nil {
		t.Error("counters missing")
	}
	if got := adminCall(t, "POST", a+"/reset", tok, nil, nil); got != http.StatusNoContent || len(sim.Mailboxes()) != 0 {
		t.Errorf("reset: %d, %d mailboxes left", got, len(sim.Mailboxes()))
	}
	if got := adminCall(t, "POST", a+"/seed", tok, DemoSeed(start), nil); got != http.StatusNoContent || len(sim.Mailboxes()) != 3 {
		t.Errorf("seed: %d", got)
	}
}

// TestExchangelibFidelity drives the simulator with exchangelib, a widely
// used Python EWS client, and checks its changes through the admin API.
func TestExchangelibFidelity(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		testenv.Skip(t, testenv.Exchangelib, "/usr/bin/python3 is absent; skipping the exchangelib fidelity test")
	}
	if err := exec.Command(python, "-c", "import exchangelib").Run(); err != nil {
		testenv.Skip(t, testenv.Exchangelib, "exchangelib is not installed (Debian python3-exchangelib); skipping")
	}
	// One ConnectionTimeout minute lasts three seconds; the affinity cookie is required.
	opts := Options{StreamTimeoutUnit: 3 * time.Second, KeepAliveInterval: 500 * time.Millisecond, RequireAffinity: true}
	sim, base := testSim(t, opts)
	// exchangelib's requests must also pass Exchange's own schema validation;
	// they are checked together at the end, which is what strict mode does
	// one by one.
	var mu sync.Mutex
	var requests [][]byte
	sim.onRequest = func(body []byte) {
		mu.Lock()
		defer mu.Unlock()
		requests = append(requests, body)
	}
	start := mustTime(t, "2026-12-07T00:00:00Z")
	series, err := sim.CreateEvent(room1, Event{Subject: "Stand-up", Start: start.Add(8 * time.Hour), End: start.Add(8*time.Hour + 15*time.Minute),
		Organizer: Person{SMTP: alice, RoutingType: "EX"}, Recurrence: &Recurrence{Pattern: "Daily", NumberOfOccurrences: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CreateEvent(room1, Event{Subject: "Planning", Start: start.Add(34 * time.Hour), End: start.Add(35 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), python, filepath.Join("testdata", "exchangelib_fidelity.py"), base+"/EWS/Exchange.asmx",
		svcUser, svcPass, room1, "2026-12-07T00:00:00+00:00", "2026-12-14T00:00:00+00:00")
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Book the room once exchangelib's stream is open.
	booked := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(40 * time.Second)
		for sim.Counters().ByOperation["GetStreamingEvents"] == 0 {
			if time.Now().After(deadline) {
				booked <- nil
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		_, err := sim.CreateEvent(room1, Event{Subject: "Booked during the stream", Start: start.Add(80 * time.Hour), End: start.Add(81 * time.Hour)})
		booked <- err
	}()
	out, err := cmd.Output()
	if berr := <-booked; berr != nil {
		t.Fatal(berr)
	}
	if err != nil {
		t.Fatalf("exchangelib script failed: %v\n%s", err, stderr.String())
	}
	var res struct {
		Version string `json:"version"`
		View    []struct {
			ID, Subject, Type, UID string
		} `json:"view"`
		Created struct{ ID, Changekey string } `json:"created"`
		Updated struct{ ID, Changekey string } `json:"updated"`
		Deleted struct{ ID string }            `json:"deleted"`
		Fetched struct {
			Subject, Location string
			ResvID            string `json:"resv_id"`
		} `json:"fetched"`
		Sync   []string `json:"sync"`
		Stream []string `json:"stream"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output: %v\n%s", err, out)
	}
	var occurrences int
	for _, v := range res.View {
		if v.Type == "Occurrence" && v.UID == series.UID {
			occurrences++
		}
	}
	if len(res.View) != 4 || occurrences != 3 {
		t.Errorf("exchangelib saw %d entries (%d occurrences of the series), want 4 and 3: %+v", len(res.View), occurrences, res.View)
	}
	got, err := sim.Item(room1, res.Created.ID)
	if err != nil {
		t.Fatalf("the item exchangelib created is not in the mailbox: %v", err)
	}
	if got.Subject != "Created by exchangelib" || got.Location != "Room 1" || got.ChangeKey != res.Created.Changekey ||
		!got.Start.Equal(start.Add(30*time.Hour)) || len(got.ExtendedProperties) != 1 || got.ExtendedProperties[0].Value != "resv-42" {
		t.Errorf("created item as stored: %+v", got)
	}
	if res.Fetched.ResvID != "resv-42" || res.Fetched.Subject != "Created by exchangelib" {
		t.Errorf("exchangelib read back %+v", res.Fetched)
	}
	upd, err := sim.Item(room1, res.Updated.ID)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Subject != "Renamed by exchangelib" || !upd.End.Equal(start.Add(52*time.Hour)) || upd.ChangeKey != res.Updated.Changekey {
		t.Errorf("updated item as stored: %+v", upd)
	}
	if _, err := sim.Item(room1, res.Deleted.ID); err == nil {
		t.Error("the item exchangelib deleted is still there")
	}
	t.Logf("exchangelib (API version %s): sync %v, stream %v", res.Version, res.Sync, res.Stream)
	// The series, the single item, and the created and updated items.
	if len(res.Sync) != 4 || strings.Count(strings.Join(res.Sync, " "), "create") != 4 {
		t.Errorf("exchangelib sync_items saw %v, want four creates", res.Sync)
	}
	if joined := strings.Join(res.Stream, " "); !strings.Contains(joined, "CreatedEvent") {
		t.Errorf("exchangelib's stream carried %v, want a CreatedEvent for the booking", res.Stream)
	}
	if cnt := sim.Counters(); cnt.ByMailbox[room1]["CreateItem"] != 3 || cnt.ByOperation["ConvertId"] == 0 || cnt.ByOperation["MissingAnchorMailbox"] != 0 {
		t.Errorf("counters after the exchangelib run: %+v", cnt.ByOperation)
	}
	if strings.Contains(stderr.String(), "Traceback") {
		t.Errorf("exchangelib printed a traceback:\n%s", stderr.String())
	}
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Log("xmllint is absent; exchangelib's requests were not validated")
		return
	}
	if p := filepath.Join(filepath.Dir(mustModuleRoot(t)), "shared", "ews-schema", "soap-envelope.xsd"); fileExists(p) {
		mu.Lock()
		defer mu.Unlock()
		validateAll(t, p, requests)
		t.Logf("%d exchangelib requests validated against the schema", len(requests))
	} else {
		t.Log("../shared/ews-schema is absent; exchangelib's requests were not validated")
	}
}

func mustModuleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for !fileExists(filepath.Join(dir, "go.mod")) {
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test directory")
		}
		dir = parent
	}
	return dir
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
