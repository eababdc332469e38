package sync

import (
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Hash fingerprints the synced fields of one side of a pair, in two groups, so that a
// change of time can be told from a change of text (OriginWins treats them differently).
// Zero means "unknown": a pair rebuilt without a ledger, or a write whose outcome is unknown.
type Hash struct {
	Time uint32
	Text uint32
}

func (h Hash) known() bool { return h.Time != 0 && h.Text != 0 }

const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

// fnvString folds s and a separator into an FNV-1a hash without allocating.
func fnvString(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= fnvPrime32
	}
	h ^= 0xff
	h *= fnvPrime32
	return h
}

func fnvInt(h uint32, v int64) uint32 {
	for i := 0; i < 8; i++ {
		h ^= uint32(byte(v >> (8 * i)))
		h *= fnvPrime32
	}
	return h
}

// nonZero keeps 0 free to mean "unknown".
func nonZero(h uint32) uint32 {
	if h == 0 {
		return 1
	}
	return h
}

func timeHash(start, end time.Time) uint32 {
	return nonZero(fnvInt(fnvInt(fnvOffset32, start.Unix()), end.Unix()))
}

// normText makes text comparable across the two systems: line endings and surrounding
// blanks differ between Outlook, EWS and Respa without anyone having changed anything.
func normText(s string) string {
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	s = strings.TrimSpace(s)
	if !strings.Contains(s, " \n") && !strings.Contains(s, "\t\n") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

// timesOf returns the event's interval as the engine compares it: whole seconds in UTC,
// and for an all-day event the local midnights of the room.
func timesOf(e *Event, tz *time.Location) (time.Time, time.Time) {
	start, end := e.Start.UTC().Truncate(time.Second), e.End.UTC().Truncate(time.Second)
	if !e.AllDay {
		return start, end
	}
	return allDayBound(start, tz, false), allDayBound(end, tz, true)
}

// allDayBound turns an all-day boundary into the room's local midnight. Exchange stores an
// all-day event as midnights of the zone it was created in; when that was UTC rather than the
// room's zone, the UTC date is the one the person meant.
func allDayBound(t time.Time, tz *time.Location, roundUp bool) time.Time {
	local := t.In(tz)
	y, m, d := local.Date()
	if local.Hour() != 0 || local.Minute() != 0 || local.Second() != 0 {
		if u := t.UTC(); u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0 {
			y, m, d = u.Date()
		} else if roundUp {
			d++
		}
	}
	return time.Date(y, m, d, 0, 0, 0, 0, tz).UTC()
}

func reservationTimes(r *Reservation) (time.Time, time.Time) {
	return r.Begin.UTC().Truncate(time.Second), r.End.UTC().Truncate(time.Second)
}

// hashEvent fingerprints what we sync from an event. ItemId, ChangeKey and our stamp are
// left out: a new ChangeKey from a no-op save, or our own stamp, is not a change. So is the
// organizer, which a create through EWS or Graph sets to whoever made it.
func hashEvent(e *Event, tz *time.Location) Hash {
	s, en := timesOf(e, tz)
	h := uint32(fnvOffset32)
	h = fnvString(h, normText(e.Subject))
	h = fnvString(h, normText(e.Body))
	return Hash{Time: timeHash(s, en), Text: nonZero(h)}
}

// hashReservation fingerprints what we sync from a reservation (not comments, where our
// marker lives, and not modified_at, which moves on a no-op save).
func hashReservation(r *Reservation) Hash {
	b, e := reservationTimes(r)
	h := uint32(fnvOffset32)
	h = fnvString(h, normText(r.Subject))
	h = fnvString(h, normText(r.Description))
	h = fnvString(h, strings.TrimSpace(r.ReserverName))
	h = fnvString(h, strings.ToLower(strings.TrimSpace(r.ReserverEmail)))
	return Hash{Time: timeHash(b, e), Text: nonZero(h)}
}

// stripOrganizer removes the organizer's name that a room mailbox puts in front of (or
// after) the subject, as the original product did, so Respa shows the meeting's own title.
func stripOrganizer(subject string, names ...string) string {
	s := strings.TrimSpace(subject)
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || len(n) > len(s) {
			continue
		}
		if strings.EqualFold(s, n) {
			return ""
		}
		if strings.EqualFold(s[:len(n)], n) && isSubjectSeparator(s[len(n)]) {
			return strings.TrimLeft(s[len(n):], " :-,;|")
		}
		if k := len(s) - len(n); strings.EqualFold(s[k:], n) && isSubjectSeparator(s[k-1]) {
			return strings.TrimRight(s[:k], " :-,;|")
		}
	}
	return s
}

func isSubjectSeparator(c byte) bool {
	return c == ' ' || c == ':' || c == '-' || c == ',' || c == ';' || c == '|'
}

// TemplateData is what the subject and body templates of Respa-born events can use.
type TemplateData struct {
	// Reserver is the reserver's name, else their email, else the reservation's subject.
	Reserver      string
	ReserverName  string
	ReserverEmail string
	Subject       string
	Description   string
	Resource      string
	Unit          string
	ReservationID string
	Begin, End    time.Time
}

// DefaultSubjectTemplate gives the original product's "Respa - <reserver>".
const DefaultSubjectTemplate = `{{if .Reserver}}Respa - {{.Reserver}}{{else}}Respa{{end}}`

// DefaultBodyTemplate carries the reservation's description as the event body.
const DefaultBodyTemplate = `{{.Description}}`

