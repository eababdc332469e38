package ews

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// viewProperties are what FindItem asks for besides the id: enough to
// detect a change and place the item, nothing FindItem cannot return.
var viewProperties = []string{
	"item:Subject", "item:LastModifiedTime",
	"calendar:UID", "calendar:RecurrenceId", "calendar:Start", "calendar:End",
	"calendar:IsAllDayEvent", "calendar:Location", "calendar:IsCancelled",
	"calendar:CalendarItemType", "calendar:Organizer",
}

// itemProperties are what GetItem adds: body, recipients and the organizer
// as SMTP (FindItem on Exchange Online answers with an X500 address).
var itemProperties = append(slices.Clone(viewProperties),
	"item:Body", "calendar:RequiredAttendees", "calendar:OptionalAttendees")

// itemShape writes an IdOnly ItemShape with explicit properties: the base
// shapes never include extended properties, and AllProperties is not all.
func (c *Client) itemShape(parent *etree.Element, props []string, withBody bool) {
	s := parent.CreateElement("m:ItemShape")
	s.CreateElement("t:BaseShape").SetText("IdOnly")
	if withBody {
		s.CreateElement("t:BodyType").SetText(string(BodyText))
	}
	ap := s.CreateElement("t:AdditionalProperties")
	for _, p := range props {
		fieldURI(ap, p)
	}
	for _, name := range c.props {
		extendedFieldURI(ap, name)
	}
}

// FindCalendarView lists the calendar of mailbox between start and end,
// with occurrences of series expanded. EWS never pages a CalendarView, so
// the range is cut into windows (at most two years, the server's limit)
// and any window the server truncates (IncludesLastItemInRange="false") is
// halved and read again. Items that straddle windows are returned once;
// the result is sorted by start, then id.
func (c *Client) FindCalendarView(ctx context.Context, mailbox string, start, end time.Time) ([]CalendarItem, error) {
	if !end.After(start) {
		return nil, fmt.Errorf("find calendar view for %s: end %s is not after start %s", mailbox, end, start)
	}
	seen := map[string]bool{}
	var items []CalendarItem
	for ws := start; ws.Before(end); {
		we := ws.Add(c.viewSpan)
		if we.After(end) {
			we = end
		}
		if err := c.findWindow(ctx, mailbox, ws, we, seen, &items); err != nil {
			return nil, fmt.Errorf("find calendar view for %s: %w", mailbox, err)
		}
		ws = we
	}
	sortItems(items)
	return items, nil
}

// minViewSpan is where splitting stops: more than MaxEntriesReturned items
// overlapping one minute is not a room calendar we can read faithfully.
const minViewSpan = time.Minute

func (c *Client) findWindow(ctx context.Context, mailbox string, start, end time.Time, seen map[string]bool, out *[]CalendarItem) error {
	page, complete, err := c.findItems(ctx, mailbox, start, end)
	if IsCode(err, CodeExceededFindCountLimit) || IsCode(err, CodeCalendarViewRangeTooBig) {
		// The server's own budget or range limit is lower than ours:
		// the cure is the same as for truncation, a smaller window.
		complete, err = false, nil
	}
	if err != nil {
		return err
	}
	if !complete {
		if end.Sub(start) <= minViewSpan {
			return &Error{Op: "FindItem", Code: CodeViewTruncated,
				Message: fmt.Sprintf("more than %d items between %s and %s", c.maxEntries, formatTime(start), formatTime(end))}
		}
		mid := start.Add(end.Sub(start) / 2).Truncate(time.Second)
		if !mid.After(start) {
			mid = start.Add(end.Sub(start) / 2)
		}
		if err := c.findWindow(ctx, mailbox, start, mid, seen, out); err != nil {
			return err
		}
		return c.findWindow(ctx, mailbox, mid, end, seen, out)
	}
	for _, it := range page {
		if seen[it.ItemID] {
			continue
		}
		seen[it.ItemID] = true
		*out = append(*out, it)
	}
	return nil
}

func sortItems(items []CalendarItem) {
	slices.SortFunc(items, func(a, b CalendarItem) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ItemID, b.ItemID)
	})
}

