package exchangesim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

const resvURI = `<t:ExtendedFieldURI PropertySetId="c11ff724-aa03-4555-9952-8fa248a11c3e" PropertyName="ResvId" PropertyType="String"/>`

func createRequest(subject, start, end, resv string) string {
	ext := ""
	if resv != "" {
		ext = `<t:ExtendedProperty>` + resvURI + `<t:Value>` + resv + `</t:Value></t:ExtendedProperty>`
	}
	return `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId>
<m:Items><t:CalendarItem><t:Subject>` + subject + `</t:Subject><t:Body BodyType="Text">booked</t:Body>` + ext +
		`<t:Start>` + start + `</t:Start><t:End>` + end + `</t:End><t:Location>Room one</t:Location></t:CalendarItem></m:Items></m:CreateItem>`
}

func getRequest(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(`<t:ItemId Id="` + id + `"/>`)
	}
	return `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape><t:AdditionalProperties>
<t:FieldURI FieldURI="calendar:UID"/><t:FieldURI FieldURI="calendar:Organizer"/><t:FieldURI FieldURI="item:Body"/>
<t:FieldURI FieldURI="calendar:RecurrenceId"/><t:FieldURI FieldURI="calendar:Recurrence"/>
<t:FieldURI FieldURI="calendar:ModifiedOccurrences"/><t:FieldURI FieldURI="calendar:DeletedOccurrences"/>
<t:FieldURI FieldURI="calendar:RequiredAttendees"/>` + resvURI + `</t:AdditionalProperties></m:ItemShape><m:ItemIds>` + b.String() + `</m:ItemIds></m:GetItem>`
}

func updateRequest(resolution, id, ck, updates string) string {
	ckAttr := ""
	if ck != "" {
		ckAttr = ` ChangeKey="` + ck + `"`
	}
	return `<m:UpdateItem ConflictResolution="` + resolution + `" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>
<t:ItemId Id="` + id + `"` + ckAttr + `/><t:Updates>` + updates + `</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`
}

func setSubject(s string) string {
	return `<t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>` + s + `</t:Subject></t:CalendarItem></t:SetItemField>`
}

func deleteRequest(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(`<t:ItemId Id="` + id + `"/>`)
	}
	return `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"><m:ItemIds>` + b.String() + `</m:ItemIds></m:DeleteItem>`
}

func itemKey(t *testing.T, c client, body string) (id, ck string) {
	t.Helper()
	status, root := c.do(body)
	if status != http.StatusOK || codes(root)[0] != "NoError" {
		t.Fatalf("status %d codes %v", status, codes(root))
	}
	e := find(root, "ItemId")
	return attr(e, "Id"), attr(e, "ChangeKey")
}

