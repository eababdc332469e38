package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestPassSeriesMove(t *testing.T) {
	m, reg := newTestMetrics(t)
	m.now = func() time.Time { return time.Unix(1_800_000_000, 500_000_000) }

	m.ObservePass("rooms", "sali-1", 1500*time.Millisecond, true)
	m.ObservePass("rooms", "sali-2", 3*time.Second, false)
	m.CountWrites(SideRespa, VerbCreate, 3)
	m.CountWrites(SideExchange, VerbDelete, 1)
	m.CountWrites(SideExchange, VerbUpdate, 0)
	m.CountWrites("calendar", "move", 2)
	m.CountFailures("Rejected/Overlap", 2)
	m.CountFailures("Conflict", 1)
	m.CountFailures("the reservation overlaps reservation 42", 1)
	m.CountFailures("Conflict", -1)
	m.SetStreamState("rooms", "helsinki", StreamStreaming)
	m.SetStreamState("rooms", "espoo", StreamPolling)

	expected := `
# HELP respa_exchange_last_successful_sync_timestamp_seconds Unix time of the last successful sync pass of an ExchangeResource.
# TYPE respa_exchange_last_successful_sync_timestamp_seconds gauge
respa_exchange_last_successful_sync_timestamp_seconds{name="sali-1",namespace="rooms"} 1.8000000005e+09
# HELP respa_exchange_stream_streaming 1 while a mailbox's Exchange notification stream is up, 0 while its resources are polled instead.
# TYPE respa_exchange_stream_streaming gauge
respa_exchange_stream_streaming{mailbox="espoo",namespace="rooms"} 0
respa_exchange_stream_streaming{mailbox="helsinki",namespace="rooms"} 1
# HELP respa_exchange_sync_item_failures_total Items a sync pass could not write, by reason.
# TYPE respa_exchange_sync_item_failures_total counter
respa_exchange_sync_item_failures_total{reason="Conflict"} 1
respa_exchange_sync_item_failures_total{reason="Rejected/Overlap"} 2
respa_exchange_sync_item_failures_total{reason="other"} 1
# HELP respa_exchange_sync_writes_total Items created, updated or deleted by sync passes, by the side written to.
# TYPE respa_exchange_sync_writes_total counter
respa_exchange_sync_writes_total{side="exchange",verb="create"} 0
respa_exchange_sync_writes_total{side="exchange",verb="delete"} 1
respa_exchange_sync_writes_total{side="exchange",verb="update"} 0
respa_exchange_sync_writes_total{side="other",verb="other"} 2
respa_exchange_sync_writes_total{side="respa",verb="create"} 3
respa_exchange_sync_writes_total{side="respa",verb="delete"} 0
respa_exchange_sync_writes_total{side="respa",verb="update"} 0
`
	err := testutil.GatherAndCompare(reg, strings.NewReader(expected),
		"respa_exchange_last_successful_sync_timestamp_seconds", "respa_exchange_stream_streaming",
		"respa_exchange_sync_item_failures_total", "respa_exchange_sync_writes_total")
	if err != nil {
		t.Error(err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "respa_exchange_sync_pass_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			counts[mt.GetLabel()[0].GetValue()] = mt.GetHistogram().GetSampleCount()
			if mt.GetLabel()[0].GetValue() == "success" && mt.GetHistogram().GetSampleSum() != 1.5 {
				t.Errorf("success pass duration sum = %v, want 1.5", mt.GetHistogram().GetSampleSum())
			}
		}
	}
	if counts["success"] != 1 || counts["failure"] != 1 {
		t.Errorf("pass observations by result = %v, want one of each", counts)
	}

	// A failed pass leaves the last success where it was.
	m.now = func() time.Time { return time.Unix(1_900_000_000, 0) }
	m.ObservePass("rooms", "sali-1", time.Second, false)
	if got := testutil.ToFloat64(m.lastSuccess.WithLabelValues("rooms", "sali-1")); got != 1.8000000005e9 {
		t.Errorf("last success after a failed pass = %v, want 1.8000000005e9", got)
	}
}

func TestForgetDeletesSeries(t *testing.T) {
	m, _ := newTestMetrics(t)
	m.ObservePass("rooms", "sali-1", time.Second, true)
	m.ObservePass("rooms", "sali-2", time.Second, true)
	m.SetStreamState("rooms", "helsinki", StreamStreaming)
	if got := testutil.CollectAndCount(m.lastSuccess); got != 2 {
		t.Fatalf("last success series = %d, want 2", got)
	}
	m.Forget("rooms", "sali-1")
	if got := testutil.CollectAndCount(m.lastSuccess); got != 1 {
		t.Errorf("last success series after Forget = %d, want 1", got)
	}
	m.ForgetStream("rooms", "helsinki")
	if got := testutil.CollectAndCount(m.streaming); got != 0 {
		t.Errorf("stream series after ForgetStream = %d, want 0", got)
	}
}

// The endpoint as Prometheus sees it: scrape over HTTP before and after
// a pass and a request, and check the series moved.
func TestScrapedSeriesMoveAfterASync(t *testing.T) {
	m, reg := newTestMetrics(t)
	endpoint := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer endpoint.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"count":0,"results":[]}`)
	}))
	defer api.Close()

	before := scrape(t, endpoint.URL)
	if strings.Contains(before, `respa_exchange_requests_total{`) {
		t.Fatalf("requests counted before any request:\n%s", before)
	}
	if !strings.Contains(before, `respa_exchange_sync_writes_total{side="respa",verb="create"} 0`) {
		t.Fatalf("writes series not initialised at zero:\n%s", before)
	}

	c := &http.Client{Transport: m.Transport(BackendRespa, api.Client().Transport)}
	resp, err := c.Get(api.URL + "/v1/reservation/?resource=r1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m.ObservePass("rooms", "sali-1", 200*time.Millisecond, true)
	m.CountWrites(SideRespa, VerbCreate, 4)

	after := scrape(t, endpoint.URL)
	for _, want := range []string{
		`respa_exchange_requests_total{backend="respa",code="200",operation="GET reservation-list"} 1`,
		`respa_exchange_request_duration_seconds_count{backend="respa",operation="GET reservation-list"} 1`,
		`respa_exchange_sync_pass_duration_seconds_count{result="success"} 1`,
		`respa_exchange_sync_writes_total{side="respa",verb="create"} 4`,
		`respa_exchange_last_successful_sync_timestamp_seconds{name="sali-1",namespace="rooms"}`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDefaultIsOnControllerRuntimeRegistry(t *testing.T) {
	CountWrites(SideExchange, VerbCreate, 1)
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "respa_exchange_sync_writes_total" {
			found = true
		}
	}
	if !found {
		t.Error("respa_exchange_sync_writes_total is not on controller-runtime's registry")
	}
	// A second set cannot be registered beside it.
	_, err = New(crmetrics.Registry)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Errorf("New on the same registry again: %v, want AlreadyRegisteredError", err)
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"Conflict":                    "Conflict",
		"Rejected/Overlap":            "Rejected/Overlap",
		"FindItem":                    "FindItem",
		"":                            "other",
		"overlaps reservation 42":     "other",
		"https://x/?token=abc":        "other",
		strings.Repeat("a", 65):       "other",
		"Rejected/Validation.begin_1": "Rejected/Validation.begin_1",
	} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetricNamesPassLint(t *testing.T) {
	_, reg := newTestMetrics(t)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
