package exchangesim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

type operation func(c *call) *etree.Document

func (s *Server) operations() map[string]operation {
	return map[string]operation{
		"FindItem":           s.findItem,
		"GetItem":            s.getItem,
		"CreateItem":         s.createItemOp,
		"UpdateItem":         s.updateItem,
		"DeleteItem":         s.deleteItemOp,
		"ResolveNames":       s.resolveNames,
		"GetFolder":          s.getFolder,
		"ConvertId":          s.convertID,
		"SyncFolderItems":    s.syncFolderItems,
		"Subscribe":          s.subscribe,
		"Unsubscribe":        s.unsubscribe,
		"GetEvents":          s.getEvents,
		"GetStreamingEvents": s.getStreamingEvents,
	}
}

// render modes: what a response may carry.
const (
	modeGet = iota
	modeFind
	modeSync
)

func (s *Server) impersonating(c *call) bool {
	return path(c.header, nsTypes, "ExchangeImpersonation") != nil
}

// canSee reports whether the call may touch items of mb: the impersonated
// or own mailbox, or (without impersonation) one the caller was granted.
func (s *Server) canSee(c *call, mb *mailbox) bool {
	if c.mb == mb {
		return true
	}
	return !s.impersonating(c) && s.mayAccessLocked(c.principal, mb)
}

// ref is an item reference from a request: a single item or master, or one
// occurrence of a series.
type ref struct {
	it  *item
	occ *occurrence
	ck  string
}

func (r ref) currentChangeKey() string {
	if r.occ != nil {
		return r.occ.changeKey()
	}
	return r.it.changeKey()
}