func TestCreateGetUpdateDeleteWithChangeKeys(t *testing.T) {
	_, url := testSim(t, Options{})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}

	id, ck1 := itemKey(t, c, createRequest("Board meeting", "2026-12-01T10:00:00+02:00", "2026-12-01T11:00:00+02:00", "resv-1"))
	if !strings.HasPrefix(id, "AAMk") {
		t.Errorf("ItemId %q does not look like Exchange's", id)
	}
	_, root := c.do(getRequest(id))
	if got := text(find(root, "Start")); got != "2026-12-01T08:00:00Z" {
		t.Errorf("Start = %q, want the offset converted to UTC", got)
	}
	if got := text(find(find(root, "ExtendedProperty"), "Value")); got != "resv-1" {
		t.Errorf("extended property = %q, want resv-1", got)
	}
	if got := text(find(find(root, "Organizer"), "EmailAddress")); got != room1 {
		t.Errorf("organizer = %q, want the mailbox itself", got)
	}

	_, ck2 := itemKey(t, c, updateRequest("NeverOverwrite", id, ck1, setSubject("Board meeting (moved)")+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2026-12-01T12:00:00Z</t:Start></t:CalendarItem></t:SetItemField>`+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>2026-12-01T13:00:00Z</t:End></t:CalendarItem></t:SetItemField>`))
	if ck2 == ck1 || ck2 == "" {
		t.Fatalf("ChangeKey did not change on update: %q", ck2)
	}
	for _, res := range []string{"NeverOverwrite", "AutoResolve"} {
		status, root := c.do(updateRequest(res, id, ck1, setSubject("stale")))
		if status != http.StatusOK || codes(root)[0] != "ErrorIrresolvableConflict" {
			t.Errorf("%s with a stale ChangeKey: status %d codes %v, want ErrorIrresolvableConflict", res, status, codes(root))
		}
	}
	_, ck3 := itemKey(t, c, updateRequest("AlwaysOverwrite", id, ck1, setSubject("Overwritten")+
		`<t:DeleteItemField>`+resvURI+`</t:DeleteItemField>`+
		`<t:AppendToItemField><t:FieldURI FieldURI="item:Body"/><t:CalendarItem><t:Body BodyType="Text"> and confirmed</t:Body></t:CalendarItem></t:AppendToItemField>`))
	if ck3 == ck2 {
		t.Error("ChangeKey did not change on AlwaysOverwrite")
	}
	_, root = c.do(getRequest(id))
	if got := text(find(root, "Subject")); got != "Overwritten" {
		t.Errorf("Subject = %q", got)
	}
	if find(root, "ExtendedProperty") != nil {
		t.Error("extended property survived DeleteItemField")
	}
	if got := text(find(root, "Body")); got != "booked and confirmed" {
		t.Errorf("Body = %q after append", got)
	}

	// A batch answers one message per item, in order, mixed.
	other, _ := itemKey(t, c, createRequest("Other", "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z", ""))
	status, root := c.do(deleteRequest(id, "AAMkAAAAAAAA", other))
	if got := codes(root); status != http.StatusOK || fmt.Sprint(got) != "[NoError ErrorItemNotFound NoError]" {
		t.Errorf("batch delete: status %d codes %v", status, got)
	}
	status, root = c.do(deleteRequest(id))
	if got := codes(root); status != http.StatusOK || got[0] != "ErrorItemNotFound" {
		t.Errorf("deleting a gone item: status %d codes %v, want per-item ErrorItemNotFound with HTTP 200", status, got)
	}
	if got := text(find(root, "MessageText")); got != "The specified object was not found in the store." {
		t.Errorf("MessageText = %q", got)
	}
}

