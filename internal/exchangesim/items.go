package exchangesim

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// shape is a parsed ItemShape: which properties a response carries.
type shape struct {
	base     string // IdOnly, Default, AllProperties
	bodyType string
	fields   map[string]bool
	ext      []ExtendedProperty
}

func parseShape(e *etree.Element) shape {
	sh := shape{base: text(child(e, nsTypes, "BaseShape")), bodyType: text(child(e, nsTypes, "BodyType")), fields: map[string]bool{}}
	if sh.base == "" {
		sh.base = "IdOnly"
	}
	for _, p := range childElements(child(e, nsTypes, "AdditionalProperties")) {
		switch p.Tag {
		case "FieldURI":
			uri := attr(p, "FieldURI")
			if i := strings.IndexByte(uri, ':'); i >= 0 {
				uri = uri[i+1:]
			}
			sh.fields[uri] = true
		case "ExtendedFieldURI":
			sh.ext = append(sh.ext, extURI(p))
		}
	}
	return sh
}

func extURI(e *etree.Element) ExtendedProperty {
	return ExtendedProperty{
		DistinguishedPropertySetID: attr(e, "DistinguishedPropertySetId"),
		PropertySetID:              attr(e, "PropertySetId"),
		PropertyTag:                attr(e, "PropertyTag"),
		PropertyName:               attr(e, "PropertyName"),
		PropertyID:                 attr(e, "PropertyId"),
		PropertyType:               attr(e, "PropertyType"),
	}
}

// defaultFields are what the Default and AllProperties shapes return for a
// calendar item; find responses leave out body and recipients, as EWS does.
var defaultFields = map[string]bool{"Subject": true, "HasAttachments": true, "IsAssociated": true, "Start": true, "End": true,
	"LegacyFreeBusyStatus": true, "Location": true, "CalendarItemType": true, "Organizer": true}

var allFields = map[string]bool{"ParentFolderId": true, "ItemClass": true, "Subject": true, "Sensitivity": true, "Body": true,
	"DateTimeReceived": true, "Size": true, "Categories": true, "Importance": true, "IsSubmitted": true, "IsDraft": true, "IsFromMe": true,
	"IsResend": true, "IsUnmodified": true, "DateTimeSent": true, "DateTimeCreated": true, "ReminderDueBy": true, "ReminderIsSet": true,
	"ReminderMinutesBeforeStart": true, "DisplayCc": true, "DisplayTo": true, "HasAttachments": true, "Culture": true,
	"LastModifiedName": true, "LastModifiedTime": true, "IsAssociated": true, "UID": true, "RecurrenceId": true, "DateTimeStamp": true,
	"Start": true, "End": true, "OriginalStart": true, "IsAllDayEvent": true, "LegacyFreeBusyStatus": true, "Location": true, "IsMeeting": true,
	"IsCancelled": true, "IsRecurring": true, "MeetingRequestWasSent": true, "IsResponseRequested": true, "CalendarItemType": true,
	"MyResponseType": true, "Organizer": true, "RequiredAttendees": true, "OptionalAttendees": true, "Duration": true, "TimeZone": true,
	"AppointmentSequenceNumber": true, "AppointmentState": true, "Recurrence": true, "FirstOccurrence": true, "LastOccurrence": true,
	"ModifiedOccurrences": true, "DeletedOccurrences": true, "ConferenceType": true, "AllowNewTimeProposal": true, "IsOnlineMeeting": true}

// complexFields are what FindItem and SyncFolderItems never return.
var complexFields = map[string]bool{"Body": true, "RequiredAttendees": true, "OptionalAttendees": true, "Recurrence": true,
	"ModifiedOccurrences": true, "DeletedOccurrences": true, "FirstOccurrence": true, "LastOccurrence": true}

func (sh shape) wants(field string, find bool) bool {
	if find && complexFields[field] {
		return false
	}
	if sh.fields[field] {
		return true
	}
	switch sh.base {
	case "AllProperties":
		return allFields[field]
	case "Default":
		return defaultFields[field]
	}
	return false
}