// resolveRef reads an ItemId, OccurrenceItemId or RecurringMasterItemId.
// Callers hold store.mu.
func (s *Server) resolveRef(c *call, e *etree.Element) (ref, *ewsError) {
	lookup := func(id string) (*item, *ewsError) {
		if _, err := base64.StdEncoding.DecodeString(id); err != nil || id == "" {
			return nil, errf("ErrorInvalidIdMalformed", "Id is malformed.")
		}
		it := s.store.byID[id]
		if it == nil || !s.canSee(c, it.mailbox) {
			return nil, errItemNotFound()
		}
		return it, nil
	}
	switch e.Tag {
	case "ItemId":
		id := attr(e, "Id")
		if master, series, start, ok := decodeOccurrenceID(id); ok {
			it, err := lookup(master)
			if err != nil {
				return ref{}, err
			}
			if it.series != series {
				return ref{}, errItemNotFound()
			}
			o, found := it.occurrenceAt(start)
			if !found {
				return ref{}, errItemNotFound()
			}
			return ref{it: it, occ: &o, ck: attr(e, "ChangeKey")}, nil
		}
		it, err := lookup(id)
		return ref{it: it, ck: attr(e, "ChangeKey")}, err
	case "OccurrenceItemId":
		it, err := lookup(attr(e, "RecurringMasterId"))
		if err != nil {
			return ref{}, err
		}
		if it.recurrence == nil {
			return ref{}, errf("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "Occurrence index is out of recurrence range.")
		}
		idx, _ := strconv.Atoi(attr(e, "InstanceIndex"))
		o, ok := it.occurrenceByIndex(idx)
		if !ok {
			if idx >= 1 && len(it.instances(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), idx)) >= idx {
				return ref{}, errf("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "Occurrence with this index was previously deleted from the recurrence.")
			}
			return ref{}, errf("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "Occurrence index is out of recurrence range.")
		}
		return ref{it: it, occ: &o, ck: attr(e, "ChangeKey")}, nil
	case "RecurringMasterItemId":
		id := attr(e, "OccurrenceId")
		if master, _, _, ok := decodeOccurrenceID(id); ok {
			id = master
		}
		it, err := lookup(id)
		if err != nil {
			return ref{}, err
		}
		if it.recurrence == nil {
			return ref{}, errf("ErrorItemNotFound", "The specified object was not found in the store.")
		}
		return ref{it: it, ck: attr(e, "ChangeKey")}, nil
	}
	return ref{}, errf("ErrorInvalidRequest", "Unsupported item id element %s.", e.Tag)
}

func rootFolderID(mb *mailbox) string {
	raw, _ := base64.StdEncoding.DecodeString(mb.folderID)
	raw = append([]byte(nil), raw...)
	raw[2] = 0x01
	return encodeID(raw)
}

// folderTarget resolves a DistinguishedFolderId or FolderId to a mailbox and
// the folder name (calendar, root or another distinguished name).
func (s *Server) folderTarget(c *call, e *etree.Element) (*mailbox, string, *ewsError) {
	switch e.Tag {
	case "DistinguishedFolderId":
		mb := c.mb
		if addr := text(path(e, nsTypes, "Mailbox", nsTypes, "EmailAddress")); addr != "" {
			mb = s.store.mailboxByAddress(addr)
			if mb == nil {
				return nil, "", &ewsError{code: "ErrorNonExistentMailbox", text: "The SMTP address has no mailbox associated with it.", xml: [][2]string{{"SmtpAddress", addr}}}
			}
			if !s.canSee(c, mb) {
				return nil, "", errf("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
			}
		}
		if mb == nil {
			return nil, "", errf("ErrorMissingEmailAddress", "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folders.")
		}
		return mb, attr(e, "Id"), nil
	case "FolderId":
		id := attr(e, "Id")
		for _, mb := range s.store.mailboxes {
			if !s.canSee(c, mb) {
				continue
			}
			if mb.folderID == id {
				return mb, "calendar", nil
			}
			if rootFolderID(mb) == id {
				return mb, "root", nil
			}
		}
	}
	return nil, "", errf("ErrorFolderNotFound", "The specified folder could not be found in the store.")
}

// ---- FindItem ----

func (s *Server) findItem(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "FindItem")
	sh := parseShape(child(c.req, nsMessages, "ItemShape"))
	cv := child(c.req, nsMessages, "CalendarView")
	paged := child(c.req, nsMessages, "IndexedPageItemView")
	for _, fe := range childElements(child(c.req, nsMessages, "ParentFolderIds")) {
		mb, kind, err := s.folderTarget(c, fe)
		if err == nil && kind != "calendar" && cv != nil {
			err = errf("ErrorCalendarFolderIsInvalidForCalendarView", "The folder for the calendar view is not a calendar folder.")
		}
		if err != nil {
			message(msgs, "FindItem", err)
			continue
		}
		var views []view
		if kind == "calendar" {
			if cv != nil {
				start, err1 := parseTime(attr(cv, "StartDate"))
				end, err2 := parseTime(attr(cv, "EndDate"))
				switch {
				case err1 != nil || err2 != nil:
					message(msgs, "FindItem", errf("ErrorInvalidRequest", "The CalendarView dates are not valid."))
					continue
				case end.Before(start):
					message(msgs, "FindItem", errf("ErrorCalendarEndDateIsEarlierThanStartDate", "The end date is earlier than the start date."))
					continue
				case end.After(start.AddDate(2, 0, 0)):
					message(msgs, "FindItem", errf("ErrorCalendarViewRangeTooBig", "The Start to End range for the CalendarView element is more than the maximum allowed, currently 2 years."))
					continue
				}
				views = mb.calendarView(start, end)
			} else {
				views = mb.masters()
			}
		}
		total := len(views)
		offset, max := 0, -1
		if cv != nil {
			if m := attr(cv, "MaxEntriesReturned"); m != "" {
				max, _ = strconv.Atoi(m)
			}
		}
		if paged != nil {
			offset, _ = strconv.Atoi(attr(paged, "Offset"))
			if m := attr(paged, "MaxEntriesReturned"); m != "" {
				max, _ = strconv.Atoi(m)
			}
			if attr(paged, "BasePoint") == "End" {
				offset = total - offset - max
				if offset < 0 {
					offset = 0
				}
			}
		}
		if max < 0 || max > s.opts.FindCountLimit {
			max = s.opts.FindCountLimit
		}
		if offset > len(views) {
			offset = len(views)
		}
		views = views[offset:]
		last := true
		if max >= 0 && len(views) > max {
			views, last = views[:max], false
		}
		m := message(msgs, "FindItem", nil)
		root := m.CreateElement("m:RootFolder")
		if paged != nil {
			root.CreateAttr("IndexedPagingOffset", strconv.Itoa(offset+len(views)))
		}
		root.CreateAttr("TotalItemsInView", strconv.Itoa(total))
		root.CreateAttr("IncludesLastItemInRange", strconv.FormatBool(last))
		items := root.CreateElement("t:Items")
		for _, v := range views {
			s.writeItem(items, v, sh, modeFind)
		}
	}
	return doc
}

// ---- GetItem ----

func (s *Server) getItem(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "GetItem")
	sh := parseShape(child(c.req, nsMessages, "ItemShape"))
	for _, ie := range childElements(child(c.req, nsMessages, "ItemIds")) {
		r, err := s.resolveRef(c, ie)
		m := message(msgs, "GetItem", err)
		items := m.CreateElement("m:Items")
		if err != nil {
			continue
		}
		v := masterView(r.it)
		if r.occ != nil {
			v = occurrenceView(*r.occ)
		}
		s.writeItem(items, v, sh, modeGet)
	}
	return doc
}

// ---- CreateItem ----

func (s *Server) createItemOp(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "CreateItem")
	mb := c.mb
	var folderErr *ewsError
	if fe := childElements(child(c.req, nsMessages, "SavedItemFolderId")); len(fe) > 0 {
		var kind string
		mb, kind, folderErr = s.folderTarget(c, fe[0])
		if folderErr == nil && kind != "calendar" {
			folderErr = errf("ErrorFolderNotFound", "The simulator keeps calendar items only.")
		}
	} else if mb == nil {
		folderErr = errf("ErrorMissingEmailAddress", "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folders.")
	}
	for _, ie := range childElements(child(c.req, nsMessages, "Items")) {
		if folderErr != nil {
			message(msgs, "CreateItem", folderErr).CreateElement("m:Items")
			continue
		}
		if ie.Tag != "CalendarItem" {
			message(msgs, "CreateItem", errf("ErrorInvalidRequest", "The simulator keeps calendar items only, not %s.", ie.Tag)).CreateElement("m:Items")
			continue
		}
		if attr(c.req, "SendMeetingInvitations") == "" {
			message(msgs, "CreateItem", errf("ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations attribute is required for calendar items.")).CreateElement("m:Items")
			continue
		}
		var f Fields
		var rec *Recurrence
		var err *ewsError
		uid := ""
		// Zone-less times are read in StartTimeZone, else TimeZoneContext, else UTC.
		loc := requestZone(c)
		for _, name := range []string{"MeetingTimeZone", "StartTimeZone"} {
			if z := zoneOf(child(ie, nsTypes, name)); z != nil {
				loc = z
			}
		}
		for _, fe := range ie.ChildElements() {
			if fe.Tag == "UID" {
				uid = text(fe)
				continue
			}
			if _, e := applyField(&f, &rec, fe, loc); e != nil {
				err = asEWS(e)
				break
			}
		}
		if err == nil {
			err = checkTimes(f)
		}
		if err != nil {
			message(msgs, "CreateItem", err).CreateElement("m:Items")
			continue
		}
		normalizeAllDay(&f, loc)
		if rec != nil && f.Start.IsZero() {
			f.Start, _ = time.Parse("2006-01-02", rec.StartDate)
			f.End = f.Start.Add(time.Hour)
		}
		for i := range f.Required {
			f.Required[i] = s.store.personName(f.Required[i])
		}
		for i := range f.Optional {
			f.Optional[i] = s.store.personName(f.Optional[i])
		}
		it := s.store.createItem(mb, f, rec, uid)
		m := message(msgs, "CreateItem", nil)
		items := m.CreateElement("m:Items")
		s.writeItem(items, masterView(it), shape{base: "IdOnly"}, modeGet)
	}
	return doc
}