// buildFindItem is the FindItem CalendarView request for one window.
func (c *Client) buildFindItem(mailbox string, start, end time.Time) *request {
	r := c.newRequest(mailbox)
	fi := r.body.CreateElement("m:FindItem")
	fi.CreateAttr("Traversal", "Shallow")
	c.itemShape(fi, viewProperties, false)
	cv := fi.CreateElement("m:CalendarView")
	cv.CreateAttr("MaxEntriesReturned", strconv.Itoa(c.maxEntries))
	cv.CreateAttr("StartDate", formatTime(start))
	cv.CreateAttr("EndDate", formatTime(end))
	c.distinguishedFolder(fi.CreateElement("m:ParentFolderIds"), "calendar", mailbox)
	return r
}

// findItems runs one CalendarView; complete is IncludesLastItemInRange.
func (c *Client) findItems(ctx context.Context, mailbox string, start, end time.Time) (items []CalendarItem, complete bool, err error) {
	req := c.buildFindItem(mailbox, start, end)
	err = c.do(ctx, call{op: "FindItem", mailbox: mailbox, idempotent: true}, req, func(env *envelope) error {
		items, complete, err = parseFindItem(env)
		return err
	})
	return items, complete, err
}

func parseFindItem(env *envelope) ([]CalendarItem, bool, error) {
	msg, err := env.singleMessage("FindItem")
	if err != nil {
		return nil, false, err
	}
	root := child(msg, nsMessages, "RootFolder")
	if root == nil {
		return nil, false, &Error{Op: "FindItem", Code: CodeBadResponse, Message: "no RootFolder"}
	}
	complete := root.SelectAttrValue("IncludesLastItemInRange", "true") != "false"
	list := child(root, nsTypes, "Items")
	var items []CalendarItem
	if list != nil {
		els := list.ChildElements()
		items = make([]CalendarItem, 0, len(els))
		for _, e := range els {
			if e.Tag == "CalendarItem" && e.NamespaceURI() == nsTypes {
				items = append(items, parseCalendarItem(e))
			}
		}
	}
	return items, complete, nil
}

// parseCalendarItem reads the direct children of a t:CalendarItem. Nested
// items (ConflictingMeetings) are never mistaken for the item's own fields
// because only direct children are looked at.
func parseCalendarItem(e *etree.Element) CalendarItem {
	var it CalendarItem
	for _, f := range e.ChildElements() {
		if f.NamespaceURI() != nsTypes {
			continue
		}
		switch f.Tag {
		case "ItemId":
			it.ItemID = f.SelectAttrValue("Id", "")
			it.ChangeKey = f.SelectAttrValue("ChangeKey", "")
		case "Subject":
			it.Subject = f.Text()
		case "Body":
			// GetItem may return several bodies; the one we asked
			// for (Text) wins over others.
			bt := BodyType(f.SelectAttrValue("BodyType", string(BodyText)))
			if it.Body == "" || bt == BodyText {
				it.Body, it.BodyType = f.Text(), bt
			}
		case "LastModifiedTime":
			it.LastModified = parseTime(f.Text())
		case "ExtendedProperty":
			name, val, ok := parseExtendedProperty(f)
			if ok {
				if it.ExtendedProperties == nil {
					it.ExtendedProperties = map[string]string{}
				}
				it.ExtendedProperties[name] = val
			}
		case "UID":
			it.UID = text(f)
		case "RecurrenceId":
			it.RecurrenceID = parseTime(f.Text())
		case "Start":
			it.Start = parseTime(f.Text())
		case "End":
			it.End = parseTime(f.Text())
		case "IsAllDayEvent":
			it.IsAllDay = parseBool(text(f))
		case "Location":
			it.Location = f.Text()
		case "IsCancelled":
			it.IsCancelled = parseBool(text(f))
		case "CalendarItemType":
			it.CalendarItemType = CalendarItemType(text(f))
		case "Organizer":
			it.Organizer = parseMailbox(child(f, nsTypes, "Mailbox"))
		case "RequiredAttendees":
			it.RequiredAttendees = parseAttendees(f)
		case "OptionalAttendees":
			it.OptionalAttendees = parseAttendees(f)
		}
	}
	return it
}