// writeItem renders a calendar item in schema order with the shape's
// properties. find is true for FindItem, which reports EX organizers in
// their X500 form as Exchange Online does, and returns no complex properties.
func (s *Server) writeItem(parent *etree.Element, v view, sh shape, mode int) {
	find := mode != modeGet
	e := parent.CreateElement("t:CalendarItem")
	id := e.CreateElement("t:ItemId")
	id.CreateAttr("Id", v.id)
	id.CreateAttr("ChangeKey", v.changeKey)
	mb := v.it.mailbox
	w := func(field string) bool { return sh.wants(field, find) }
	leaf := func(field, value string) {
		if w(field) {
			e.CreateElement("t:" + field).SetText(value)
		}
	}
	if w("ParentFolderId") {
		p := e.CreateElement("t:ParentFolderId")
		p.CreateAttr("Id", mb.folderID)
		p.CreateAttr("ChangeKey", "AQAAAA==")
	}
	leaf("ItemClass", "IPM.Appointment")
	leaf("Subject", v.Subject)
	leaf("Sensitivity", "Normal")
	if w("Body") {
		b := e.CreateElement("t:Body")
		bt := v.BodyType
		if bt == "" {
			bt = "Text"
		}
		body := v.Body
		if sh.bodyType == "Text" && bt == "HTML" {
			body, bt = stripTags(body), "Text"
		}
		b.CreateAttr("BodyType", bt)
		b.CreateAttr("IsTruncated", "false")
		b.SetText(body)
	}
	leaf("DateTimeReceived", fmtTime(v.it.created))
	leaf("Size", strconv.Itoa(512+len(v.Body)+len(v.Subject)))
	if w("Categories") && len(v.Categories) > 0 {
		c := e.CreateElement("t:Categories")
		for _, s := range v.Categories {
			c.CreateElement("t:String").SetText(s)
		}
	}
	leaf("Importance", "Normal")
	leaf("IsSubmitted", "false")
	leaf("IsDraft", "false")
	leaf("IsFromMe", "false")
	leaf("IsResend", "false")
	leaf("IsUnmodified", strconv.FormatBool(v.it.version == 1))
	leaf("DateTimeSent", fmtTime(v.it.created))
	leaf("DateTimeCreated", fmtTime(v.it.created))
	leaf("ReminderDueBy", fmtTime(v.Start))
	leaf("ReminderIsSet", "false")
	leaf("ReminderMinutesBeforeStart", "15")
	leaf("DisplayCc", displayNames(v.Optional))
	leaf("DisplayTo", displayNames(v.Required))
	leaf("HasAttachments", "false")
	for _, want := range sh.ext {
		for _, p := range v.Ext {
			if p.key() == want.key() {
				writeExt(e, p)
			}
		}
	}
	leaf("Culture", "en-US")
	leaf("LastModifiedName", mb.name)
	leaf("LastModifiedTime", fmtTime(v.it.modified))
	leaf("IsAssociated", "false")
	leaf("UID", v.it.uid)
	if v.occ != nil {
		leaf("RecurrenceId", fmtTime(v.occ.originalStart))
	}
	leaf("DateTimeStamp", fmtTime(v.it.modified))
	leaf("Start", fmtTime(v.Start))
	leaf("End", fmtTime(v.End))
	if v.occ != nil {
		leaf("OriginalStart", fmtTime(v.occ.originalStart))
	}
	leaf("IsAllDayEvent", strconv.FormatBool(v.AllDay))
	fb := v.FreeBusy
	if fb == "" {
		fb = "Busy"
	}
	leaf("LegacyFreeBusyStatus", fb)
	if v.Location != "" {
		leaf("Location", v.Location)
	}
	meeting := len(v.Required)+len(v.Optional) > 0 || !strings.EqualFold(v.Organizer.SMTP, mb.smtp)
	leaf("IsMeeting", strconv.FormatBool(meeting))
	leaf("IsCancelled", "false")
	leaf("IsRecurring", strconv.FormatBool(v.occ != nil))
	leaf("MeetingRequestWasSent", strconv.FormatBool(meeting))
	leaf("IsResponseRequested", strconv.FormatBool(meeting))
	leaf("CalendarItemType", v.kind)
	isOrganizer := strings.EqualFold(v.Organizer.SMTP, mb.smtp)
	if isOrganizer {
		leaf("MyResponseType", "Organizer")
	} else {
		leaf("MyResponseType", "Accept")
	}
	if w("Organizer") {
		s.writeMailbox(e.CreateElement("t:Organizer"), v.Organizer, mode == modeFind)
	}
	for _, att := range []struct {
		field  string
		people []Person
	}{{"RequiredAttendees", v.Required}, {"OptionalAttendees", v.Optional}} {
		if w(att.field) && len(att.people) > 0 {
			list := e.CreateElement("t:" + att.field)
			for _, p := range att.people {
				a := list.CreateElement("t:Attendee")
				s.writeMailbox(a, p, false)
				a.CreateElement("t:ResponseType").SetText("Unknown")
			}
		}
	}
	leaf("Duration", isoDuration(v.End.Sub(v.Start)))
	leaf("TimeZone", "(UTC) Coordinated Universal Time")
	leaf("AppointmentSequenceNumber", "0")
	if meeting {
		leaf("AppointmentState", "1")
	} else {
		leaf("AppointmentState", "0")
	}
	if v.kind == "RecurringMaster" {
		if w("Recurrence") {
			writeRecurrence(e.CreateElement("t:Recurrence"), v.it.recurrence)
		}
		occ := v.it.occurrences(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
		if len(occ) > 0 && w("FirstOccurrence") {
			writeOccurrenceInfo(e.CreateElement("t:FirstOccurrence"), occ[0])
		}
		bounded := v.it.recurrence.NumberOfOccurrences > 0 || v.it.recurrence.EndDate != ""
		if len(occ) > 0 && bounded && w("LastOccurrence") {
			writeOccurrenceInfo(e.CreateElement("t:LastOccurrence"), occ[len(occ)-1])
		}
		if w("ModifiedOccurrences") && len(v.it.exceptions) > 0 {
			list := e.CreateElement("t:ModifiedOccurrences")
			for _, o := range occ {
				if o.exc != nil {
					writeOccurrenceInfo(list.CreateElement("t:Occurrence"), o)
				}
			}
		}
		if w("DeletedOccurrences") && len(v.it.deleted) > 0 {
			list := e.CreateElement("t:DeletedOccurrences")
			for _, k := range sortedInt64(v.it.deleted) {
				list.CreateElement("t:DeletedOccurrence").CreateElement("t:Start").SetText(fmtTime(time.Unix(k, 0)))
			}
		}
	}
	if w("StartTimeZone") {
		tz := e.CreateElement("t:StartTimeZone")
		tz.CreateAttr("Id", "UTC")
		tz.CreateAttr("Name", "(UTC) Coordinated Universal Time")
	}
	if w("EndTimeZone") {
		tz := e.CreateElement("t:EndTimeZone")
		tz.CreateAttr("Id", "UTC")
		tz.CreateAttr("Name", "(UTC) Coordinated Universal Time")
	}
	leaf("ConferenceType", "0")
	leaf("AllowNewTimeProposal", "true")
	leaf("IsOnlineMeeting", "false")
}

func writeExt(parent *etree.Element, p ExtendedProperty) {
	ep := parent.CreateElement("t:ExtendedProperty")
	u := ep.CreateElement("t:ExtendedFieldURI")
	for _, a := range [][2]string{{"DistinguishedPropertySetId", p.DistinguishedPropertySetID}, {"PropertySetId", p.PropertySetID},
		{"PropertyTag", p.PropertyTag}, {"PropertyName", p.PropertyName}, {"PropertyId", p.PropertyID}, {"PropertyType", p.PropertyType}} {
		if a[1] != "" {
			u.CreateAttr(a[0], a[1])
		}
	}
	if p.Values != nil {
		vs := ep.CreateElement("t:Values")
		for _, v := range p.Values {
			vs.CreateElement("t:Value").SetText(v)
		}
		return
	}
	ep.CreateElement("t:Value").SetText(p.Value)
}

// writeMailbox writes a person; in find responses an organizer marked as EX
// comes back as its X500 address with routing type EX.
func (s *Server) writeMailbox(parent *etree.Element, p Person, find bool) {
	m := parent.CreateElement("t:Mailbox")
	m.CreateElement("t:Name").SetText(p.Name)
	if find && p.RoutingType == "EX" {
		if mb := s.store.mailboxByAddress(p.SMTP); mb != nil {
			m.CreateElement("t:EmailAddress").SetText(mb.x500)
			m.CreateElement("t:RoutingType").SetText("EX")
			m.CreateElement("t:MailboxType").SetText("OneOff")
			return
		}
	}
	m.CreateElement("t:EmailAddress").SetText(p.SMTP)
	m.CreateElement("t:RoutingType").SetText("SMTP")
	m.CreateElement("t:MailboxType").SetText("Mailbox")
}

func writeRecurrence(e *etree.Element, r *Recurrence) {
	interval := r.Interval
	if interval < 1 {
		interval = 1
	}
	if r.Pattern == "Daily" {
		e.CreateElement("t:DailyRecurrence").CreateElement("t:Interval").SetText(strconv.Itoa(interval))
	} else {
		wk := e.CreateElement("t:WeeklyRecurrence")
		wk.CreateElement("t:Interval").SetText(strconv.Itoa(interval))
		wk.CreateElement("t:DaysOfWeek").SetText(strings.Join(r.DaysOfWeek, " "))
		fdow := r.FirstDayOfWeek
		if fdow == "" {
			fdow = "Sunday"
		}
		wk.CreateElement("t:FirstDayOfWeek").SetText(fdow)
	}
	switch {
	case r.NumberOfOccurrences > 0:
		n := e.CreateElement("t:NumberedRecurrence")
		n.CreateElement("t:StartDate").SetText(r.StartDate + "Z")
		n.CreateElement("t:NumberOfOccurrences").SetText(strconv.Itoa(r.NumberOfOccurrences))
	case r.EndDate != "":
		n := e.CreateElement("t:EndDateRecurrence")
		n.CreateElement("t:StartDate").SetText(r.StartDate + "Z")
		n.CreateElement("t:EndDate").SetText(r.EndDate + "Z")
	default:
		e.CreateElement("t:NoEndRecurrence").CreateElement("t:StartDate").SetText(r.StartDate + "Z")
	}
}

func writeOccurrenceInfo(e *etree.Element, o occurrence) {
	f := o.fields()
	id := e.CreateElement("t:ItemId")
	id.CreateAttr("Id", o.id())
	id.CreateAttr("ChangeKey", o.changeKey())
	e.CreateElement("t:Start").SetText(fmtTime(f.Start))
	e.CreateElement("t:End").SetText(fmtTime(f.End))
	e.CreateElement("t:OriginalStart").SetText(fmtTime(o.originalStart))
}

func displayNames(ps []Person) string {
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return strings.Join(names, "; ")
}

func isoDuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	out := "P"
	if days > 0 {
		out += fmt.Sprintf("%dD", days)
	}
	if d > 0 {
		out += "T"
		if h := int(d / time.Hour); h > 0 {
			out += fmt.Sprintf("%dH", h)
		}
		if m := int(d/time.Minute) % 60; m > 0 {
			out += fmt.Sprintf("%dM", m)
		}
		if sec := int(d/time.Second) % 60; sec > 0 {
			out += fmt.Sprintf("%dS", sec)
		}
	}
	return out
}