func asEWS(err error) *ewsError {
	if e, ok := err.(*ewsError); ok {
		return e
	}
	return errf("ErrorInvalidRequest", "%v", err)
}

func checkTimes(f Fields) *ewsError {
	if f.Start.IsZero() || f.End.IsZero() {
		return nil
	}
	if f.End.Before(f.Start) {
		return errf("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate")
	}
	if f.End.Sub(f.Start) > 5*365*24*time.Hour {
		return errf("ErrorCalendarDurationIsTooLong", "Calendar item duration is too long.")
	}
	return nil
}

// ---- UpdateItem ----

func (s *Server) updateItem(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "UpdateItem")
	sendMode := attr(c.req, "SendMeetingInvitationsOrCancellations")
	resolution := attr(c.req, "ConflictResolution")
	if resolution == "" {
		resolution = "AutoResolve"
	}
	for _, ch := range childElements(child(c.req, nsMessages, "ItemChanges")) {
		var idEl *etree.Element
		for _, e := range ch.ChildElements() {
			if e.Tag == "ItemId" || e.Tag == "OccurrenceItemId" || e.Tag == "RecurringMasterItemId" {
				idEl = e
			}
		}
		fail := func(err *ewsError) { message(msgs, "UpdateItem", err).CreateElement("m:Items") }
		if idEl == nil {
			fail(errf("ErrorInvalidRequest", "The item change has no item id."))
			continue
		}
		r, err := s.resolveRef(c, idEl)
		if err != nil {
			fail(err)
			continue
		}
		if sendMode == "" {
			fail(errf("ErrorSendMeetingInvitationsOrCancellationsRequired", "SendMeetingInvitationsOrCancellations attribute is required for calendar items."))
			continue
		}
		if r.ck != "" {
			if _, e := base64.StdEncoding.DecodeString(r.ck); e != nil {
				fail(errf("ErrorInvalidChangeKey", "The change key is invalid."))
				continue
			}
			if r.ck != r.currentChangeKey() && resolution != "AlwaysOverwrite" {
				fail(errConflict())
				continue
			}
		}
		if err := s.applyUpdates(r, child(ch, nsTypes, "Updates"), requestZone(c)); err != nil {
			fail(err)
			continue
		}
		m := message(msgs, "UpdateItem", nil)
		items := m.CreateElement("m:Items")
		v := masterView(r.it)
		if r.occ != nil {
			o, _ := r.it.occurrenceAt(r.occ.originalStart.Unix())
			v = occurrenceView(o)
		}
		s.writeItem(items, v, shape{base: "IdOnly"}, modeGet)
		m.CreateElement("m:ConflictResults").CreateElement("t:Count").SetText("0")
	}
	return doc
}

