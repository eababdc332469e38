package exchangesim

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// TestResponsesValidateAgainstSchema drives every operation, successes and
// errors alike, and validates each response with xmllint.
func TestResponsesValidateAgainstSchema(t *testing.T) {
	schema := schemaPath(t)
	sim, url := testSim(t, Options{})
	master, err := sim.CreateEvent(room1, Event{Subject: "Series", Start: mustTime(t, "2026-12-07T09:00:00Z"), End: mustTime(t, "2026-12-07T10:00:00Z"),
		Organizer: Person{SMTP: alice, RoutingType: "EX"}, RequiredAttendees: []Person{{SMTP: alice}},
		Recurrence:         &Recurrence{Pattern: "Daily", Interval: 1, NumberOfOccurrences: 5},
		ExtendedProperties: []ExtendedProperty{{PropertySetID: "c11ff724-aa03-4555-9952-8fa248a11c3e", PropertyName: "ResvId", PropertyType: "String", Value: "r1"}}})
	if err != nil {
		t.Fatal(err)
	}
	occ, err := sim.CalendarView(room1, mustTime(t, "2026-12-08T00:00:00Z"), mustTime(t, "2026-12-10T00:00:00Z"))
	if err != nil || len(occ) != 2 {
		t.Fatalf("calendar view: %v %d", err, len(occ))
	}
	if _, err := sim.UpdateEvent(room1, occ[0].ID, EventChange{Subject: ptr("exception")}); err != nil {
		t.Fatal(err)
	}
	if err := sim.DeleteEvent(room1, occ[1].ID); err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1, collect: &docs}
	all := `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:AdditionalProperties>
<t:FieldURI FieldURI="calendar:RequiredAttendees"/><t:FieldURI FieldURI="calendar:StartTimeZone"/><t:FieldURI FieldURI="calendar:EndTimeZone"/>` + resvURI + `</t:AdditionalProperties></m:ItemShape>
<m:ItemIds><t:ItemId Id="` + master.ID + `"/><t:ItemId Id="AAMkAAAA"/><t:OccurrenceItemId RecurringMasterId="` + master.ID + `" InstanceIndex="1"/></m:ItemIds></m:GetItem>`
	c.do(all)
	c.do(strings.Replace(calendarView("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 3), "IdOnly", "AllProperties", 1))
	c.do(calendarView("2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z", 0))
	id, ck := itemKey(t, c, createRequest("One", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z", "x"))
	c.do(updateRequest("NeverOverwrite", id, ck, setSubject("Two")))
	c.do(updateRequest("NeverOverwrite", id, ck, setSubject("Three")))
	c.do(deleteRequest(id, id))
	c.do(`<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>` + alice + `</m:UnresolvedEntry></m:ResolveNames>`)
	c.do(`<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>room</m:UnresolvedEntry></m:ResolveNames>`)
	c.do(`<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>nobody</m:UnresolvedEntry></m:ResolveNames>`)
	c.do(`<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId Id="root"/><t:FolderId Id="AAAA"/></m:FolderIds></m:GetFolder>`)
	c.do(`<m:ConvertId DestinationFormat="EntryId"><m:SourceIds><t:AlternateId Format="EwsId" Id="DUMMY" Mailbox="DUMMY"/></m:SourceIds></m:ConvertId>`)
	c.do(`<m:SyncFolderItems><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>`)
	c.do(`<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:SyncState>bad</m:SyncState><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>`)
	_, root := c.do(subscribeRequest())
	sub := text(find(root, "SubscriptionId"))
	c.do(streamingRequest(1, "unknown"))
	c.do(`<m:Unsubscribe><m:SubscriptionId>` + sub + `</m:SubscriptionId></m:Unsubscribe>`)
	c.do(`<m:Unsubscribe><m:SubscriptionId>` + sub + `</m:SubscriptionId></m:Unsubscribe>`)
	_, root = c.do(`<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`)
	c.do(`<m:GetEvents><m:SubscriptionId>` + text(find(root, "SubscriptionId")) + `</m:SubscriptionId><m:Watermark>` + text(find(root, "Watermark")) + `</m:Watermark></m:GetEvents>`)

	// Faults are envelopes too.
	c.impersonate = room2
	c.do(getCalendar)
	c.impersonate = room1
	if err := sim.InjectFault(Fault{Kind: "ServerBusy", BackOffMilliseconds: 5000, Times: 1}); err != nil {
		t.Fatal(err)
	}
	c.do(getCalendar)
	if err := sim.InjectFault(Fault{Kind: "ItemError", InnerResponseCode: "ErrorServerBusy", Times: 1}); err != nil {
		t.Fatal(err)
	}
	c.do(getRequest(master.ID, master.ID))

	// Stream envelopes: keep-alive, notifications, Closed.
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, doc := range []*etree.Document{
		streamEnvelope(nil, "OK", nil, nil),
		streamEnvelope(func(ns *etree.Element) {
			n := ns.CreateElement("t:Notification")
			n.CreateElement("t:SubscriptionId").SetText(sub)
			writeEvent(n, event{kind: "CreatedEvent", itemID: master.ID, parentID: "AAAA", at: now})
			writeEvent(n, event{kind: "ModifiedEvent", folderID: "AAAA", parentID: "AAAB", at: now, watermark: "AQ=="})
		}, "OK", nil, nil),
		streamEnvelope(nil, "Closed", nil, nil),
		streamEnvelope(nil, "Closed", errf("ErrorNewEventStreamConnectionOpened", "superseded"), []string{sub}),
	} {
		var b bytes.Buffer
		if _, err := doc.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b.Bytes())
	}
	if len(docs) < 25 {
		t.Fatalf("only %d responses collected", len(docs))
	}
	validateAll(t, schema, docs)
}

func TestStrictModeRejectsSchemaViolations(t *testing.T) {
	schema := schemaPath(t)
	_, url := testSim(t, Options{Strict: true, SchemaPath: schema})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	// Elements out of order: ItemIds before ItemShape.
	status, root := c.do(`<m:GetItem><m:ItemIds><t:ItemId Id="AAMk"/></m:ItemIds><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape></m:GetItem>`)
	if status != http.StatusInternalServerError || text(find(root, "faultcode")) != "a:ErrorSchemaValidation" {
		t.Fatalf("status %d fault %q, want 500 ErrorSchemaValidation", status, text(find(root, "faultcode")))
	}
	if text(find(root, "LineNumber")) != "4" || text(find(root, "LinePosition")) == "" || !strings.Contains(text(find(root, "Violation")), "ItemIds") {
		t.Errorf("MessageXml: line %s position %s violation %q", text(find(root, "LineNumber")), text(find(root, "LinePosition")), text(find(root, "Violation")))
	}
	// A bad attribute value.
	if status, _ := c.do(`<m:DeleteItem DeleteType="Shred"><m:ItemIds><t:ItemId Id="AAMk"/></m:ItemIds></m:DeleteItem>`); status != http.StatusInternalServerError {
		t.Errorf("bad enum: status %d", status)
	}
	// Versions newer than the schema knows are valid, as on a real server.
	for _, v := range []string{"Exchange2013_SP1", "Exchange2010_SP2", "Exchange2016", "Exchange2019"} {
		c.version = v
		if status, root := c.do(getCalendar); status != http.StatusOK {
			t.Errorf("version %s rejected: %s", v, text(find(root, "Violation")))
		}
	}
}

// TestStrictModeAcceptsSampleRequests feeds Microsoft's published request
// samples (their https envelope namespace corrected) to a strict simulator.
func TestStrictModeAcceptsSampleRequests(t *testing.T) {
	schema := schemaPath(t)
	dir := filepath.Join(sharedDir(t), "ews-samples")
	_, url := testSim(t, Options{Strict: true, SchemaPath: schema})
	for _, name := range []string{"FindItem-CalendarView-request.msdocs.xml", "CreateItem-CalendarItem-batch-request.msdocs.xml",
		"UpdateItem-CalendarItem-batch-request.msdocs.xml", "DeleteItem-CalendarItem-batch-request.msdocs.xml", "GetStreamingEvents-request.msdocs.xml",
		"SyncFolderItems-initial-request.msdocs.xml", "Subscribe-Streaming-request.msdocs.xml"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("read sample: %v", err)
			continue
		}
		body := strings.ReplaceAll(string(raw), "https://schemas.xmlsoap.org/soap/envelope/", nsSOAP)
		req, _ := http.NewRequest(http.MethodPost, url+"/EWS/Exchange.asmx", strings.NewReader(body))
		req.SetBasicAuth(svcUser, svcPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.Contains(out.String(), "ErrorSchemaValidation") {
			t.Errorf("%s rejected: %s", name, out.String())
		}
	}
}
