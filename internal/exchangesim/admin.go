package exchangesim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Event describes a calendar entry created "as a person in Outlook would".
type Event struct {
	Subject  string    `json:"subject"`
	Body     string    `json:"body,omitempty"`
	BodyType string    `json:"bodyType,omitempty"`
	Location string    `json:"location,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	IsAllDay bool      `json:"isAllDay,omitempty"`
	// Organizer by SMTP or X500 address; RoutingType EX makes FindItem report
	// it in X500 form. Empty means the mailbox itself.
	Organizer          Person             `json:"organizer,omitempty"`
	RequiredAttendees  []Person           `json:"requiredAttendees,omitempty"`
	OptionalAttendees  []Person           `json:"optionalAttendees,omitempty"`
	Recurrence         *Recurrence        `json:"recurrence,omitempty"`
	ExtendedProperties []ExtendedProperty `json:"extendedProperties,omitempty"`
	UID                string             `json:"uid,omitempty"`
}

// EventChange edits an item or one occurrence; nil fields are left alone.
type EventChange struct {
	Subject            *string            `json:"subject,omitempty"`
	Body               *string            `json:"body,omitempty"`
	Location           *string            `json:"location,omitempty"`
	Start              *time.Time         `json:"start,omitempty"`
	End                *time.Time         `json:"end,omitempty"`
	IsAllDay           *bool              `json:"isAllDay,omitempty"`
	RequiredAttendees  *[]Person          `json:"requiredAttendees,omitempty"`
	Recurrence         *Recurrence        `json:"recurrence,omitempty"`
	ExtendedProperties []ExtendedProperty `json:"extendedProperties,omitempty"`
}

// ItemInfo is a calendar entry as the admin API shows it.
type ItemInfo struct {
	ID                 string             `json:"id"`
	ChangeKey          string             `json:"changeKey"`
	Type               string             `json:"type"` // Single, RecurringMaster, Occurrence, Exception
	UID                string             `json:"uid"`
	RecurrenceID       *time.Time         `json:"recurrenceId,omitempty"`
	Subject            string             `json:"subject"`
	Body               string             `json:"body,omitempty"`
	Location           string             `json:"location,omitempty"`
	Start              time.Time          `json:"start"`
	End                time.Time          `json:"end"`
	IsAllDay           bool               `json:"isAllDay,omitempty"`
	Organizer          Person             `json:"organizer"`
	RequiredAttendees  []Person           `json:"requiredAttendees,omitempty"`
	OptionalAttendees  []Person           `json:"optionalAttendees,omitempty"`
	Recurrence         *Recurrence        `json:"recurrence,omitempty"`
	ExtendedProperties []ExtendedProperty `json:"extendedProperties,omitempty"`
	Exceptions         []ItemInfo         `json:"exceptions,omitempty"`
	DeletedOccurrences []time.Time        `json:"deletedOccurrences,omitempty"`
}

// MailboxInfo names a mailbox and its X500 (EX) address.
type MailboxInfo struct {
	SMTP  string `json:"smtp"`
	Name  string `json:"name,omitempty"`
	X500  string `json:"x500,omitempty"`
	Items int    `json:"items"`
}

// Account is a user that signs in with HTTP Basic. Mailbox, when set, is its
// own mailbox; Impersonate lists mailboxes it may impersonate ("*" for all).
type Account struct {
	User        string   `json:"user"`
	Password    string   `json:"password"`
	Mailbox     string   `json:"mailbox,omitempty"`
	Impersonate []string `json:"impersonate,omitempty"`
}

// App is an OAuth2 client of the token endpoint (client credentials).
type App struct {
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
	Impersonate  []string `json:"impersonate,omitempty"`
}

// SeedMailbox is a mailbox with its first calendar entries.
type SeedMailbox struct {
	SMTP   string  `json:"smtp"`
	Name   string  `json:"name,omitempty"`
	Events []Event `json:"events,omitempty"`
}

// Seed is the JSON seed file of the command and of POST /admin/seed.
type Seed struct {
	Mailboxes []SeedMailbox `json:"mailboxes"`
	Accounts  []Account     `json:"accounts,omitempty"`
	Apps      []App         `json:"apps,omitempty"`
}

var errUnknownMailbox = errors.New("unknown mailbox")

// AddMailbox creates a mailbox (or renames an existing one).
func (s *Server) AddMailbox(smtp, name string) (MailboxInfo, error) {
	if !strings.Contains(smtp, "@") {
		return MailboxInfo{}, fmt.Errorf("add mailbox %q: not an SMTP address", smtp)
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	mb := s.store.addMailbox(smtp, name)
	return MailboxInfo{SMTP: mb.smtp, Name: mb.name, X500: mb.x500, Items: len(mb.items)}, nil
}

// Mailboxes lists the mailboxes.
func (s *Server) Mailboxes() []MailboxInfo {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	var out []MailboxInfo
	for _, k := range sortedKeys(s.store.mailboxes) {
		mb := s.store.mailboxes[k]
		out = append(out, MailboxInfo{SMTP: mb.smtp, Name: mb.name, X500: mb.x500, Items: len(mb.items)})
	}
	return out
}

// AddAccount adds a Basic-auth user with its grants.
func (s *Server) AddAccount(a Account) error {
	if a.User == "" {
		return errors.New("add account: empty user name")
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	p := "user:" + strings.ToLower(a.User)
	s.accounts[strings.ToLower(a.User)] = a.Password
	if a.Mailbox != "" {
		s.ownMailbox[p] = a.Mailbox
	}
	s.grantLocked(p, a.Impersonate)
	return nil
}

// AddApp registers an OAuth2 client with its grants.
func (s *Server) AddApp(a App) error {
	if a.ClientID == "" {
		return errors.New("add app: empty client id")
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.apps[a.ClientID] = a.ClientSecret
	s.grantLocked("app:"+a.ClientID, a.Impersonate)
	return nil
}

// Grant lets an account ("user:<name>") or app ("app:<client id>") impersonate mailboxes.
func (s *Server) Grant(principal string, mailboxes ...string) error {
	if !strings.HasPrefix(principal, "user:") && !strings.HasPrefix(principal, "app:") {
		return fmt.Errorf("grant: principal %q is neither user:<name> nor app:<client id>", principal)
	}
	if strings.HasPrefix(principal, "user:") {
		principal = strings.ToLower(principal)
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.grantLocked(principal, mailboxes)
	return nil
}

// Revoke removes all impersonation grants of a principal.
func (s *Server) Revoke(principal string) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	delete(s.grants, principal)
}

func (s *Server) grantLocked(principal string, mailboxes []string) {
	if len(mailboxes) == 0 {
		return
	}
	g := s.grants[principal]
	if g == nil {
		g = map[string]bool{}
		s.grants[principal] = g
	}
	for _, m := range mailboxes {
		g[strings.ToLower(m)] = true
	}
}

// ExpireTokens makes every issued access token invalid, as time would.
func (s *Server) ExpireTokens() {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.tokens = map[string]token{}
}

// ApplySeed creates the seed's mailboxes, events, accounts and apps.
func (s *Server) ApplySeed(seed Seed) error {
	for _, m := range seed.Mailboxes {
		if _, err := s.AddMailbox(m.SMTP, m.Name); err != nil {
			return err
		}
	}
	for _, m := range seed.Mailboxes {
		for _, e := range m.Events {
			if _, err := s.CreateEvent(m.SMTP, e); err != nil {
				return fmt.Errorf("seed %s: %w", m.SMTP, err)
			}
		}
	}
	for _, a := range seed.Accounts {
		if err := s.AddAccount(a); err != nil {
			return err
		}
	}
	for _, a := range seed.Apps {
		if err := s.AddApp(a); err != nil {
			return err
		}
	}
	return nil
}

// Reset forgets everything: mailboxes, accounts, tokens, faults, subscriptions, counters.
func (s *Server) Reset() {
	s.KillStreams("")
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	// Cleared in place: handlers in flight keep a valid store. The change
	// sequence keeps counting, so old SyncStates stay distinguishable.
	s.store.mailboxes = map[string]*mailbox{}
	s.store.byID = map[string]*item{}
	s.resetLocked()
}

// CreateEvent adds a calendar entry to a mailbox.
func (s *Server) CreateEvent(mailbox string, e Event) (ItemInfo, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	mb := s.store.mailbox(mailbox)
	if mb == nil {
		return ItemInfo{}, fmt.Errorf("create event in %s: %w", mailbox, errUnknownMailbox)
	}
	f := Fields{Subject: e.Subject, Body: e.Body, BodyType: e.BodyType, Location: e.Location, Start: e.Start.UTC(), End: e.End.UTC(),
		AllDay: e.IsAllDay, Organizer: e.Organizer, Ext: e.ExtendedProperties}
	if e.Organizer.SMTP != "" {
		if s.store.mailboxByAddress(e.Organizer.SMTP) == nil && e.Organizer.RoutingType == "EX" {
			return ItemInfo{}, fmt.Errorf("create event in %s: EX organizer %s is not a known mailbox", mailbox, e.Organizer.SMTP)
		}
		if strings.HasPrefix(e.Organizer.SMTP, "/") {
			f.Organizer.RoutingType = "EX"
		}
	}
	for _, p := range e.RequiredAttendees {
		f.Required = append(f.Required, s.store.personName(p))
	}
	for _, p := range e.OptionalAttendees {
		f.Optional = append(f.Optional, s.store.personName(p))
	}
	if err := checkTimes(f); err != nil {
		return ItemInfo{}, fmt.Errorf("create event in %s: %w", mailbox, err)
	}
	if e.Recurrence != nil {
		if err := checkRecurrence(e.Recurrence, f.Start); err != nil {
			return ItemInfo{}, fmt.Errorf("create event in %s: %w", mailbox, err)
		}
	}
	normalizeAllDay(&f, time.UTC)
	it := s.store.createItem(mb, f, e.Recurrence, e.UID)
	return s.infoLocked(it), nil
}

func checkRecurrence(r *Recurrence, start time.Time) error {
	if r.Pattern != "Daily" && r.Pattern != "Weekly" {
		return fmt.Errorf("recurrence pattern %q: want Daily or Weekly", r.Pattern)
	}
	if r.StartDate == "" {
		r.StartDate = start.UTC().Format("2006-01-02")
	}
	if _, err := time.Parse("2006-01-02", r.StartDate); err != nil {
		return fmt.Errorf("recurrence start date: %w", err)
	}
	return nil
}

// findRefLocked resolves an id of a master, single item or occurrence in a mailbox.
func (s *Server) findRefLocked(mailbox, id string) (ref, error) {
	mb := s.store.mailbox(mailbox)
	if mb == nil {
		return ref{}, fmt.Errorf("%s: %w", mailbox, errUnknownMailbox)
	}
	if master, series, start, ok := decodeOccurrenceID(id); ok {
		it := mb.items[master]
		if it == nil || it.series != series {
			return ref{}, fmt.Errorf("occurrence %s in %s: %w", id, mailbox, errNotFound)
		}
		o, found := it.occurrenceAt(start)
		if !found {
			return ref{}, fmt.Errorf("occurrence %s in %s: %w", id, mailbox, errNotFound)
		}
		return ref{it: it, occ: &o}, nil
	}
	it := mb.items[id]
	if it == nil {
		return ref{}, fmt.Errorf("item %s in %s: %w", id, mailbox, errNotFound)
	}
	return ref{it: it}, nil
}

// UpdateEvent moves, retitles or otherwise edits an item, a whole series, or
// (given an occurrence id) one occurrence, which becomes an exception.
func (s *Server) UpdateEvent(mailbox, id string, ch EventChange) (ItemInfo, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	r, err := s.findRefLocked(mailbox, id)
	if err != nil {
		return ItemInfo{}, fmt.Errorf("update event: %w", err)
	}
	it := r.it
	var f Fields
	if r.occ != nil {
		f = r.occ.fields()
	} else {
		f = it.Fields.clone()
	}
	before := f
	seriesChanged := false
	if ch.Subject != nil {
		f.Subject = *ch.Subject
	}
	if ch.Body != nil {
		f.Body = *ch.Body
	}
	if ch.Location != nil {
		f.Location = *ch.Location
	}
	if ch.Start != nil {
		f.Start, seriesChanged = ch.Start.UTC(), true
	}
	if ch.End != nil {
		f.End, seriesChanged = ch.End.UTC(), true
	}
	if ch.IsAllDay != nil {
		f.AllDay = *ch.IsAllDay
	}
	if ch.RequiredAttendees != nil {
		f.Required = nil
		for _, p := range *ch.RequiredAttendees {
			f.Required = append(f.Required, s.store.personName(p))
		}
	}
	for _, p := range ch.ExtendedProperties {
		f.setExt(p)
	}
	if err := checkTimes(f); err != nil {
		return ItemInfo{}, fmt.Errorf("update event %s: %w", id, err)
	}
	if boundsChanged(before, f) {
		normalizeAllDay(&f, time.UTC)
	}
	if r.occ != nil {
		if ch.Recurrence != nil {
			return ItemInfo{}, fmt.Errorf("update event %s: an occurrence has no recurrence of its own", id)
		}
		if err := crossesBoundary(it, r.occ.originalStart, f.Start); err != nil {
			return ItemInfo{}, fmt.Errorf("update event %s: %w", id, err)
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
		o, _ := it.occurrenceAt(key)
		return occurrenceInfo(o), nil
	}
	if ch.Recurrence != nil {
		if err := checkRecurrence(ch.Recurrence, f.Start); err != nil {
			return ItemInfo{}, fmt.Errorf("update event %s: %w", id, err)
		}
		rc := *ch.Recurrence
		it.recurrence, seriesChanged = &rc, true
	}
	it.Fields = f
	if seriesChanged && it.recurrence != nil {
		it.series++
		it.exceptions = map[int64]*exception{}
		it.deleted = map[int64]bool{}
	}
	s.store.touch(it)
	return s.infoLocked(it), nil
}

// DeleteEvent cancels an item or series, or deletes one occurrence.
func (s *Server) DeleteEvent(mailbox, id string) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	r, err := s.findRefLocked(mailbox, id)
	if err != nil {
		return fmt.Errorf("delete event: %w", err)
	}
	s.deleteRef(r)
	return nil
}

// Items lists a mailbox's singles and recurring masters with their
// exceptions, deleted occurrences and extended properties.
func (s *Server) Items(mailbox string) ([]ItemInfo, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	mb := s.store.mailbox(mailbox)
	if mb == nil {
		return nil, fmt.Errorf("list items of %s: %w", mailbox, errUnknownMailbox)
	}
	var out []ItemInfo
	for _, v := range mb.masters() {
		out = append(out, s.infoLocked(v.it))
	}
	return out, nil
}

// Item returns one item or occurrence by id.
func (s *Server) Item(mailbox, id string) (ItemInfo, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	r, err := s.findRefLocked(mailbox, id)
	if err != nil {
		return ItemInfo{}, fmt.Errorf("get item: %w", err)
	}
	if r.occ != nil {
		return occurrenceInfo(*r.occ), nil
	}
	return s.infoLocked(r.it), nil
}

// CalendarView lists singles, occurrences and exceptions in [start, end).
func (s *Server) CalendarView(mailbox string, start, end time.Time) ([]ItemInfo, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	mb := s.store.mailbox(mailbox)
	if mb == nil {
		return nil, fmt.Errorf("calendar view of %s: %w", mailbox, errUnknownMailbox)
	}
	var out []ItemInfo
	for _, v := range mb.calendarView(start.UTC(), end.UTC()) {
		if v.occ != nil {
			out = append(out, occurrenceInfo(*v.occ))
		} else {
			out = append(out, s.infoLocked(v.it))
		}
	}
	return out, nil
}

func fieldsInfo(info *ItemInfo, f Fields) {
	info.Subject, info.Body, info.Location = f.Subject, f.Body, f.Location
	info.Start, info.End, info.IsAllDay = f.Start, f.End, f.AllDay
	info.Organizer, info.RequiredAttendees, info.OptionalAttendees = f.Organizer, f.Required, f.Optional
	info.ExtendedProperties = f.Ext
}

func occurrenceInfo(o occurrence) ItemInfo {
	v := occurrenceView(o)
	rid := o.originalStart
	info := ItemInfo{ID: v.id, ChangeKey: v.changeKey, Type: v.kind, UID: o.master.uid, RecurrenceID: &rid}
	fieldsInfo(&info, v.Fields)
	return info
}

func (s *Server) infoLocked(it *item) ItemInfo {
	v := masterView(it)
	info := ItemInfo{ID: v.id, ChangeKey: v.changeKey, Type: v.kind, UID: it.uid, Recurrence: it.recurrence}
	fieldsInfo(&info, it.Fields.clone())
	if it.recurrence != nil {
		for _, o := range it.occurrences(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
			if o.exc != nil {
				info.Exceptions = append(info.Exceptions, occurrenceInfo(o))
			}
		}
		for _, k := range sortedInt64(it.deleted) {
			info.DeletedOccurrences = append(info.DeletedOccurrences, time.Unix(k, 0).UTC())
		}
	}
	return info
}

// ---- admin HTTP API ----

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /admin/seed", func(w http.ResponseWriter, r *http.Request) {
		var seed Seed
		if decode(w, r, &seed) {
			reply(w, http.StatusNoContent, nil, s.ApplySeed(seed))
		}
	})
	mux.HandleFunc("GET /admin/mailboxes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, s.Mailboxes(), nil)
	})
	mux.HandleFunc("POST /admin/mailboxes", func(w http.ResponseWriter, r *http.Request) {
		var m MailboxInfo
		if decode(w, r, &m) {
			info, err := s.AddMailbox(m.SMTP, m.Name)
			reply(w, http.StatusCreated, info, err)
		}
	})
	mux.HandleFunc("POST /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		var a Account
		if decode(w, r, &a) {
			reply(w, http.StatusNoContent, nil, s.AddAccount(a))
		}
	})
	mux.HandleFunc("POST /admin/apps", func(w http.ResponseWriter, r *http.Request) {
		var a App
		if decode(w, r, &a) {
			reply(w, http.StatusNoContent, nil, s.AddApp(a))
		}
	})
	mux.HandleFunc("POST /admin/grants", func(w http.ResponseWriter, r *http.Request) {
		var g struct {
			Principal string   `json:"principal"`
			Mailboxes []string `json:"mailboxes"`
		}
		if decode(w, r, &g) {
			reply(w, http.StatusNoContent, nil, s.Grant(g.Principal, g.Mailboxes...))
		}
	})
	mux.HandleFunc("GET /admin/mailboxes/{mailbox}/items", func(w http.ResponseWriter, r *http.Request) {
		items, err := s.Items(r.PathValue("mailbox"))
		reply(w, http.StatusOK, items, err)
	})
	mux.HandleFunc("POST /admin/mailboxes/{mailbox}/items", func(w http.ResponseWriter, r *http.Request) {
		var e Event
		if decode(w, r, &e) {
			info, err := s.CreateEvent(r.PathValue("mailbox"), e)
			reply(w, http.StatusCreated, info, err)
		}
	})
	mux.HandleFunc("GET /admin/mailboxes/{mailbox}/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		info, err := s.Item(r.PathValue("mailbox"), r.PathValue("id"))
		reply(w, http.StatusOK, info, err)
	})
	mux.HandleFunc("PATCH /admin/mailboxes/{mailbox}/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		var ch EventChange
		if decode(w, r, &ch) {
			info, err := s.UpdateEvent(r.PathValue("mailbox"), r.PathValue("id"), ch)
			reply(w, http.StatusOK, info, err)
		}
	})
	mux.HandleFunc("DELETE /admin/mailboxes/{mailbox}/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, s.DeleteEvent(r.PathValue("mailbox"), r.PathValue("id")))
	})
	mux.HandleFunc("GET /admin/mailboxes/{mailbox}/view", func(w http.ResponseWriter, r *http.Request) {
		start, err1 := time.Parse(time.RFC3339, r.URL.Query().Get("start"))
		end, err2 := time.Parse(time.RFC3339, r.URL.Query().Get("end"))
		if err := errors.Join(err1, err2); err != nil {
			reply(w, 0, nil, fmt.Errorf("view: start and end must be RFC 3339 times: %w", err))
			return
		}
		items, err := s.CalendarView(r.PathValue("mailbox"), start, end)
		reply(w, http.StatusOK, items, err)
	})
	mux.HandleFunc("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if decode(w, r, &f) {
			reply(w, http.StatusNoContent, nil, s.InjectFault(f))
		}
	})
	mux.HandleFunc("DELETE /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /admin/counters", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, s.Counters(), nil)
	})
	mux.HandleFunc("POST /admin/streams/kill", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]int{"killed": s.KillStreams(r.URL.Query().Get("mailbox"))}, nil)
	})
	mux.HandleFunc("POST /admin/subscriptions/kill", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]int{"killed": s.KillSubscriptions(r.URL.Query().Get("mailbox"))}, nil)
	})
	mux.HandleFunc("POST /admin/tokens/expire", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AdminToken != "" {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.AdminToken)) != 1 {
				reply(w, http.StatusUnauthorized, nil, errors.New("the admin API needs its bearer token"))
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		reply(w, http.StatusBadRequest, nil, fmt.Errorf("decode request body: %w", err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errNotFound) || errors.Is(err, errUnknownMailbox) {
			code = http.StatusNotFound
		} else if status == http.StatusUnauthorized {
			code = status
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// DemoSeed is a small tenant: two rooms, an organizer, an impersonating
// service account and an OAuth2 app, with a few meetings around now.
func DemoSeed(now time.Time) Seed {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	at := func(d, h int) time.Time { return day.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	organizer := Person{Name: "Maija Meikäläinen", SMTP: "maija@example.com", RoutingType: "EX"}
	return Seed{
		Mailboxes: []SeedMailbox{
			{SMTP: "maija@example.com", Name: "Maija Meikäläinen"},
			{SMTP: "room-sauna@example.com", Name: "Sauna meeting room", Events: []Event{
				{Subject: "Team weekly", Start: at(1, 8), End: at(1, 9), Organizer: organizer,
					Recurrence: &Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: []string{day.AddDate(0, 0, 1).Weekday().String()}, NumberOfOccurrences: 10}},
				{Subject: "Budget review", Location: "Sauna", Start: at(2, 10), End: at(2, 11), Organizer: Person{SMTP: "external@partner.example", Name: "Partner"}},
			}},
			{SMTP: "room-kirjasto@example.com", Name: "Kirjasto room", Events: []Event{
				{Subject: "Daily stand-up", Start: at(0, 7), End: at(0, 7).Add(15 * time.Minute), Organizer: organizer,
					Recurrence: &Recurrence{Pattern: "Daily", Interval: 1, NumberOfOccurrences: 20}},
			}},
		},
		Accounts: []Account{{User: "svc-respa", Password: "demo-password", Impersonate: []string{"room-sauna@example.com", "room-kirjasto@example.com"}}},
		Apps:     []App{{ClientID: "respa-operator", ClientSecret: "demo-secret", Impersonate: []string{"*"}}},
	}
}