// parseExtendedProperty returns our property's name and value; properties
// of other sets are ignored.
func parseExtendedProperty(e *etree.Element) (string, string, bool) {
	uri := child(e, nsTypes, "ExtendedFieldURI")
	if uri == nil || !strings.EqualFold(strings.Trim(uri.SelectAttrValue("PropertySetId", ""), "{}"), PropertySetID) {
		return "", "", false
	}
	name := uri.SelectAttrValue("PropertyName", "")
	if name == "" {
		return "", "", false
	}
	return name, child(e, nsTypes, "Value").NotNil().Text(), true
}

func parseMailbox(e *etree.Element) Mailbox {
	return Mailbox{
		Name:        childText(e, nsTypes, "Name"),
		Email:       childText(e, nsTypes, "EmailAddress"),
		RoutingType: childText(e, nsTypes, "RoutingType"),
	}
}

func parseAttendees(e *etree.Element) []Attendee {
	var out []Attendee
	for _, a := range children(e, nsTypes, "Attendee") {
		out = append(out, Attendee{
			Mailbox:      parseMailbox(child(a, nsTypes, "Mailbox")),
			ResponseType: childText(a, nsTypes, "ResponseType"),
		})
	}
	return out
}

// GetCalendarItems reads the full items (body, attendees, organizer as
// SMTP, UID, RecurrenceId, our extended properties) in batches. The
// result has one entry per id, in order; an item that failed (typically
// ErrorItemNotFound) has a zero CalendarItem and its error in errs at
// the same index. err is set only when a whole batch failed.
func (c *Client) GetCalendarItems(ctx context.Context, mailbox string, ids []string) (items []CalendarItem, errs []error, err error) {
	items = make([]CalendarItem, len(ids))
	errs = make([]error, len(ids))
	for lo := 0; lo < len(ids); lo += c.getBatch {
		hi := min(lo+c.getBatch, len(ids))
		req := c.buildGetItem(mailbox, ids[lo:hi])
		err := c.do(ctx, call{op: "GetItem", mailbox: mailbox, idempotent: true}, req, func(env *envelope) error {
			return parseGetItem(env, items[lo:hi], errs[lo:hi])
		})
		if err != nil {
			return nil, nil, fmt.Errorf("get calendar items for %s: %w", mailbox, err)
		}
	}
	return items, errs, nil
}

func (c *Client) buildGetItem(mailbox string, ids []string) *request {
	r := c.newRequest(mailbox)
	gi := r.body.CreateElement("m:GetItem")
	c.itemShape(gi, itemProperties, true)
	list := gi.CreateElement("m:ItemIds")
	for _, id := range ids {
		list.CreateElement("t:ItemId").CreateAttr("Id", id)
	}
	return r
}

// parseGetItem fills items and errs (same length as the request). A
// temporary per-item error fails the batch so that do retries it.
func parseGetItem(env *envelope, items []CalendarItem, errs []error) error {
	msgs, err := env.responseMessages("GetItem")
	if err != nil {
		return err
	}
	if len(msgs) != len(items) {
		return &Error{Op: "GetItem", Code: CodeBadResponse,
			Message: fmt.Sprintf("%d response messages for %d items", len(msgs), len(items))}
	}
	for i, m := range msgs {
		items[i], errs[i] = CalendarItem{}, nil
		if err := messageError("GetItem", m); err != nil {
			if IsTemporary(err) {
				return err
			}
			errs[i] = err
			continue
		}
		if ci := child(child(m, nsMessages, "Items"), nsTypes, "CalendarItem"); ci != nil {
			items[i] = parseCalendarItem(ci)
		} else {
			errs[i] = &Error{Op: "GetItem", Code: CodeBadResponse, Message: "the item is not a calendar item"}
		}
	}
	return nil
}

// checkProperties refuses extended property names outside the configured
// set: named properties count against a per-mailbox quota forever.
func (c *Client) checkProperties(names ...string) error {
	for _, n := range names {
		if !c.propSet[n] {
			return fmt.Errorf("extended property %q is not in the configured set %v", n, c.props)
		}
	}
	return nil
}