var tags = regexp.MustCompile(`<[^>]*>`)

func stripTags(s string) string { return strings.TrimSpace(tags.ReplaceAllString(s, "")) }

// ---- reading items from requests ----

// parsePerson reads a t:Mailbox (or its parent) into a person.
func parsePerson(e *etree.Element) Person {
	if m := child(e, nsTypes, "Mailbox"); m != nil {
		e = m
	}
	p := Person{Name: text(child(e, nsTypes, "Name")), SMTP: text(child(e, nsTypes, "EmailAddress"))}
	if text(child(e, nsTypes, "RoutingType")) == "EX" {
		p.RoutingType = "EX"
	}
	return p
}

func parseAttendees(e *etree.Element) []Person {
	var out []Person
	for _, a := range children(e, nsTypes, "Attendee") {
		out = append(out, parsePerson(a))
	}
	return out
}

func parseRecurrence(e *etree.Element) (*Recurrence, error) {
	r := &Recurrence{}
	for _, c := range e.ChildElements() {
		switch c.Tag {
		case "DailyRecurrence", "WeeklyRecurrence":
			r.Pattern = strings.TrimSuffix(c.Tag, "Recurrence")
			r.Interval, _ = strconv.Atoi(text(child(c, nsTypes, "Interval")))
			if d := text(child(c, nsTypes, "DaysOfWeek")); d != "" {
				r.DaysOfWeek = strings.Fields(d)
			}
			r.FirstDayOfWeek = text(child(c, nsTypes, "FirstDayOfWeek"))
		case "NumberedRecurrence", "EndDateRecurrence", "NoEndRecurrence":
			sd, err := parseDate(text(child(c, nsTypes, "StartDate")))
			if err != nil {
				return nil, err
			}
			r.StartDate = sd
			if n := child(c, nsTypes, "NumberOfOccurrences"); n != nil {
				r.NumberOfOccurrences, _ = strconv.Atoi(text(n))
			}
			if ed := child(c, nsTypes, "EndDate"); ed != nil {
				if r.EndDate, err = parseDate(text(ed)); err != nil {
					return nil, err
				}
			}
		default:
			return nil, errf("ErrorCalendarInvalidRecurrence", "The simulator supports daily and weekly recurrences only, not %s.", c.Tag)
		}
	}
	if r.Pattern == "" || r.StartDate == "" {
		return nil, errf("ErrorCalendarInvalidRecurrence", "The recurrence needs a pattern and a range.")
	}
	return r, nil
}