// applyUpdates applies Set/Append/DeleteItemField changes to a copy and
// commits only when all succeed, as one save.
func (s *Server) applyUpdates(r ref, updates *etree.Element, loc *time.Location) *ewsError {
	it := r.it
	var f Fields
	if r.occ != nil {
		f = r.occ.fields()
	} else {
		f = it.Fields.clone()
	}
	before := f
	rec := it.recurrence
	seriesChanged := false
	for _, u := range childElements(updates) {
		var pathEl, valueEl *etree.Element
		for _, e := range u.ChildElements() {
			switch e.Tag {
			case "FieldURI", "IndexedFieldURI", "ExtendedFieldURI":
				pathEl = e
			default:
				valueEl = e
			}
		}
		if pathEl == nil {
			return errf("ErrorInvalidPropertyRequest", "The update has no property path.")
		}
		field := attr(pathEl, "FieldURI")
		if i := strings.IndexByte(field, ':'); i >= 0 {
			field = field[i+1:]
		}
		switch u.Tag {
		case "SetItemField", "AppendToItemField":
			if valueEl == nil {
				return errf("ErrorInvalidPropertySet", "The update has no item with the new value.")
			}
			var prop *etree.Element
			for _, p := range valueEl.ChildElements() {
				if pathEl.Tag == "ExtendedFieldURI" && p.Tag == "ExtendedProperty" || p.Tag == field {
					prop = p
				}
			}
			if prop == nil {
				return errf("ErrorInvalidPropertySet", "The item in the update does not hold the property %s.", field)
			}
			if r.occ != nil && (prop.Tag == "Recurrence" || prop.Tag == "UID") {
				return errf("ErrorInvalidPropertySet", "An occurrence's %s cannot be set.", prop.Tag)
			}
			if u.Tag == "AppendToItemField" {
				switch prop.Tag {
				case "Body":
					f.Body += prop.Text()
				case "RequiredAttendees":
					f.Required = append(f.Required, parseAttendees(prop)...)
				case "OptionalAttendees":
					f.Optional = append(f.Optional, parseAttendees(prop)...)
				default:
					return errf("ErrorInvalidPropertyAppend", "The property %s cannot be appended to.", prop.Tag)
				}
				continue
			}
			changed, err := applyField(&f, &rec, prop, loc)
			if err != nil {
				return asEWS(err)
			}
			seriesChanged = seriesChanged || changed
		case "DeleteItemField":
			if pathEl.Tag == "ExtendedFieldURI" {
				f.deleteExt(extURI(pathEl))
				continue
			}
			switch field {
			case "Body":
				f.Body = ""
			case "Location":
				f.Location = ""
			case "Categories":
				f.Categories = nil
			case "RequiredAttendees":
				f.Required = nil
			case "OptionalAttendees":
				f.Optional = nil
			case "Recurrence":
				if r.occ == nil && rec != nil {
					rec, seriesChanged = nil, true
				}
			case "Subject", "Start", "End":
				return errf("ErrorInvalidPropertyDelete", "The property %s cannot be deleted.", field)
			}
		}
	}
	if err := checkTimes(f); err != nil {
		return err
	}
	if boundsChanged(before, f) {
		normalizeAllDay(&f, loc)
	}
	for i := range f.Required {
		f.Required[i] = s.store.personName(f.Required[i])
	}
	for i := range f.Optional {
		f.Optional[i] = s.store.personName(f.Optional[i])
	}
	if r.occ != nil {
		if err := crossesBoundary(it, r.occ.originalStart, f.Start); err != nil {
			return err
		}
		key := r.occ.originalStart.Unix()
		exc := it.exceptions[key]
		if exc == nil {
			exc = &exception{}
			it.exceptions[key] = exc
		}
		exc.Fields = f
		exc.version++
		s.store.touch(it)
		return nil
	}
	it.Fields = f
	if seriesChanged && (it.recurrence != nil || rec != nil) {
		it.recurrence = rec
		it.series++
		it.exceptions = map[int64]*exception{}
		it.deleted = map[int64]bool{}
	}
	s.store.touch(it)
	return nil
}

