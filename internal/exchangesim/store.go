package exchangesim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Person is a mailbox user as a calendar item names it: organizer or attendee.
type Person struct {
	Name string `json:"name,omitempty"`
	SMTP string `json:"smtp"`
	// RoutingType EX marks an internal organizer whom FindItem reports by
	// X500 address, as Exchange Online does; GetItem still gives SMTP.
	RoutingType string `json:"routingType,omitempty"`
}

// ExtendedProperty is a MAPI named or tagged property stamped on an item. The
// URI attributes are kept as sent so they can be echoed the way Exchange does.
type ExtendedProperty struct {
	DistinguishedPropertySetID string   `json:"distinguishedPropertySetId,omitempty"`
	PropertySetID              string   `json:"propertySetId,omitempty"`
	PropertyTag                string   `json:"propertyTag,omitempty"`
	PropertyName               string   `json:"propertyName,omitempty"`
	PropertyID                 string   `json:"propertyId,omitempty"`
	PropertyType               string   `json:"propertyType"`
	Value                      string   `json:"value,omitempty"`
	Values                     []string `json:"values,omitempty"`
}

// key identifies the property regardless of attribute spelling: set ids are
// compared case-insensitively, as GUIDs are.
func (p ExtendedProperty) key() string {
	return strings.ToLower(strings.Join([]string{p.DistinguishedPropertySetID, strings.Trim(p.PropertySetID, "{}"),
		p.PropertyTag, p.PropertyName, p.PropertyID}, "|"))
}

// Recurrence is the subset of EWS recurrence patterns a room calendar needs:
// daily or weekly, ended by a count, an end date, or not at all.
type Recurrence struct {
	Pattern             string   `json:"pattern"` // Daily or Weekly
	Interval            int      `json:"interval"`
	DaysOfWeek          []string `json:"daysOfWeek,omitempty"`
	FirstDayOfWeek      string   `json:"firstDayOfWeek,omitempty"`
	StartDate           string   `json:"startDate"` // YYYY-MM-DD
	NumberOfOccurrences int      `json:"numberOfOccurrences,omitempty"`
	EndDate             string   `json:"endDate,omitempty"`
}

// Fields are the editable parts of a calendar item, shared by masters,
// single items and exceptions.
type Fields struct {
	Subject    string             `json:"subject"`
	Body       string             `json:"body,omitempty"`
	BodyType   string             `json:"bodyType,omitempty"`
	Location   string             `json:"location,omitempty"`
	Start      time.Time          `json:"start"`
	End        time.Time          `json:"end"`
	AllDay     bool               `json:"isAllDay,omitempty"`
	Organizer  Person             `json:"organizer"`
	Required   []Person           `json:"requiredAttendees,omitempty"`
	Optional   []Person           `json:"optionalAttendees,omitempty"`
	Categories []string           `json:"categories,omitempty"`
	FreeBusy   string             `json:"legacyFreeBusyStatus,omitempty"`
	Ext        []ExtendedProperty `json:"extendedProperties,omitempty"`
}

func (f Fields) clone() Fields {
	c := f
	c.Required = append([]Person(nil), f.Required...)
	c.Optional = append([]Person(nil), f.Optional...)
	c.Categories = append([]string(nil), f.Categories...)
	c.Ext = nil
	for _, p := range f.Ext {
		p.Values = append([]string(nil), p.Values...)
		c.Ext = append(c.Ext, p)
	}
	return c
}

func (f *Fields) setExt(p ExtendedProperty) {
	for i := range f.Ext {
		if f.Ext[i].key() == p.key() {
			f.Ext[i] = p
			return
		}
	}
	f.Ext = append(f.Ext, p)
}

func (f *Fields) deleteExt(p ExtendedProperty) {
	out := f.Ext[:0]
	for _, q := range f.Ext {
		if q.key() != p.key() {
			out = append(out, q)
		}
	}
	f.Ext = out
}

// exception is a modified occurrence: its own fields and version, stored on
// the master as Exchange stores it (an attachment of the master).
type exception struct {
	Fields
	version int
}

// item is a single calendar item or a recurring master.
type item struct {
	raw        []byte // decoded ItemId
	mailbox    *mailbox
	uid        string
	version    int // bumps on every change: the ChangeKey
	series     int // bumps when the pattern or times of a series change: new occurrence ids
	created    time.Time
	modified   time.Time
	createdSeq int64
	Fields
	recurrence *Recurrence
	exceptions map[int64]*exception // by original start (unix seconds)
	deleted    map[int64]bool
}