func TestCreateItemNeedsSendMeetingInvitationsAndValidTimes(t *testing.T) {
	_, url := testSim(t, Options{})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	req := strings.Replace(createRequest("x", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z", ""), ` SendMeetingInvitations="SendToNone"`, "", 1)
	if _, root := c.do(req); codes(root)[0] != "ErrorSendMeetingInvitationsRequired" {
		t.Errorf("codes %v, want ErrorSendMeetingInvitationsRequired", codes(root))
	}
	if _, root := c.do(createRequest("x", "2026-12-01T10:00:00Z", "2026-12-01T09:00:00Z", "")); codes(root)[0] != "ErrorCalendarEndDateIsEarlierThanStartDate" {
		t.Errorf("codes %v, want ErrorCalendarEndDateIsEarlierThanStartDate", codes(root))
	}
}

func TestCalendarViewTruncationAndRangeLimit(t *testing.T) {
	sim, url := testSim(t, Options{})
	base := mustTime(t, "2026-12-01T08:00:00Z")
	for i := range 5 {
		if _, err := sim.CreateEvent(room1, Event{Subject: fmt.Sprintf("m%d", i), Start: base.Add(time.Duration(i) * time.Hour), End: base.Add(time.Duration(i)*time.Hour + 30*time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	_, root := c.do(calendarView("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", 3))
	rf := find(root, "RootFolder")
	if attr(rf, "IncludesLastItemInRange") != "false" || attr(rf, "TotalItemsInView") != "5" || len(idsOf(root)) != 3 {
		t.Errorf("truncated view: %s items=%d, want 3 of 5 with IncludesLastItemInRange=false", attrs(rf), len(idsOf(root)))
	}
	_, root = c.do(calendarView("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", 0))
	if rf := find(root, "RootFolder"); attr(rf, "IncludesLastItemInRange") != "true" || len(idsOf(root)) != 5 {
		t.Errorf("whole view: %s items=%d", attrs(rf), len(idsOf(root)))
	}
	// An offset in the request is honoured: 10:00+02:00 is 08:00Z, so the
	// first item (08:00-08:30Z) overlaps.
	_, root = c.do(calendarView("2026-12-01T10:00:00+02:00", "2026-12-01T11:00:00+02:00", 0))
	if got := len(idsOf(root)); got != 1 {
		t.Errorf("offset view returned %d items, want 1", got)
	}
	// Without MaxEntriesReturned the server's find budget still applies.
	setLimit := func(n int) { sim.store.mu.Lock(); sim.opts.FindCountLimit = n; sim.store.mu.Unlock() }
	setLimit(4)
	_, root = c.do(calendarView("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", 0))
	if rf := find(root, "RootFolder"); attr(rf, "IncludesLastItemInRange") != "false" || len(idsOf(root)) != 4 {
		t.Errorf("view over the find budget: %s items=%d", attrs(rf), len(idsOf(root)))
	}
	setLimit(1000)
	_, root = c.do(calendarView("2026-01-01T00:00:00Z", "2028-01-02T00:00:00Z", 0))
	if got := codes(root); got[0] != "ErrorCalendarViewRangeTooBig" {
		t.Errorf("codes %v, want ErrorCalendarViewRangeTooBig", got)
	}
	_, root = c.do(calendarView("2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z", 0))
	if got := codes(root); got[0] != "NoError" {
		t.Errorf("exactly two years: codes %v, want NoError", got)
	}
}

func attrs(e *etree.Element) string {
	if e == nil {
		return "<missing>"
	}
	var b strings.Builder
	for _, a := range e.Attr {
		fmt.Fprintf(&b, "%s=%s ", a.Key, a.Value)
	}
	return b.String()
}

func TestRecurringSeriesOccurrencesAndExceptions(t *testing.T) {
	sim, url := testSim(t, Options{})
	start := mustTime(t, "2026-12-07T09:00:00Z") // a Monday
	master, err := sim.CreateEvent(room1, Event{Subject: "Weekly", Start: start, End: start.Add(time.Hour),
		Recurrence:         &Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: []string{"Monday", "Wednesday"}, FirstDayOfWeek: "Monday", NumberOfOccurrences: 4},
		ExtendedProperties: []ExtendedProperty{{PropertySetID: "c11ff724-aa03-4555-9952-8fa248a11c3e", PropertyName: "ResvId", PropertyType: "String", Value: "series-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	view := func() []*etree.Element {
		_, root := c.do(calendarView("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 0))
		return findAll(root, "CalendarItem")
	}
	items := view()
	if len(items) != 4 {
		t.Fatalf("view has %d entries, want 4 occurrences", len(items))
	}
	wantStarts := []string{"2026-12-07T09:00:00Z", "2026-12-09T09:00:00Z", "2026-12-14T09:00:00Z", "2026-12-16T09:00:00Z"}
	seen := map[string]bool{}
	for i, it := range items {
		id := attr(child(it, nsTypes, "ItemId"), "Id")
		if seen[id] || id == master.ID {
			t.Errorf("occurrence %d id %q is not its own", i, id)
		}
		seen[id] = true
		if got := text(child(it, nsTypes, "Start")); got != wantStarts[i] {
			t.Errorf("occurrence %d Start = %s, want %s", i, got, wantStarts[i])
		}
		if got := text(child(it, nsTypes, "RecurrenceId")); got != wantStarts[i] {
			t.Errorf("occurrence %d RecurrenceId = %s", i, got)
		}
		if text(child(it, nsTypes, "UID")) != master.UID || text(child(it, nsTypes, "CalendarItemType")) != "Occurrence" {
			t.Errorf("occurrence %d: UID or type wrong", i)
		}
		if text(find(it, "Value")) != "series-1" {
			t.Errorf("occurrence %d does not show the master's extended property", i)
		}
	}
	if again := view(); attr(child(again[1], nsTypes, "ItemId"), "Id") != attr(child(items[1], nsTypes, "ItemId"), "Id") {
		t.Error("occurrence ids are not stable while the series is unchanged")
	}

	// Move the second occurrence through EWS: it becomes an exception.
	occID := attr(child(items[1], nsTypes, "ItemId"), "Id")
	occCK := attr(child(items[1], nsTypes, "ItemId"), "ChangeKey")
	itemKey(t, c, updateRequest("AutoResolve", occID, occCK, setSubject("Moved one")+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2026-12-10T13:00:00Z</t:Start></t:CalendarItem></t:SetItemField>`+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>2026-12-10T14:00:00Z</t:End></t:CalendarItem></t:SetItemField>`))
	// Delete the third through the admin API, as a person in Outlook would.
	if err := sim.DeleteEvent(room1, attr(child(items[2], nsTypes, "ItemId"), "Id")); err != nil {
		t.Fatal(err)
	}
	items = view()
	if len(items) != 3 {
		t.Fatalf("after deleting an occurrence the view has %d entries, want 3", len(items))
	}
	exc := items[1]
	if text(child(exc, nsTypes, "CalendarItemType")) != "Exception" || text(child(exc, nsTypes, "Subject")) != "Moved one" ||
		text(child(exc, nsTypes, "Start")) != "2026-12-10T13:00:00Z" || text(child(exc, nsTypes, "RecurrenceId")) != "2026-12-09T09:00:00Z" {
		t.Errorf("exception shows type=%s subject=%s start=%s recurrenceId=%s", text(child(exc, nsTypes, "CalendarItemType")),
			text(child(exc, nsTypes, "Subject")), text(child(exc, nsTypes, "Start")), text(child(exc, nsTypes, "RecurrenceId")))
	}
	_, root := c.do(getRequest(master.ID))
	if len(findAll(find(root, "ModifiedOccurrences"), "Occurrence")) != 1 || len(findAll(find(root, "DeletedOccurrences"), "DeletedOccurrence")) != 1 {
		t.Errorf("master does not list one modified and one deleted occurrence")
	}
	if text(find(root, "CalendarItemType")) != "RecurringMaster" || find(root, "WeeklyRecurrence") == nil {
		t.Error("GetItem of the master lacks its type or recurrence")
	}
	// OccurrenceItemId by index, and an index beyond the series.
	_, root = c.do(`<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="calendar:Start"/></t:AdditionalProperties></m:ItemShape><m:ItemIds>
<t:OccurrenceItemId RecurringMasterId="` + master.ID + `" InstanceIndex="4"/><t:OccurrenceItemId RecurringMasterId="` + master.ID + `" InstanceIndex="9"/></m:ItemIds></m:GetItem>`)
	if got := codes(root); fmt.Sprint(got) != "[NoError ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange]" || text(find(root, "Start")) != "2026-12-16T09:00:00Z" {
		t.Errorf("OccurrenceItemId: codes %v start %s", got, text(find(root, "Start")))
	}

	// Editing the series (new time) gives new occurrence ids and drops exceptions.
	newStart := start.Add(time.Hour)
	if _, err := sim.UpdateEvent(room1, master.ID, EventChange{Start: &newStart, End: ptr(newStart.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	items = view()
	if len(items) != 4 {
		t.Fatalf("after the series edit the view has %d entries, want 4", len(items))
	}
	for _, it := range items {
		if seen[attr(child(it, nsTypes, "ItemId"), "Id")] {
			t.Error("an occurrence kept its id after the series changed")
		}
	}
	if _, root := c.do(getRequest(occID)); codes(root)[0] != "ErrorItemNotFound" {
		t.Errorf("old occurrence id: codes %v, want ErrorItemNotFound", codes(root))
	}
}

func ptr[T any](v T) *T { return &v }

func TestOrganizerEXInFindItemAndSMTPInGetItem(t *testing.T) {
	sim, url := testSim(t, Options{})
	info, err := sim.CreateEvent(room1, Event{Subject: "Alice's meeting", Start: mustTime(t, "2026-12-03T10:00:00Z"), End: mustTime(t, "2026-12-03T11:00:00Z"),
		Organizer: Person{SMTP: alice, RoutingType: "EX"}, RequiredAttendees: []Person{{SMTP: alice}, {SMTP: room1}}})
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	_, root := c.do(calendarView("2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z", 0))
	org := find(root, "Organizer")
	x500 := text(find(org, "EmailAddress"))
	if text(find(org, "RoutingType")) != "EX" || !strings.HasPrefix(x500, "/O=") {
		t.Fatalf("FindItem organizer = %s (%s), want an X500 address with RoutingType EX", x500, text(find(org, "RoutingType")))
	}
	_, root = c.do(getRequest(info.ID))
	if got := text(find(find(root, "Organizer"), "EmailAddress")); got != alice {
		t.Errorf("GetItem organizer = %q, want SMTP %s", got, alice)
	}
	if got := len(findAll(find(root, "RequiredAttendees"), "Attendee")); got != 2 {
		t.Errorf("GetItem has %d required attendees, want 2", got)
	}
	_, root = c.do(`<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>` + x500 + `</m:UnresolvedEntry></m:ResolveNames>`)
	if got := text(find(find(root, "Resolution"), "EmailAddress")); got != alice {
		t.Errorf("ResolveNames(X500) = %q, want %s", got, alice)
	}
	_, root = c.do(`<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>nobody@example.com</m:UnresolvedEntry></m:ResolveNames>`)
	if got := codes(root); got[0] != "ErrorNameResolutionNoResults" {
		t.Errorf("unknown name: %v", got)
	}
}

func TestSyncFolderItemsRoundsAndChanges(t *testing.T) {
	sim, url := testSim(t, Options{})
	var ids []string
	for i := range 3 {
		s := mustTime(t, "2026-12-01T08:00:00Z").Add(time.Duration(i) * time.Hour)
		info, err := sim.CreateEvent(room1, Event{Subject: fmt.Sprint(i), Start: s, End: s.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	sync := func(state string, max int) (string, bool, []string) {
		st := ""
		if state != "" {
			st = `<m:SyncState>` + state + `</m:SyncState>`
		}
		_, root := c.do(`<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId>` +
			st + `<m:MaxChangesReturned>` + fmt.Sprint(max) + `</m:MaxChangesReturned></m:SyncFolderItems>`)
		var kinds []string
		for _, ch := range childElements(find(root, "Changes")) {
			kinds = append(kinds, ch.Tag)
		}
		return text(find(root, "SyncState")), text(find(root, "IncludesLastItemInRange")) == "true", kinds
	}
	st, last, kinds := sync("", 2)
	if last || fmt.Sprint(kinds) != "[Create Create]" {
		t.Fatalf("first round: last=%v kinds=%v", last, kinds)
	}
	st, last, kinds = sync(st, 2)
	if !last || fmt.Sprint(kinds) != "[Create]" {
		t.Fatalf("second round: last=%v kinds=%v", last, kinds)
	}
	if _, _, kinds = sync(st, 10); len(kinds) != 0 {
		t.Errorf("no changes: kinds=%v", kinds)
	}
	if _, err := sim.UpdateEvent(room1, ids[0], EventChange{Subject: ptr("renamed")}); err != nil {
		t.Fatal(err)
	}
	if err := sim.DeleteEvent(room1, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CreateEvent(room1, Event{Subject: "new", Start: mustTime(t, "2026-12-05T08:00:00Z"), End: mustTime(t, "2026-12-05T09:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if _, last, kinds = sync(st, 10); !last || fmt.Sprint(kinds) != "[Create Delete Update]" {
		t.Errorf("incremental: last=%v kinds=%v, want newest first", last, kinds)
	}
	_, root := c.do(`<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:SyncState>garbage</m:SyncState><m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>`)
	if got := codes(root); got[0] != "ErrorInvalidSyncStateData" {
		t.Errorf("bad state: %v", got)
	}
}

func TestGetFolderAndConvertIdCarryServerVersion(t *testing.T) {
	_, url := testSim(t, Options{})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1, version: "Exchange2016"}
	_, root := c.do(`<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId Id="root"/></m:FolderIds></m:GetFolder>`)
	if find(root, "CalendarFolder") == nil || text(find(root, "FolderClass")) != "IPF.Appointment" || fmt.Sprint(codes(root)) != "[NoError NoError]" {
		t.Errorf("GetFolder: codes %v", codes(root))
	}
	_, root = c.do(`<m:ConvertId DestinationFormat="EntryId"><m:SourceIds><t:AlternateId Format="EwsId" Id="DUMMY" Mailbox="DUMMY"/></m:SourceIds></m:ConvertId>`)
	if svi := find(root, "ServerVersionInfo"); svi == nil || attr(svi, "MajorVersion") != "15" {
		t.Error("ConvertId response lacks ServerVersionInfo")
	}
	c.version = "Exchange1999"
	if status, root := c.do(`<m:ConvertId DestinationFormat="EntryId"><m:SourceIds><t:AlternateId Format="EwsId" Id="DUMMY" Mailbox="DUMMY"/></m:SourceIds></m:ConvertId>`); status != 500 || text(find(root, "ResponseCode")) != "ErrorInvalidServerVersion" {
		t.Errorf("unknown version: status %d", status)
	}
}

func TestOccurrenceMovesAndRequiredCalendarAttributes(t *testing.T) {
	sim, url := testSim(t, Options{})
	start := mustTime(t, "2026-12-07T09:00:00Z")
	if _, err := sim.CreateEvent(room1, Event{Subject: "Daily", Start: start, End: start.Add(time.Hour),
		Recurrence: &Recurrence{Pattern: "Daily", Interval: 2, NumberOfOccurrences: 3}}); err != nil {
		t.Fatal(err)
	}
	view, err := sim.CalendarView(room1, start, start.AddDate(0, 0, 7))
	if err != nil || len(view) != 3 {
		t.Fatalf("view: %v %+v", err, view)
	}
	if !view[1].Start.Equal(start.AddDate(0, 0, 2)) {
		t.Errorf("interval 2: second occurrence at %s", view[1].Start)
	}
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	move := func(to string) string {
		_, root := c.do(updateRequest("AlwaysOverwrite", view[1].ID, "",
			`<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>`+to+`</t:Start></t:CalendarItem></t:SetItemField>`+
				`<t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>`+to[:11]+`23:00:00Z</t:End></t:CalendarItem></t:SetItemField>`))
		return codes(root)[0]
	}
	if got := move("2026-12-11T10:00:00Z"); got != "ErrorOccurrenceCrossingBoundary" {
		t.Errorf("moving onto the next occurrence's day: %s", got)
	}
	if got := move("2026-12-08T10:00:00Z"); got != "NoError" {
		t.Errorf("moving within the neighbours: %s", got)
	}
	req := strings.Replace(updateRequest("AlwaysOverwrite", view[0].ID, "", setSubject("x")), ` SendMeetingInvitationsOrCancellations="SendToNone"`, "", 1)
	if _, root := c.do(req); codes(root)[0] != "ErrorSendMeetingInvitationsOrCancellationsRequired" {
		t.Errorf("UpdateItem without SendMeetingInvitationsOrCancellations: %v", codes(root))
	}
	req = strings.Replace(deleteRequest(view[0].ID), ` SendMeetingCancellations="SendToNone"`, "", 1)
	if _, root := c.do(req); codes(root)[0] != "ErrorSendMeetingCancellationsRequired" {
		t.Errorf("DeleteItem without SendMeetingCancellations: %v", codes(root))
	}
}

func TestZonelessTimesFollowTimeZoneContextAndStartTimeZone(t *testing.T) {
	_, url := testSim(t, Options{})
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	withZone := func(body string) string {
		return strings.Replace(c.envelope(body), `<soap:Header>`, `<soap:Header><t:TimeZoneContext><t:TimeZoneDefinition Id="FLE Standard Time"/></t:TimeZoneContext>`, 1)
	}
	req := createRequest("Helsinki", "2026-12-01T10:00:00", "2026-12-01T11:00:00", "")
	httpReq, _ := http.NewRequest(http.MethodPost, url+"/EWS/Exchange.asmx", strings.NewReader(withZone(req)))
	httpReq.SetBasicAuth(svcUser, svcPass)
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// StartTimeZone on the item wins over the header.
	itemKey(t, c, strings.Replace(createRequest("New York", "2026-12-01T10:00:00", "2026-12-01T11:00:00", ""),
		`</t:CalendarItem>`, `<t:StartTimeZone Id="Eastern Standard Time"/></t:CalendarItem>`, 1))
	_, root := c.do(calendarView("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", 0))
	got := map[string]string{}
	for _, ci := range findAll(root, "CalendarItem") {
		got[text(child(ci, nsTypes, "Subject"))] = text(child(ci, nsTypes, "Start"))
	}
	if got["Helsinki"] != "2026-12-01T08:00:00Z" || got["New York"] != "2026-12-01T15:00:00Z" {
		t.Errorf("starts %v, want 08:00Z for Helsinki (TimeZoneContext) and 15:00Z for New York (StartTimeZone)", got)
	}
}

func TestSyncStateBelongsToItsMailbox(t *testing.T) {
	sim, url := testSim(t, Options{})
	if err := sim.Grant("user:"+svcUser, room2); err != nil {
		t.Fatal(err)
	}
	syncReq := func(state string) string {
		st := ""
		if state != "" {
			st = `<m:SyncState>` + state + `</m:SyncState>`
		}
		return `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId>` +
			st + `<m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>`
	}
	c := client{t: t, url: url, user: svcUser, pass: svcPass, impersonate: room1}
	_, root := c.do(syncReq(""))
	state := text(find(root, "SyncState"))
	c.impersonate = room2
	if _, root := c.do(syncReq(state)); codes(root)[0] != "ErrorInvalidSyncStateData" {
		t.Errorf("room1's SyncState used on room2: %v", codes(root))
	}
	c.impersonate = room1
	if _, root := c.do(syncReq(state)); codes(root)[0] != "NoError" {
		t.Errorf("room1's SyncState on room1: %v", codes(root))
	}
}