// ---- DeleteItem ----

func (s *Server) deleteItemOp(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "DeleteItem")
	for _, ie := range childElements(child(c.req, nsMessages, "ItemIds")) {
		r, err := s.resolveRef(c, ie)
		if err == nil && attr(c.req, "SendMeetingCancellations") == "" {
			err = errf("ErrorSendMeetingCancellationsRequired", "SendMeetingCancellations attribute is required for calendar items.")
		}
		if err != nil {
			message(msgs, "DeleteItem", err)
			continue
		}
		s.deleteRef(r)
		message(msgs, "DeleteItem", nil)
	}
	return doc
}

// deleteRef removes an item, or one occurrence of a series (which then shows
// in the master's DeletedOccurrences).
func (s *Server) deleteRef(r ref) {
	if r.occ != nil {
		key := r.occ.originalStart.Unix()
		delete(r.it.exceptions, key)
		r.it.deleted[key] = true
		s.store.touch(r.it)
		return
	}
	s.store.deleteItem(r.it)
}

// ---- ResolveNames ----

func (s *Server) resolveNames(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "ResolveNames")
	entry := text(child(c.req, nsMessages, "UnresolvedEntry"))
	full := attr(c.req, "ReturnFullContactData") == "true"
	var found []*mailbox
	if mb := s.store.mailboxByAddress(entry); mb != nil {
		found = []*mailbox{mb}
	} else if entry != "" {
		q := strings.ToLower(entry)
		for _, k := range sortedKeys(s.store.mailboxes) {
			mb := s.store.mailboxes[k]
			if strings.HasPrefix(strings.ToLower(mb.smtp), q) || strings.HasPrefix(strings.ToLower(mb.name), q) {
				found = append(found, mb)
			}
		}
	}
	if len(found) == 0 {
		message(msgs, "ResolveNames", errf("ErrorNameResolutionNoResults", "No results were found."))
		return doc
	}
	var m *etree.Element
	if len(found) > 1 {
		m = msgs.CreateElement("m:ResolveNamesResponseMessage")
		m.CreateAttr("ResponseClass", "Warning")
		m.CreateElement("m:MessageText").SetText("Multiple results were found.")
		m.CreateElement("m:ResponseCode").SetText("ErrorNameResolutionMultipleResults")
		m.CreateElement("m:DescriptiveLinkKey").SetText("0")
	} else {
		m = message(msgs, "ResolveNames", nil)
	}
	set := m.CreateElement("m:ResolutionSet")
	set.CreateAttr("TotalItemsInView", strconv.Itoa(len(found)))
	set.CreateAttr("IncludesLastItemInRange", "true")
	for _, mb := range found {
		res := set.CreateElement("t:Resolution")
		mx := res.CreateElement("t:Mailbox")
		mx.CreateElement("t:Name").SetText(mb.name)
		mx.CreateElement("t:EmailAddress").SetText(mb.smtp)
		mx.CreateElement("t:RoutingType").SetText("SMTP")
		mx.CreateElement("t:MailboxType").SetText("Mailbox")
		if full {
			ct := res.CreateElement("t:Contact")
			ct.CreateElement("t:DisplayName").SetText(mb.name)
			addrs := ct.CreateElement("t:EmailAddresses")
			e1 := addrs.CreateElement("t:Entry")
			e1.CreateAttr("Key", "EmailAddress1")
			e1.SetText("SMTP:" + mb.smtp)
			e2 := addrs.CreateElement("t:Entry")
			e2.CreateAttr("Key", "EmailAddress2")
			e2.SetText("X500:" + mb.x500)
			ct.CreateElement("t:ContactSource").SetText("ActiveDirectory")
		}
	}
	return doc
}