// writeCalendarItem writes the settable fields of it in the order the
// schema's ItemType/CalendarItemType sequences demand: Subject, Body,
// ExtendedProperty (before every calendar element), UID, Start, End,
// IsAllDayEvent, Location, RequiredAttendees, OptionalAttendees.
func writeCalendarItem(e *etree.Element, it *CalendarItem) {
	if it.Subject != "" {
		e.CreateElement("t:Subject").SetText(it.Subject)
	}
	if it.Body != "" {
		writeBody(e, it)
	}
	for _, name := range sortedKeys(it.ExtendedProperties) {
		writeExtendedProperty(e, name, it.ExtendedProperties[name])
	}
	if it.UID != "" {
		e.CreateElement("t:UID").SetText(it.UID)
	}
	e.CreateElement("t:Start").SetText(formatTime(it.Start))
	e.CreateElement("t:End").SetText(formatTime(it.End))
	e.CreateElement("t:IsAllDayEvent").SetText(strconv.FormatBool(it.IsAllDay))
	if it.Location != "" {
		e.CreateElement("t:Location").SetText(it.Location)
	}
	writeAttendees(e, "t:RequiredAttendees", it.RequiredAttendees)
	writeAttendees(e, "t:OptionalAttendees", it.OptionalAttendees)
}

func writeBody(e *etree.Element, it *CalendarItem) {
	b := e.CreateElement("t:Body")
	b.CreateAttr("BodyType", string(orBodyType(it.BodyType)))
	b.SetText(it.Body)
}

func orBodyType(t BodyType) BodyType {
	if t == "" {
		return BodyText
	}
	return t
}

func writeExtendedProperty(e *etree.Element, name, value string) {
	p := e.CreateElement("t:ExtendedProperty")
	extendedFieldURI(p, name)
	p.CreateElement("t:Value").SetText(value)
}