// mailbox is one user's or room's store: a calendar and its change log.
type mailbox struct {
	smtp     string
	name     string
	x500     string
	folderID string
	items    map[string]*item // by ItemId string
	log      []change
	gone     map[string]tombstone
}

// change is one entry of a mailbox's change log, used by SyncFolderItems and
// by the notification fan-out.
type change struct {
	seq       int64
	kind      string // Created, Modified, Deleted
	itemID    string
	changeKey string // the item's ChangeKey after the change, as notifications report it
	at        time.Time
}

type tombstone struct{ createdSeq, deletedSeq int64 }

type store struct {
	mu        sync.Mutex
	seq       int64
	mailboxes map[string]*mailbox // by lower-case SMTP
	byID      map[string]*item
	now       func() time.Time
	notify    func(mb *mailbox, c change)
}

func newStore(now func() time.Time) *store {
	return &store{mailboxes: map[string]*mailbox{}, byID: map[string]*item{}, now: now}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	return b
}

const (
	idKindItem       = 1
	idKindOccurrence = 2
)

// Item ids look like Exchange's: opaque base64 that starts with "AAMk" and
// carries the mailbox, so ids of one mailbox are useless in another.
func newItemID(mb *mailbox) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(mb.smtp)))
	raw := []byte{0x00, 0x03, 0x24, idKindItem}
	raw = append(raw, h[:8]...)
	return append(raw, randomBytes(24)...)
}

func encodeID(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

func occurrenceID(it *item, originalStart int64) string {
	raw := append([]byte(nil), it.raw...)
	raw[3] = idKindOccurrence
	raw = binary.BigEndian.AppendUint32(raw, uint32(it.series))
	raw = binary.BigEndian.AppendUint64(raw, uint64(originalStart))
	return encodeID(raw)
}

// decodeOccurrenceID splits an occurrence id into its master id, series
// generation and original start.
func decodeOccurrenceID(id string) (master string, series int, start int64, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(raw) != 36+12 || raw[3] != idKindOccurrence {
		return "", 0, 0, false
	}
	m := append([]byte(nil), raw[:36]...)
	m[3] = idKindItem
	return encodeID(m), int(binary.BigEndian.Uint32(raw[36:40])), int64(binary.BigEndian.Uint64(raw[40:48])), true
}

// changeKey is opaque base64 like Exchange's "DwAAABYAAAA…", new on every change.
func changeKey(raw []byte, version, sub int) string {
	b := []byte{0x0f, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00}
	b = append(b, raw[len(raw)-8:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(version))
	b = binary.BigEndian.AppendUint32(b, uint32(sub))
	return encodeID(b)
}

func (it *item) id() string        { return encodeID(it.raw) }
func (it *item) changeKey() string { return changeKey(it.raw, it.version, 0) }

func newUID() string {
	// The GlobalObjectId form Exchange uses for UIDs.
	return strings.ToUpper("040000008200E00074C5B7101A82E00800000000" + fmt.Sprintf("%x", randomBytes(24)))
}

func x500For(smtp string) string {
	local := strings.ToUpper(strings.SplitN(smtp, "@", 2)[0])
	h := sha256.Sum256([]byte(strings.ToLower(smtp)))
	return fmt.Sprintf("/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=%X-%s", h[:16], local)
}

// record appends to the change log and fans the change out. Callers hold mu.
func (s *store) record(mb *mailbox, kind, id, changeKey string) change {
	s.seq++
	c := change{seq: s.seq, kind: kind, itemID: id, changeKey: changeKey, at: s.now().UTC()}
	mb.log = append(mb.log, c)
	if s.notify != nil {
		s.notify(mb, c)
	}
	return c
}

func (s *store) mailbox(smtp string) *mailbox { return s.mailboxes[strings.ToLower(smtp)] }

// mailboxByAddress finds a mailbox by SMTP or by its X500 (EX) address.
func (s *store) mailboxByAddress(addr string) *mailbox {
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "SMTP:"), "smtp:")
	if mb := s.mailbox(addr); mb != nil {
		return mb
	}
	for _, mb := range s.mailboxes {
		if strings.EqualFold(mb.x500, strings.TrimPrefix(addr, "EX:")) {
			return mb
		}
	}
	return nil
}