// ---- GetFolder ----

func (s *Server) getFolder(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "GetFolder")
	for _, fe := range childElements(child(c.req, nsMessages, "FolderIds")) {
		mb, kind, err := s.folderTarget(c, fe)
		m := message(msgs, "GetFolder", err)
		folders := m.CreateElement("m:Folders")
		if err != nil {
			continue
		}
		var f *etree.Element
		id, parent, class, name, count := rootFolderID(mb), "", "", "Top of Information Store", 0
		if kind == "calendar" {
			f = folders.CreateElement("t:CalendarFolder")
			id, parent, class, name, count = mb.folderID, rootFolderID(mb), "IPF.Appointment", "Calendar", len(mb.items)
		} else {
			f = folders.CreateElement("t:Folder")
			if kind != "root" && kind != "msgfolderroot" {
				id = encodeID([]byte("folder:" + kind + ":" + strings.ToLower(mb.smtp)))
				parent, name = rootFolderID(mb), kind
			}
		}
		fid := f.CreateElement("t:FolderId")
		fid.CreateAttr("Id", id)
		fid.CreateAttr("ChangeKey", "AQAAABYAAAA=")
		if parent != "" {
			pid := f.CreateElement("t:ParentFolderId")
			pid.CreateAttr("Id", parent)
			pid.CreateAttr("ChangeKey", "AQAAAA==")
		}
		if class != "" {
			f.CreateElement("t:FolderClass").SetText(class)
		}
		f.CreateElement("t:DisplayName").SetText(name)
		f.CreateElement("t:TotalCount").SetText(strconv.Itoa(count))
		f.CreateElement("t:ChildFolderCount").SetText("0")
		if kind != "calendar" {
			f.CreateElement("t:UnreadCount").SetText("0")
		}
	}
	return doc
}