func writeAttendees(e *etree.Element, tag string, as []Attendee) {
	if !slices.ContainsFunc(as, hasEmail) {
		return
	}
	list := e.CreateElement(tag)
	for _, a := range as {
		if a.Mailbox.Email == "" {
			continue
		}
		mb := list.CreateElement("t:Attendee").CreateElement("t:Mailbox")
		if a.Mailbox.Name != "" {
			mb.CreateElement("t:Name").SetText(a.Mailbox.Name)
		}
		mb.CreateElement("t:EmailAddress").SetText(a.Mailbox.Email)
		if a.Mailbox.RoutingType != "" {
			mb.CreateElement("t:RoutingType").SetText(a.Mailbox.RoutingType)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CreateCalendarItems creates items in the mailbox's calendar in batches.
// There is one Outcome per item, in order, carrying the new ItemID. Creates
// are never retried: a lost response would make a duplicate, which is why
// the sync engine gives each item a deterministic UID to find it again.
func (c *Client) CreateCalendarItems(ctx context.Context, mailbox string, items []CalendarItem, send SendInvitations) ([]Outcome, error) {
	for i := range items {
		if err := c.checkProperties(sortedKeys(items[i].ExtendedProperties)...); err != nil {
			return nil, fmt.Errorf("create calendar items for %s: item %d: %w", mailbox, i, err)
		}
	}
	out := make([]Outcome, len(items))
	err := c.writeBatches(ctx, "CreateItem", mailbox, len(items), c.createBatch, out, func(lo, hi int) *request {
		return c.buildCreateItem(mailbox, items[lo:hi], send)
	})
	if err != nil {
		return out, fmt.Errorf("create calendar items for %s: %w", mailbox, err)
	}
	return out, nil
}

func (c *Client) buildCreateItem(mailbox string, items []CalendarItem, send SendInvitations) *request {
	r := c.newRequest(mailbox)
	ci := r.body.CreateElement("m:CreateItem")
	ci.CreateAttr("SendMeetingInvitations", send.orNone())
	c.distinguishedFolder(ci.CreateElement("m:SavedItemFolderId"), "calendar", mailbox)
	list := ci.CreateElement("m:Items")
	for i := range items {
		writeCalendarItem(list.CreateElement("t:CalendarItem"), &items[i])
	}
	return r
}

// UpdateCalendarItems applies changes in batches, each with the ChangeKey
// the caller read, under the caller's conflict policy. One Outcome per
// change; a stale ChangeKey under NeverOverwrite is an ErrConflict outcome.
func (c *Client) UpdateCalendarItems(ctx context.Context, mailbox string, changes []ItemChange, policy ConflictResolution, send SendInvitations) ([]Outcome, error) {
	if policy == "" {
		policy = NeverOverwrite
	}
	for i, ch := range changes {
		if ch.Item.ItemID == "" || ch.Item.ChangeKey == "" {
			return nil, fmt.Errorf("update calendar items for %s: change %d has no ItemID or ChangeKey", mailbox, i)
		}
		if err := c.checkProperties(append(sortedKeys(ch.Item.ExtendedProperties), ch.DeleteExtendedProperties...)...); err != nil {
			return nil, fmt.Errorf("update calendar items for %s: change %d: %w", mailbox, i, err)
		}
	}
	out := make([]Outcome, len(changes))
	err := c.writeBatches(ctx, "UpdateItem", mailbox, len(changes), c.updateBatch, out, func(lo, hi int) *request {
		return c.buildUpdateItem(mailbox, changes[lo:hi], policy, send)
	})
	if err != nil {
		return out, fmt.Errorf("update calendar items for %s: %w", mailbox, err)
	}
	return out, nil
}

func (c *Client) buildUpdateItem(mailbox string, changes []ItemChange, policy ConflictResolution, send SendInvitations) *request {
	r := c.newRequest(mailbox)
	ui := r.body.CreateElement("m:UpdateItem")
	ui.CreateAttr("ConflictResolution", string(policy))
	ui.CreateAttr("SendMeetingInvitationsOrCancellations", send.orNone())
	list := ui.CreateElement("m:ItemChanges")
	for i := range changes {
		ch := &changes[i]
		ic := list.CreateElement("t:ItemChange")
		id := ic.CreateElement("t:ItemId")
		id.CreateAttr("Id", ch.Item.ItemID)
		id.CreateAttr("ChangeKey", ch.Item.ChangeKey)
		up := ic.CreateElement("t:Updates")
		fields := ch.Fields
		if len(fields) == 0 {
			fields = DefaultUpdateFields
		}
		for _, f := range fields {
			writeSetField(up, f, &ch.Item)
		}
		for _, name := range sortedKeys(ch.Item.ExtendedProperties) {
			set := up.CreateElement("t:SetItemField")
			extendedFieldURI(set, name)
			writeExtendedProperty(set.CreateElement("t:CalendarItem"), name, ch.Item.ExtendedProperties[name])
		}
		for _, name := range ch.DeleteExtendedProperties {
			extendedFieldURI(up.CreateElement("t:DeleteItemField"), name)
		}
	}
	return r
}

// writeSetField writes one SetItemField, or a DeleteItemField when the
// new value is empty (Exchange refuses an empty Location/Body set, and an
// empty attendee list has no schema-valid form).
func writeSetField(up *etree.Element, f Field, it *CalendarItem) {
	empty := false
	switch f {
	case FieldSubject:
		empty = it.Subject == ""
	case FieldBody:
		empty = it.Body == ""
	case FieldLocation:
		empty = it.Location == ""
	case FieldRequiredAttendees:
		empty = !slices.ContainsFunc(it.RequiredAttendees, hasEmail)
	case FieldOptionalAttendees:
		empty = !slices.ContainsFunc(it.OptionalAttendees, hasEmail)
	}
	if empty {
		fieldURI(up.CreateElement("t:DeleteItemField"), string(f))
		return
	}
	set := up.CreateElement("t:SetItemField")
	fieldURI(set, string(f))
	ci := set.CreateElement("t:CalendarItem")
	switch f {
	case FieldSubject:
		ci.CreateElement("t:Subject").SetText(it.Subject)
	case FieldBody:
		writeBody(ci, it)
	case FieldStart:
		ci.CreateElement("t:Start").SetText(formatTime(it.Start))
	case FieldEnd:
		ci.CreateElement("t:End").SetText(formatTime(it.End))
	case FieldIsAllDay:
		ci.CreateElement("t:IsAllDayEvent").SetText(strconv.FormatBool(it.IsAllDay))
	case FieldLocation:
		ci.CreateElement("t:Location").SetText(it.Location)
	case FieldRequiredAttendees:
		writeAttendees(ci, "t:RequiredAttendees", it.RequiredAttendees)
	case FieldOptionalAttendees:
		writeAttendees(ci, "t:OptionalAttendees", it.OptionalAttendees)
	}
}

// DeleteCalendarItems deletes items (MoveToDeletedItems, so a person can
// still recover a wrong deletion) in batches. An item that is already gone
// gets Outcome.Gone, not an error.
func (c *Client) DeleteCalendarItems(ctx context.Context, mailbox string, ids []string, send SendInvitations) ([]Outcome, error) {
	out := make([]Outcome, len(ids))
	err := c.writeBatches(ctx, "DeleteItem", mailbox, len(ids), c.deleteBatch, out, func(lo, hi int) *request {
		return c.buildDeleteItem(mailbox, ids[lo:hi], send)
	})
	for i := range out {
		out[i].ItemID = ItemID{ID: ids[i]}
		if IsCode(out[i].Err, CodeItemNotFound) && !isBatchError(out[i].Err, err) {
			out[i].Gone, out[i].Err = true, nil
		}
	}
	if err != nil {
		return out, fmt.Errorf("delete calendar items for %s: %w", mailbox, err)
	}
	return out, nil
}

func isBatchError(itemErr, batchErr error) bool { return batchErr != nil && itemErr == batchErr }

func (c *Client) buildDeleteItem(mailbox string, ids []string, send SendInvitations) *request {
	r := c.newRequest(mailbox)
	di := r.body.CreateElement("m:DeleteItem")
	di.CreateAttr("DeleteType", "MoveToDeletedItems")
	ds := send.orNone()
	if ds == string(SendOnlyToChanged) || ds == string(SendToChangedAndSaveCopy) {
		// Not valid for DeleteItem; the nearest meaning is "everyone".
		ds = string(SendOnlyToAll)
	}
	di.CreateAttr("SendMeetingCancellations", ds)
	list := di.CreateElement("m:ItemIds")
	for _, id := range ids {
		list.CreateElement("t:ItemId").CreateAttr("Id", id)
	}
	return r
}

// writeBatches sends n items in batches of size, never retrying, and fills
// out with per-item outcomes. A batch that fails as a whole marks its items
// and all later ones with that error, and the error is returned.
func (c *Client) writeBatches(ctx context.Context, op, mailbox string, n, size int, out []Outcome, build func(lo, hi int) *request) error {
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		err := c.do(ctx, call{op: op, mailbox: mailbox}, build(lo, hi), func(env *envelope) error {
			return parseWriteResponse(env, op, out[lo:hi])
		})
		if err != nil {
			for i := lo; i < n; i++ {
				out[i] = Outcome{Err: err}
			}
			return err
		}
	}
	return nil
}

func parseWriteResponse(env *envelope, op string, out []Outcome) error {
	msgs, err := env.responseMessages(op)
	if err != nil {
		return err
	}
	if len(msgs) != len(out) {
		return &Error{Op: op, Code: CodeBadResponse,
			Message: fmt.Sprintf("%d response messages for %d items", len(msgs), len(out))}
	}
	for i, m := range msgs {
		out[i] = Outcome{}
		if err := messageError(op, m); err != nil {
			out[i].Err = err
			continue
		}
		if items := child(m, nsMessages, "Items"); items != nil {
			for _, it := range items.ChildElements() {
				if id := child(it, nsTypes, "ItemId"); id != nil {
					out[i].ItemID = ItemID{ID: id.SelectAttrValue("Id", ""), ChangeKey: id.SelectAttrValue("ChangeKey", "")}
					break
				}
			}
		}
		if cr := child(m, nsMessages, "ConflictResults"); cr != nil {
			out[i].Conflicts, _ = strconv.Atoi(childText(cr, nsTypes, "Count"))
		}
	}
	return nil
}

func hasEmail(a Attendee) bool { return a.Mailbox.Email != "" }