func (s *store) addMailbox(smtp, name string) *mailbox {
	if mb := s.mailbox(smtp); mb != nil {
		if name != "" {
			mb.name = name
		}
		return mb
	}
	if name == "" {
		name = strings.SplitN(smtp, "@", 2)[0]
	}
	h := sha256.Sum256([]byte("calendar:" + strings.ToLower(smtp)))
	mb := &mailbox{smtp: smtp, name: name, x500: x500For(smtp), folderID: encodeID(append([]byte{0x00, 0x01, 0x2e}, h[:30]...)),
		items: map[string]*item{}, gone: map[string]tombstone{}}
	s.mailboxes[strings.ToLower(smtp)] = mb
	return mb
}

// personName resolves a person through the directory: an X500 address
// becomes the SMTP one, and a missing display name is filled.
func (s *store) personName(p Person) Person {
	if mb := s.mailboxByAddress(p.SMTP); mb != nil {
		p.SMTP = mb.smtp
		if p.Name == "" {
			p.Name = mb.name
		}
	}
	if p.Name == "" {
		p.Name = p.SMTP
	}
	return p
}

func (s *store) createItem(mb *mailbox, f Fields, rec *Recurrence, uid string) *item {
	now := s.now().UTC()
	if uid == "" {
		uid = newUID()
	}
	if f.Organizer.SMTP == "" {
		f.Organizer = Person{Name: mb.name, SMTP: mb.smtp}
	}
	f.Organizer = s.personName(f.Organizer)
	it := &item{raw: newItemID(mb), mailbox: mb, uid: uid, version: 1, created: now, modified: now, Fields: f,
		recurrence: rec, exceptions: map[int64]*exception{}, deleted: map[int64]bool{}}
	s.byID[it.id()] = it
	mb.items[it.id()] = it
	c := s.record(mb, "Created", it.id(), it.changeKey())
	it.createdSeq = c.seq
	return it
}

// touch marks the item changed: a new ChangeKey and a log entry.
func (s *store) touch(it *item) {
	it.version++
	it.modified = s.now().UTC()
	s.record(it.mailbox, "Modified", it.id(), it.changeKey())
}

func (s *store) deleteItem(it *item) {
	delete(s.byID, it.id())
	delete(it.mailbox.items, it.id())
	c := s.record(it.mailbox, "Deleted", it.id(), it.changeKey())
	it.mailbox.gone[it.id()] = tombstone{createdSeq: it.createdSeq, deletedSeq: c.seq}
}

// occurrence is one instance of a recurring series as CalendarView shows it.
type occurrence struct {
	master        *item
	originalStart time.Time
	index         int // 1-based InstanceIndex
	exc           *exception
}

func (o occurrence) fields() Fields {
	if o.exc != nil {
		f := o.exc.Fields.clone()
		// Properties stamped on the master show on its exceptions unless the
		// exception has its own value.
		for _, p := range o.master.Ext {
			found := false
			for _, q := range f.Ext {
				if q.key() == p.key() {
					found = true
				}
			}
			if !found {
				f.Ext = append(f.Ext, p)
			}
		}
		return f
	}
	f := o.master.Fields.clone()
	d := o.master.End.Sub(o.master.Start)
	f.Start = o.originalStart
	f.End = o.originalStart.Add(d)
	return f
}

func (o occurrence) id() string { return occurrenceID(o.master, o.originalStart.Unix()) }

func (o occurrence) changeKey() string {
	sub := 0
	if o.exc != nil {
		sub = o.exc.version
	}
	return changeKey(o.master.raw, o.master.version, sub+1)
}

var weekdays = map[string]time.Weekday{"Sunday": time.Sunday, "Monday": time.Monday, "Tuesday": time.Tuesday,
	"Wednesday": time.Wednesday, "Thursday": time.Thursday, "Friday": time.Friday, "Saturday": time.Saturday}