// ---- ConvertId: what clients send to learn the server version ----

func (s *Server) convertID(c *call) *etree.Document {
	doc, body := envelope()
	msgs := responseRoot(body, "ConvertId")
	for range childElements(child(c.req, nsMessages, "SourceIds")) {
		message(msgs, "ConvertId", errf("ErrorInvalidIdMalformed", "Id is malformed."))
	}
	return doc
}

// ---- SyncFolderItems ----

// syncState is the opaque SyncState: changes up to seq are known to the
// client; when a round is truncated, target and sent remember the rest.
type syncState struct {
	Mailbox string   `json:"m"`
	Seq     int64    `json:"s"`
	Target  int64    `json:"t,omitempty"`
	Sent    []string `json:"d,omitempty"`
}

func encodeSyncState(st syncState) string {
	b, _ := json.Marshal(st)
	return base64.StdEncoding.EncodeToString(append([]byte("H4sI"), b...))
}

func decodeSyncState(s string) (syncState, bool) {
	var st syncState
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 4 || string(b[:4]) != "H4sI" {
		return st, false
	}
	return st, json.Unmarshal(b[4:], &st) == nil
}

func (s *Server) syncFolderItems(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	doc, body := envelope()
	msgs := responseRoot(body, "SyncFolderItems")
	sh := parseShape(child(c.req, nsMessages, "ItemShape"))
	fe := childElements(child(c.req, nsMessages, "SyncFolderId"))
	if len(fe) == 0 {
		message(msgs, "SyncFolderItems", errf("ErrorSyncFolderNotFound", "The folder to synchronize is missing."))
		return doc
	}
	mb, kind, err := s.folderTarget(c, fe[0])
	if err == nil && kind != "calendar" {
		err = errf("ErrorSyncFolderNotFound", "The simulator synchronizes calendar folders only.")
	}
	if err != nil {
		message(msgs, "SyncFolderItems", err)
		return doc
	}
	st := syncState{}
	if raw := text(child(c.req, nsMessages, "SyncState")); raw != "" {
		var ok bool
		if st, ok = decodeSyncState(raw); !ok || st.Seq > s.store.seq || st.Mailbox != backendHash(mb) {
			message(msgs, "SyncFolderItems", errf("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."))
			return doc
		}
	}
	max, _ := strconv.Atoi(text(child(c.req, nsMessages, "MaxChangesReturned")))
	if max <= 0 || max > 512 {
		max = 512
	}
	if st.Target == 0 {
		st.Target = s.store.seq
	}
	sent := map[string]bool{}
	for _, id := range st.Sent {
		sent[id] = true
	}
	type pending struct {
		kind, id string
		last     int64
	}
	latest := map[string]int64{}
	for _, ch := range mb.log {
		if ch.seq > st.Seq && ch.seq <= st.Target {
			latest[ch.itemID] = ch.seq
		}
	}
	var changes []pending
	for id, last := range latest {
		if sent[id] {
			continue
		}
		if it := mb.items[id]; it != nil {
			if it.createdSeq > st.Seq {
				changes = append(changes, pending{"Create", id, last})
			} else {
				changes = append(changes, pending{"Update", id, last})
			}
			continue
		}
		if t, ok := mb.gone[id]; ok && t.createdSeq <= st.Seq {
			changes = append(changes, pending{"Delete", id, last})
		}
	}
	// Newest first, as Exchange 2010 SP2 and later return them.
	sort.Slice(changes, func(i, j int) bool { return changes[i].last > changes[j].last })
	done := len(changes) <= max
	if !done {
		changes = changes[:max]
	}
	next := syncState{Mailbox: backendHash(mb), Seq: st.Target}
	if !done {
		next = syncState{Mailbox: backendHash(mb), Seq: st.Seq, Target: st.Target, Sent: st.Sent}
		for _, ch := range changes {
			next.Sent = append(next.Sent, ch.id)
		}
	}
	m := message(msgs, "SyncFolderItems", nil)
	m.CreateElement("m:SyncState").SetText(encodeSyncState(next))
	m.CreateElement("m:IncludesLastItemInRange").SetText(strconv.FormatBool(done))
	list := m.CreateElement("m:Changes")
	for _, ch := range changes {
		e := list.CreateElement("t:" + ch.kind)
		if ch.kind == "Delete" {
			id := e.CreateElement("t:ItemId")
			id.CreateAttr("Id", ch.id)
			id.CreateAttr("ChangeKey", "AAAAAA==")
			continue
		}
		s.writeItem(e, masterView(mb.items[ch.id]), sh, modeSync)
	}
	return doc
}

