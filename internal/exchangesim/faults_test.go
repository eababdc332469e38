package exchangesim

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultsOnDemandAndCounters(t *testing.T) {
	sim, url := testSim(t, Options{})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}

	if err := sim.InjectFault(Fault{Operation: "GetFolder", Kind: "ServerBusy", BackOffMilliseconds: 297749, Times: 1}); err != nil {
		t.Fatal(err)
	}
	status, root := c.do(getCalendar)
	if status != http.StatusInternalServerError || text(find(root, "faultcode")) != "a:ErrorServerBusy" {
		t.Fatalf("ServerBusy: status %d fault %q", status, text(find(root, "faultcode")))
	}
	if v := find(root, "Value"); attr(v, "Name") != "BackOffMilliseconds" || text(v) != "297749" {
		t.Errorf("BackOffMilliseconds = %s %q", attr(v, "Name"), text(v))
	}
	if status, _ := c.do(getCalendar); status != http.StatusOK {
		t.Errorf("a fault with Times=1 hit twice: status %d", status)
	}

	// A fault for another mailbox leaves this one alone.
	if err := sim.InjectFault(Fault{Mailbox: room2, Kind: "HTTP503"}); err != nil {
		t.Fatal(err)
	}
	if status, _ := c.do(getCalendar); status != http.StatusOK {
		t.Errorf("room2 fault hit room1: status %d", status)
	}
	sim.ClearFaults()

	if err := sim.InjectFault(Fault{Kind: "HTTP503", Times: 1}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.raw(getCalendar); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("HTTP503: status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if err := sim.InjectFault(Fault{Kind: "HTTP500", Times: 1}); err != nil {
		t.Fatal(err)
	}
	if resp, body := c.raw(getCalendar); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "Server Error") {
		t.Errorf("HTTP500: status %d", resp.StatusCode)
	}
	if err := sim.InjectFault(Fault{Kind: "Drop", Times: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/EWS/Exchange.asmx", strings.NewReader(c.envelope(getCalendar)))
	req.SetBasicAuth(svcUser, svcPass)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("Drop: got a response with status %d, want a cut connection", resp.StatusCode)
	}
	if err := sim.InjectFault(Fault{Kind: "Latency", LatencyMilliseconds: 300, Times: 1}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if status, _ := c.do(getCalendar); status != http.StatusOK || time.Since(began) < 300*time.Millisecond {
		t.Errorf("Latency: status %d after %v", status, time.Since(began))
	}
	if err := sim.InjectFault(Fault{Operation: "DeleteItem", Kind: "ItemError", InnerResponseCode: "ErrorServerBusy", BackOffMilliseconds: 100, Times: 1}); err != nil {
		t.Fatal(err)
	}
	status, root = c.do(deleteRequest("AAMkAAAA", "AAMkAAAB"))
	if got := codes(root); status != http.StatusOK || len(got) != 2 || got[0] != "ErrorInternalServerError" {
		t.Errorf("ItemError: status %d codes %v", status, got)
	}
	inner := map[string]string{}
	for _, v := range findAll(root, "Value") {
		inner[attr(v, "Name")] = text(v)
	}
	if inner["InnerErrorResponseCode"] != "ErrorServerBusy" || inner["BackOffMilliseconds"] != "100" {
		t.Errorf("ItemError MessageXml: %v", inner)
	}
	if err := sim.InjectFault(Fault{Kind: "Meteor"}); err == nil {
		t.Error("an unknown fault kind was accepted")
	}

	cnt := sim.Counters()
	if cnt.ByOperation["GetFolder"] != 7 || cnt.ByMailbox[room1]["GetFolder"] != 7 || cnt.ByOperation["Fault:ServerBusy"] != 1 {
		t.Errorf("counters: %+v", cnt)
	}
}
