package exchangesim

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStartListensOnLoopbackOnly(t *testing.T) {
	sim := New(Options{})
	if _, err := sim.Start("0.0.0.0:0"); err == nil {
		t.Fatal("Start accepted a non-loopback address")
	}
	url, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/admin/mailboxes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("admin on the started server: %d", resp.StatusCode)
	}
	if err := sim.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestSeedFileExample keeps the example seed in testdata loadable.
func TestSeedFileExample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed Seed
	if err := json.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	sim := New(Options{})
	if err := sim.ApplySeed(seed); err != nil {
		t.Fatal(err)
	}
	view, err := sim.CalendarView("room-sauna@example.com", time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(view) != 3 || view[1].Subject != "Budget review" || !view[1].Start.Equal(time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("seeded view: %+v", view)
	}
	if len(view[0].ExtendedProperties) != 1 || view[0].Organizer.SMTP != "maija@example.com" {
		t.Errorf("occurrence lacks the master's extended property or organizer: %+v", view[0])
	}
}