// instances lists the series' original starts in order, up to limit end
// (exclusive) and at most max entries. Deleted occurrences are included so
// that indexes and counts stay those of the pattern, as Exchange counts them.
func (it *item) instances(until time.Time, max int) []time.Time {
	r := it.recurrence
	if r == nil {
		return nil
	}
	start, err := time.Parse("2006-01-02", r.StartDate)
	if err != nil {
		start = time.Date(it.Start.Year(), it.Start.Month(), it.Start.Day(), 0, 0, 0, 0, time.UTC)
	}
	tod := it.Start.UTC().Sub(time.Date(it.Start.Year(), it.Start.Month(), it.Start.Day(), 0, 0, 0, 0, time.UTC))
	var endDate time.Time
	if r.EndDate != "" {
		if e, err := time.Parse("2006-01-02", r.EndDate); err == nil {
			endDate = e.Add(24 * time.Hour)
		}
	}
	interval := r.Interval
	if interval < 1 {
		interval = 1
	}
	days := map[time.Weekday]bool{}
	for _, d := range r.DaysOfWeek {
		days[weekdays[d]] = true
	}
	if len(days) == 0 {
		days[start.Weekday()] = true
	}
	fdow := time.Sunday
	if d, ok := weekdays[r.FirstDayOfWeek]; ok {
		fdow = d
	}
	weekStart := start.AddDate(0, 0, -((int(start.Weekday()) - int(fdow) + 7) % 7))
	var out []time.Time
	for day := start; len(out) < max; day = day.AddDate(0, 0, 1) {
		if !endDate.IsZero() && !day.Before(endDate) {
			break
		}
		if r.NumberOfOccurrences > 0 && len(out) >= r.NumberOfOccurrences {
			break
		}
		at := day.Add(tod)
		if !at.Before(until) {
			break
		}
		switch r.Pattern {
		case "Daily":
			if int(day.Sub(start).Hours()/24)%interval != 0 {
				continue
			}
		default:
			week := int(day.Sub(weekStart).Hours()/24) / 7
			if week%interval != 0 || !days[day.Weekday()] {
				continue
			}
		}
		out = append(out, at)
	}
	return out
}

// horizon bounds the expansion of a series without an end.
const maxInstances = 5000

func (it *item) occurrences(until time.Time) []occurrence {
	var out []occurrence
	for i, os := range it.instances(until, maxInstances) {
		if it.deleted[os.Unix()] {
			continue
		}
		out = append(out, occurrence{master: it, originalStart: os, index: i + 1, exc: it.exceptions[os.Unix()]})
	}
	return out
}

// occurrenceAt finds the occurrence with the given original start.
func (it *item) occurrenceAt(originalStart int64) (occurrence, bool) {
	until := time.Unix(originalStart, 0).UTC().Add(time.Second)
	for _, o := range it.occurrences(until) {
		if o.originalStart.Unix() == originalStart {
			return o, true
		}
	}
	return occurrence{}, false
}

// occurrenceByIndex finds the 1-based InstanceIndex, deleted ones counted.
func (it *item) occurrenceByIndex(index int) (occurrence, bool) {
	all := it.instances(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), index)
	if index < 1 || index > len(all) || it.deleted[all[index-1].Unix()] {
		return occurrence{}, false
	}
	os := all[index-1]
	return occurrence{master: it, originalStart: os, index: index, exc: it.exceptions[os.Unix()]}, true
}

// view is a calendar entry as one response shows it: a single item, a
// master, an occurrence or an exception.
type view struct {
	id, changeKey string
	kind          string // Single, RecurringMaster, Occurrence, Exception
	it            *item
	occ           *occurrence
	Fields
}

func masterView(it *item) view {
	kind := "Single"
	if it.recurrence != nil {
		kind = "RecurringMaster"
	}
	return view{id: it.id(), changeKey: it.changeKey(), kind: kind, it: it, Fields: it.Fields}
}

func occurrenceView(o occurrence) view {
	kind := "Occurrence"
	if o.exc != nil {
		kind = "Exception"
	}
	oc := o
	return view{id: o.id(), changeKey: o.changeKey(), kind: kind, it: o.master, occ: &oc, Fields: o.fields()}
}

// calendarView lists singles, occurrences and exceptions overlapping
// [start, end), sorted by start as Exchange returns them.
func (mb *mailbox) calendarView(start, end time.Time) []view {
	var out []view
	for _, it := range mb.items {
		if it.recurrence == nil {
			if it.End.After(start) && it.Start.Before(end) || it.Start.Equal(it.End) && !it.Start.Before(start) && it.Start.Before(end) {
				out = append(out, masterView(it))
			}
			continue
		}
		// Exceptions may have moved far from their original start.
		for _, o := range it.occurrences(end.Add(366 * 24 * time.Hour)) {
			f := o.fields()
			if f.End.After(start) && f.Start.Before(end) {
				out = append(out, occurrenceView(o))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].id < out[j].id
	})
	return out
}

// masters lists singles and recurring masters, as a plain FindItem does.
func (mb *mailbox) masters() []view {
	var out []view
	for _, it := range mb.items {
		out = append(out, masterView(it))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}