// applyField sets one property from its element in a t:CalendarItem; it
// reports whether the series pattern or times changed.
func applyField(f *Fields, rec **Recurrence, e *etree.Element, loc *time.Location) (seriesChanged bool, err error) {
	switch e.Tag {
	case "Subject":
		f.Subject = e.Text()
	case "Body":
		f.Body, f.BodyType = e.Text(), attr(e, "BodyType")
	case "Location":
		f.Location = e.Text()
	case "Start", "End":
		t, err := parseTimeIn(e.Text(), loc)
		if err != nil {
			return false, errf("ErrorInvalidValueForProperty", "%v", err)
		}
		if e.Tag == "Start" {
			f.Start = t
		} else {
			f.End = t
		}
		return true, nil
	case "IsAllDayEvent":
		f.AllDay = text(e) == "true" || text(e) == "1"
	case "LegacyFreeBusyStatus":
		f.FreeBusy = text(e)
	case "Categories":
		f.Categories = nil
		for _, s := range children(e, nsTypes, "String") {
			f.Categories = append(f.Categories, s.Text())
		}
	case "RequiredAttendees":
		f.Required = parseAttendees(e)
	case "OptionalAttendees":
		f.Optional = parseAttendees(e)
	case "Organizer":
		// The organizer is the mailbox that creates the meeting; EWS does not let it be set.
		return false, errf("ErrorInvalidPropertySet", "Set action is invalid for property.")
	case "ExtendedProperty":
		p := extURI(child(e, nsTypes, "ExtendedFieldURI"))
		if p.PropertyTag != "" && p.PropertySetID == "" && p.DistinguishedPropertySetID == "" {
			if n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(p.PropertyTag), "0x"), 16, 32); err == nil && n >= 0x8000 {
				return false, errf("ErrorNoPropertyTagForCustomProperties", "Property tags cannot be used for custom properties.")
			}
		}
		if vs := child(e, nsTypes, "Values"); vs != nil {
			p.Values = []string{}
			for _, v := range children(vs, nsTypes, "Value") {
				p.Values = append(p.Values, v.Text())
			}
		} else {
			v := child(e, nsTypes, "Value")
			if v == nil {
				return false, errf("ErrorInvalidExtendedPropertyValue", "The extended property has no value.")
			}
			p.Value = v.Text()
		}
		f.setExt(p)
	case "Recurrence":
		r, err := parseRecurrence(e)
		if err != nil {
			return false, err
		}
		*rec = r
		return true, nil
	}
	// Other properties (reminders, time zones, sensitivity...) are accepted
	// and not kept: a sync does not read them back.
	return false, nil
}

// normalizeAllDay moves all-day bounds to midnight in loc, the creation
// time zone (StartTimeZone, else TimeZoneContext, else UTC), as Exchange
// does: a client that sends its room's local midnight keeps it.
func normalizeAllDay(f *Fields, loc *time.Location) {
	if !f.AllDay {
		return
	}
	day := func(t time.Time) time.Time {
		t = t.In(loc)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	start := day(f.Start)
	end := day(f.End)
	if !end.Equal(f.End) || !end.After(start) {
		end = end.AddDate(0, 0, 1)
	}
	f.Start, f.End = start.UTC(), end.UTC()
}

// boundsChanged reports whether an edit touched the start, end or all-day
// flag. Only then are all-day bounds moved: the item keeps the midnights of
// its creation zone when someone merely renames it.
func boundsChanged(before, after Fields) bool {
	return !before.Start.Equal(after.Start) || !before.End.Equal(after.End) || before.AllDay != after.AllDay
}

func sortedInt64(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
