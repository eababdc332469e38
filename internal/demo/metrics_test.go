package demo

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

// scrape reads the manager's metrics endpoint and sums the samples of each series name whose
// labels contain every one of match.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, "respa_exchange_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the samples of name whose label set contains every label in labels.
func sum(samples map[string]float64, name string, labels ...string) float64 {
	var total float64
	for k, v := range samples {
		if !strings.HasPrefix(k, name+"{") && k != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// TestMetricsMoveWhenASyncHappens scrapes the manager's real metrics endpoint around the demo
// scenario's first passes: the outgoing calls, the writes and the last successful sync appear.
func TestMetricsMoveWhenASyncHappens(t *testing.T) {
	root := testenv.ModuleRoot(t)
	assets := filepath.Join(root, "bin", "k8s")
	if v := os.Getenv("KUBEBUILDER_ASSETS"); v != "" {
		assets = v
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		testenv.Skip(t, testenv.Envtest, "no kube-apiserver in %s: run `make tools`", assets)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	ctx := context.Background()
	env, err := Start(ctx, Options{Assets: assets, Workdir: t.TempDir(), MetricsAddr: addr, ResyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	url := "http://" + addr + "/metrics"

	deadline := time.Now().Add(60 * time.Second)
	var samples map[string]float64
	for {
		samples = scrape(t, url)
		if sum(samples, "respa_exchange_last_successful_sync_timestamp_seconds", `name="aurora"`) > 0 &&
			sum(samples, "respa_exchange_last_successful_sync_timestamp_seconds", `name="boreal"`) > 0 &&
			sum(samples, "respa_exchange_stream_streaming", `mailbox="city-hall"`) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful sync of both rooms, or no stream, in the metrics after 60s:\n%v", samples)
		}
		time.Sleep(300 * time.Millisecond)
	}
	checks := []struct {
		what  string
		value float64
	}{
		{"FindItem calls to Exchange", sum(samples, "respa_exchange_requests_total", `backend="exchange"`, `operation="FindItem"`, `code="200"`)},
		{"reservation listings in Respa", sum(samples, "respa_exchange_requests_total", `backend="respa"`, `operation="GET reservation-list"`)},
		{"request latency observations", sum(samples, "respa_exchange_request_duration_seconds_count", `backend="exchange"`)},
		{"reservations created in Respa", sum(samples, "respa_exchange_sync_writes_total", `side="respa"`, `verb="create"`)},
		{"events created in Exchange", sum(samples, "respa_exchange_sync_writes_total", `side="exchange"`, `verb="create"`)},
		{"successful passes", sum(samples, "respa_exchange_sync_pass_duration_seconds_count", `result="success"`)},
		{"the refused overlap", sum(samples, "respa_exchange_sync_item_failures_total", `reason="Rejected/Overlap"`)},
		{"the mailbox's stream is up", sum(samples, "respa_exchange_stream_streaming", `mailbox="city-hall"`)},
	}
	for _, c := range checks {
		if c.value <= 0 {
			t.Errorf("%s: series did not move (%v)", c.what, c.value)
		}
	}
	if t.Failed() {
		var b strings.Builder
		for k, v := range samples {
			fmt.Fprintf(&b, "%s %v\n", k, v)
		}
		t.Log(b.String())
	}
}
