package ews

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

// sampleRequests builds every request the client sends, with every
// optional part present, for the schema check.
func sampleRequests(c *Client) map[string]*request {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	item := CalendarItem{
		Subject: "Board meeting", Body: "Agenda <b>&</b> minutes", Location: "Room 101",
		UID: "040000008200E00074C5B7101A82E00800000000", Start: start.Add(9 * time.Hour), End: start.Add(10 * time.Hour),
		RequiredAttendees:  []Attendee{{Mailbox: Mailbox{Name: "Anna", Email: "anna@example.org", RoutingType: "SMTP"}}},
		OptionalAttendees:  []Attendee{{Mailbox: Mailbox{Email: "ben@example.org"}}},
		ExtendedProperties: map[string]string{PropertyLink: "respa:42", PropertyOrigin: "respa"},
	}
	allDay := CalendarItem{Subject: "Closed", Start: start, End: start.Add(24 * time.Hour), IsAllDay: true}
	change := ItemChange{Item: item, Fields: []Field{FieldSubject, FieldBody, FieldStart, FieldEnd, FieldIsAllDay,
		FieldLocation, FieldRequiredAttendees, FieldOptionalAttendees}, DeleteExtendedProperties: []string{PropertyVersion}}
	change.Item.ItemID, change.Item.ChangeKey = "AAMkAD1=", "DwAAAA=="
	clearing := ItemChange{Item: CalendarItem{ItemID: "AAMkAD2=", ChangeKey: "DwAAAB==", Start: start, End: start.Add(time.Hour)}}
	return map[string]*request{
		"FindItem":           c.buildFindItem("room1@example.org", start, start.Add(28*24*time.Hour)),
		"GetItem":            c.buildGetItem("room1@example.org", []string{"AAMkAD1=", "AAMkAD2="}),
		"CreateItem":         c.buildCreateItem("room1@example.org", []CalendarItem{item, allDay}, SendToNone),
		"CreateItem-invite":  c.buildCreateItem("room1@example.org", []CalendarItem{item}, SendToAllAndSaveCopy),
		"UpdateItem":         c.buildUpdateItem("room1@example.org", []ItemChange{change, clearing}, NeverOverwrite, SendToChangedAndSaveCopy),
		"DeleteItem":         c.buildDeleteItem("room1@example.org", []string{"AAMkAD1=", "AAMkAD2="}, SendOnlyToChanged),
		"ResolveNames":       c.buildResolveNames("room1@example.org", "/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=abc-anna"),
		"GetFolder":          c.buildGetFolder("room1@example.org"),
		"SyncFolderItems":    c.buildSyncFolderItems("room1@example.org", "", 512),
		"SyncFolderItems-2":  c.buildSyncFolderItems("room1@example.org", "H4sIAAA==", 100),
		"Subscribe":          c.buildSubscribe("room1@example.org"),
		"GetStreamingEvents": c.buildGetStreamingEvents("room1@example.org", []string{"JgBibjFw", "JgBibjFx"}, 30*time.Minute),
		"Unsubscribe": func() *request {
			r := c.newRequest("room1@example.org")
			r.body.CreateElement("m:Unsubscribe").CreateElement("m:SubscriptionId").SetText("JgBibjFw")
			return r
		}(),
	}
}

// TestRequestsValidateAgainstSchema writes every request and validates it
// with xmllint against Microsoft's EWS schema, in impersonation and
// delegate mode, so a faithful server never answers ErrorSchemaValidation.
func TestRequestsValidateAgainstSchema(t *testing.T) {
	xmllint := testenv.XmllintPath(t)
	schema := filepath.Join(sharedDir(t, "ews-schema"), "soap-envelope.xsd")
	dir := t.TempDir()
	modes := map[string]func(*Config){
		"impersonation": func(*Config) {},
		"delegate":      func(c *Config) { c.AccessMode = Delegate },
		"timezone":      func(c *Config) { c.TimeZoneID = "FLE Standard Time" },
	}
	var files []string
	for mode, mod := range modes {
		c := testClient(t, "https://ews.example.org/EWS/Exchange.asmx", mod)
		for name, r := range sampleRequests(c) {
			data, err := r.bytes()
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, mode+"-"+name+".xml")
			if err := os.WriteFile(f, data, 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	// One xmllint run for all files: the schema compiles once.
	out, err := exec.Command(xmllint, append([]string{"--noout", "--schema", schema}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("schema validation failed: %v\n%s", err, out)
	}
	for _, f := range files {
		if !strings.Contains(string(out), filepath.Base(f)+" validates") {
			t.Errorf("%s not reported valid:\n%s", filepath.Base(f), out)
		}
	}
}

// TestSchemaCheckCatchesMisorder proves the check can fail: an extended
// property after Start breaks the ItemType sequence.
func TestSchemaCheckCatchesMisorder(t *testing.T) {
	xmllint := testenv.XmllintPath(t)
	schema := filepath.Join(sharedDir(t, "ews-schema"), "soap-envelope.xsd")
	c := testClient(t, "https://ews.example.org/EWS/Exchange.asmx")
	r := c.buildCreateItem("room1@example.org", []CalendarItem{{Subject: "x", Start: time.Now(), End: time.Now().Add(time.Hour)}}, "")
	ci := r.doc.FindElement("//t:CalendarItem")
	writeExtendedProperty(ci, PropertyLink, "late")
	data, _ := r.bytes()
	f := filepath.Join(t.TempDir(), "bad.xml")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", schema, f).CombinedOutput(); err == nil {
		t.Fatalf("misordered request validated:\n%s", out)
	}
}