// Options configure one resource's pass; they come from the ExchangeResource spec.
type Options struct {
	Direction      Direction
	ConflictPolicy ConflictPolicy
	DeletionPolicy DeletionPolicy

	// MassDeletionThresholdPercent: a side whose planned deletes exceed this share of its
	// linked pairs (and MassDeletionMinimum) gets no deletes unless acknowledged.
	// 0 means DefaultMassDeletionPercent; 100 or more turns the guard off.
	MassDeletionThresholdPercent int
	// MassDeletionMinimum is the number of deletes always allowed; 0 means DefaultMassDeletionMinimum.
	MassDeletionMinimum      int
	MassDeletionAcknowledged bool

	Window Window
	// Now separates the past, which is never rewritten, from the future.
	Now time.Time

	// RoomEmail is the room mailbox's SMTP address (to spot the room as organizer).
	RoomEmail string
	// ResourceID is the Respa resource; reservations of other resources are ignored.
	ResourceID   string
	ResourceName string
	UnitName     string
	// TimeZone is the room's zone, used to read all-day events; nil means UTC.
	TimeZone *time.Location

	SubjectTemplate string
	BodyTemplate    string

	// Instance names the Respa instance in identity stamps (e.g. a short hash of its URL).
	// It must never change for a given Respa.
	Instance string
}

const (
	DefaultMassDeletionPercent = 25
	DefaultMassDeletionMinimum = 5
)

// settings are Options with defaults applied and templates compiled.
type settings struct {
	Options
	subject, body *template.Template
	location      string
}

func (o Options) compile() (*settings, error) {
	s := &settings{Options: o}
	if s.Direction == "" {
		s.Direction = Bidirectional
	}
	if s.ConflictPolicy == "" {
		s.ConflictPolicy = OriginWins
	}
	if s.DeletionPolicy == "" {
		s.DeletionPolicy = DeleteBoth
	}
	switch s.Direction {
	case Bidirectional, ExchangeToRespa, RespaToExchange:
	default:
		return nil, fmt.Errorf("unknown direction %q", s.Direction)
	}
	switch s.ConflictPolicy {
	case OriginWins, ExchangeWins, RespaWins:
	default:
		return nil, fmt.Errorf("unknown conflict policy %q", s.ConflictPolicy)
	}
	switch s.DeletionPolicy {
	case DeleteBoth, DeleteExchangeToRespa, DeleteRespaToExchange, DeleteNone:
	default:
		return nil, fmt.Errorf("unknown deletion policy %q", s.DeletionPolicy)
	}
	if s.MassDeletionThresholdPercent == 0 {
		s.MassDeletionThresholdPercent = DefaultMassDeletionPercent
	}
	if s.MassDeletionMinimum == 0 {
		s.MassDeletionMinimum = DefaultMassDeletionMinimum
	}
	if s.TimeZone == nil {
		s.TimeZone = time.UTC
	}
	if s.Instance == "" {
		return nil, fmt.Errorf("options: Instance is required to stamp events")
	}
	if strings.ContainsAny(s.Instance, "/ ") {
		return nil, fmt.Errorf("options: Instance %q must not contain '/' or spaces", s.Instance)
	}
	if !s.Window.End.After(s.Window.Start) {
		return nil, fmt.Errorf("options: empty window %s", s.Window)
	}
	var err error
	if s.subject, err = parseTemplate("subject", s.SubjectTemplate, DefaultSubjectTemplate); err != nil {
		return nil, err
	}
	if s.body, err = parseTemplate("body", s.BodyTemplate, DefaultBodyTemplate); err != nil {
		return nil, err
	}
	s.location = strings.TrimSpace(s.ResourceName)
	if u := strings.TrimSpace(s.UnitName); u != "" {
		if s.location != "" {
			s.location += ", "
		}
		s.location += u
	}
	return s, nil
}

func parseTemplate(name, text, def string) (*template.Template, error) {
	if text == "" {
		text = def
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse %s template: %w", name, err)
	}
	return t, nil
}

func (s *settings) templateData(r *Reservation) TemplateData {
	who := strings.TrimSpace(r.ReserverName)
	if who == "" {
		who = strings.TrimSpace(r.ReserverEmail)
	}
	if who == "" {
		who = strings.TrimSpace(r.Subject)
	}
	return TemplateData{
		Reserver: who, ReserverName: r.ReserverName, ReserverEmail: r.ReserverEmail,
		Subject: r.Subject, Description: r.Description,
		Resource: s.ResourceName, Unit: s.UnitName, ReservationID: r.ID,
		Begin: r.Begin.UTC(), End: r.End.UTC(),
	}
}

// render produces the subject and body of the event that mirrors a Respa-born reservation.
func (s *settings) render(r *Reservation) (subject, body string, err error) {
	data := s.templateData(r)
	var b strings.Builder
	if err := s.subject.Execute(&b, data); err != nil {
		return "", "", fmt.Errorf("render subject of reservation %s: %w", r.ID, err)
	}
	subject = strings.TrimSpace(b.String())
	b.Reset()
	if err := s.body.Execute(&b, data); err != nil {
		return "", "", fmt.Errorf("render body of reservation %s: %w", r.ID, err)
	}
	return subject, b.String(), nil
}

func (s *settings) isRoom(p Person) bool {
	return s.RoomEmail != "" && equalFoldTrim(p.Email, s.RoomEmail)
}