// backendHash ties a SyncState to its mailbox without spelling the address out.
func backendHash(mb *mailbox) string {
	return encodeID([]byte(mb.folderID)[:12])
}

// backend is the simulated mailbox server holding a mailbox's subscriptions;
// mailboxes are spread over three, so a subscription group must keep to one.
func backend(mb *mailbox) string {
	h := 0
	for _, r := range strings.ToLower(mb.smtp) {
		h = h*31 + int(r)
	}
	if h < 0 {
		h = -h
	}
	return fmt.Sprintf("SIMMBX%02d.sim.local~%d", h%3+1, h%3+1)
}

const affinityCookie = "X-BackEndOverrideCookie"

func setAffinityCookie(w http.ResponseWriter, backend string) {
	http.SetCookie(w, &http.Cookie{Name: affinityCookie, Value: backend, Path: "/", HttpOnly: true})
}

// subscriptionBackend is where a new subscription to mb lives. Exchange
// routes a Subscribe by its X-AnchorMailbox, so when a group of mailboxes
// shares an anchor (the affinity guidance), all their subscriptions land on
// the anchor's server and one GetStreamingEvents connection can carry them.
func (s *Server) subscriptionBackend(c *call, mb *mailbox) string {
	if a := s.store.mailboxByAddress(c.r.Header.Get("X-AnchorMailbox")); a != nil {
		return backend(a)
	}
	return backend(mb)
}

// hasAffinity reports whether the request reached the subscription's backend.
func (s *Server) hasAffinity(c *call, sub *subscription) bool {
	if !s.opts.RequireAffinity {
		return true
	}
	// Clients echo it as a cookie or, as exchangelib does, as a header.
	if c.r.Header.Get(affinityCookie) == sub.backend {
		return true
	}
	ck, err := c.r.Cookie(affinityCookie)
	return err == nil && ck.Value == sub.backend
}

// crossesBoundary enforces Exchange's rule that a moved occurrence stays
// strictly between the days of its neighbours.
func crossesBoundary(it *item, originalStart, newStart time.Time) *ewsError {
	occ := it.occurrences(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	for i, o := range occ {
		if !o.originalStart.Equal(originalStart) {
			continue
		}
		if i > 0 && !day(newStart).After(day(occ[i-1].fields().Start)) ||
			i+1 < len(occ) && !day(newStart).Before(day(occ[i+1].fields().Start)) {
			return errf("ErrorOccurrenceCrossingBoundary", "An occurrence cannot be moved to or past the date of an adjacent occurrence.")
		}
	}
	return nil
}

// requestZone is the TimeZoneContext header's zone, or UTC.
func requestZone(c *call) *time.Location {
	if z := zoneOf(path(c.header, nsTypes, "TimeZoneContext", nsTypes, "TimeZoneDefinition")); z != nil {
		return z
	}
	return time.UTC
}
