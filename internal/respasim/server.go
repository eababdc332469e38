package respasim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // units' time zones without relying on the host's zoneinfo
)

// Pagination constants from Respa's resources/pagination.py.
const (
	DefaultPageSize = 20
	MaxPageSize     = 500
)

// Options configure a Server.
type Options struct {
	// Now is the simulator's clock; nil means time.Now.
	Now func() time.Time
	// Latency is added to every API request (not to /admin/).
	Latency time.Duration
	// OmitTimestamps leaves created_at and modified_at out of reservation
	// bodies, as Respa's own serializer does (see the package doc).
	OmitTimestamps bool
}

// Server is a stateful Respa simulator; it is an http.Handler.
type Server struct {
	opts Options

	mu           sync.Mutex
	units        map[string]*Unit
	resources    map[string]*Resource
	users        map[string]*User // by username
	tokens       map[string]*Token
	reservations map[int]*Reservation
	byResource   map[string][]int
	nextID       int
	faults       []*Fault
	counters     map[string]int64

	closing chan struct{}
	closed  sync.Once
}

// New returns an empty simulator.
func New(opts Options) *Server {
	s := &Server{opts: opts, closing: make(chan struct{})}
	s.resetLocked()
	return s
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now().UTC()
	}
	return time.Now().UTC()
}

// Close releases requests held by Hang faults.
func (s *Server) Close() { s.closed.Do(func() { close(s.closing) }) }

func (s *Server) resetLocked() {
	s.units = map[string]*Unit{}
	s.resources = map[string]*Resource{}
	s.users = map[string]*User{}
	s.tokens = map[string]*Token{}
	s.reservations = map[int]*Reservation{}
	s.byResource = map[string][]int{}
	s.nextID = 0
	s.faults = nil
	s.counters = map[string]int64{}
}

func tokenKey(kind, key string) string {
	if strings.EqualFold(kind, "jwt") {
		kind = "Bearer"
	}
	return strings.ToLower(kind) + " " + key
}

func (s *Server) unitLocation(unitID string) *time.Location {
	if u := s.units[unitID]; u != nil && u.TimeZone != "" {
		if loc, err := time.LoadLocation(u.TimeZone); err == nil {
			return loc
		}
	}
	return helsinki
}

var helsinki = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// pathKind names the endpoint a request hit, for counters and faults.
func pathKind(p string) string {
	switch {
	case strings.HasPrefix(p, "/admin/"):
		return "admin"
	case p == "/v1/reservation/":
		return "reservation-list"
	case strings.HasPrefix(p, "/v1/reservation/"):
		return "reservation-detail"
	case p == "/v1/resource/":
		return "resource-list"
	case strings.HasPrefix(p, "/v1/resource/"):
		return "resource-detail"
	case strings.HasPrefix(p, "/v1/user/"):
		return "user"
	}
	return "other"
}

// ServeHTTP routes the Respa API under /v1/ and the admin API under /admin/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := pathKind(r.URL.Path)
	s.mu.Lock()
	s.counters[r.Method+" "+kind]++
	fault := s.matchFaultLocked(r)
	s.mu.Unlock()

	if kind == "admin" {
		s.serveAdmin(w, r)
		return
	}
	if s.opts.Latency > 0 && !sleepCtx(r.Context(), s.opts.Latency) {
		return
	}
	if fault != nil {
		if fault.Delay > 0 && !sleepCtx(r.Context(), time.Duration(fault.Delay)) {
			return
		}
		if fault.Hang {
			select {
			case <-r.Context().Done():
			case <-s.closing:
			}
			return
		}
		if fault.Status != 0 {
			if fault.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(fault.RetryAfter))
			}
			body := fault.Body
			if body == "" {
				body = fmt.Sprintf("<h1>Server Error (%d)</h1>", fault.Status)
				w.Header().Set("Content-Type", "text/html")
			}
			w.WriteHeader(fault.Status)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	s.serveAPI(w, r)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) matchFaultLocked(r *http.Request) *Fault {
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if !strings.HasPrefix(r.URL.Path, f.PathPrefix) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Token`)
	}
	writeJSON(w, e.status, e.body)
}

// authenticate maps the Authorization header to a user. No header, or a
// scheme Respa does not handle, is anonymous; a known scheme with an
// unknown credential is 401 as DRF's authenticators answer it.
// jwtOnly is true on /v1/user/, which Respa serves with its default
// (JWT) authentication only.
func (s *Server) authenticate(r *http.Request, jwtOnly bool) (*User, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "token":
		if jwtOnly {
			return nil, nil
		}
		if cred == "" {
			return nil, detailError(http.StatusUnauthorized, "Invalid token header. No credentials provided.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.tokens[tokenKey("Token", cred)]
		if t == nil || s.users[t.Username] == nil {
			return nil, detailError(http.StatusUnauthorized, msgInvalidToken)
		}
		return s.users[t.Username], nil
	case "bearer", "jwt":
		if cred == "" {
			return nil, detailError(http.StatusUnauthorized, "Invalid Authorization header. No credentials provided.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.tokens[tokenKey("Bearer", cred)]
		if t == nil || s.users[t.Username] == nil {
			return nil, detailError(http.StatusUnauthorized, msgBadSignature)
		}
		return s.users[t.Username], nil
	}
	return nil, nil
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	u, aerr := s.authenticate(r, strings.HasPrefix(p, "/v1/user/"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
	// IsAuthenticatedOrReadOnly runs before any object lookup.
	if !safe && u == nil {
		writeAPIError(w, detailError(http.StatusUnauthorized, msgNotProvided))
		return
	}
	switch {
	case p == "/v1/reservation/":
		switch r.Method {
		case http.MethodGet:
			s.listReservations(w, r, u)
		case http.MethodPost:
			s.postReservation(w, r, u)
		default:
			methodNotAllowed(w, r)
		}
	case strings.HasPrefix(p, "/v1/reservation/"):
		id, ok := detailID(p, "/v1/reservation/")
		n, err := strconv.Atoi(id)
		if !ok || err != nil {
			writeAPIError(w, detailError(http.StatusNotFound, msgNotFound))
			return
		}
		s.reservationDetail(w, r, u, n)
	case p == "/v1/resource/":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r)
			return
		}
		s.listResources(w, r, u)
	case strings.HasPrefix(p, "/v1/resource/"):
		id, ok := detailID(p, "/v1/resource/")
		if !ok {
			writeAPIError(w, detailError(http.StatusNotFound, msgNotFound))
			return
		}
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r)
			return
		}
		s.getResource(w, r, u, id)
	case p == "/v1/user/":
		if u == nil {
			writeAPIError(w, detailError(http.StatusUnauthorized, msgNotProvided))
			return
		}
		s.mu.Lock()
		body := map[string]any{"count": 1, "next": nil, "previous": nil, "results": []any{userJSON(u)}}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, body)
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<h1>Not Found</h1>"))
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": fmt.Sprintf("Method \"%s\" not allowed.", r.Method)})
}

// detailID takes "<id>" out of prefix + "<id>/".
func detailID(p, prefix string) (string, bool) {
	rest := strings.TrimPrefix(p, prefix)
	id, ok := strings.CutSuffix(rest, "/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

func userJSON(u *User) map[string]any {
	return map[string]any{
		"username": u.Username, "email": u.Email, "uuid": u.ID, "display_name": u.DisplayName,
		"is_staff": u.Staff, "staff_perms": map[string]any{}, "first_name": "", "last_name": "",
	}
}

// parseBool is DRF's BooleanField parsing of query values.
func parseBool(v string) (bool, bool) {
	switch v {
	case "true", "True", "TRUE", "1", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON", "t", "T":
		return true, true
	case "false", "False", "FALSE", "0", "no", "No", "NO", "n", "N", "off", "Off", "OFF", "f", "F":
		return false, true
	}
	return false, false
}

// parseQueryTime reads start/end the way arrow.get does for the forms a
// client sends: RFC 3339 with or without fraction, or a plain date.
func parseQueryTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		loc := time.UTC
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseBodyTime reads begin/end as DRF's DateTimeField does: ISO 8601,
// naive values in Respa's TIME_ZONE (Europe/Helsinki).
func parseBodyTime(v string) (time.Time, bool) {
	v = strings.Replace(v, " ", "T", 1)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC().Truncate(time.Microsecond), true
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, v, helsinki); err == nil {
			return t.UTC().Truncate(time.Microsecond), true
		}
	}
	return time.Time{}, false
}

// formatTime renders a time as Respa does: local time in Respa's TIME_ZONE
// with its offset, Python isoformat style (microseconds only when set).
func formatTime(t time.Time) string {
	lt := t.In(helsinki)
	base := lt.Format("2006-01-02T15:04:05")
	if us := lt.Nanosecond() / 1000; us != 0 {
		base += fmt.Sprintf(".%06d", us)
	}
	off := lt.Format("-07:00")
	if off == "+00:00" {
		off = "Z"
	}
	return base + off
}

// page is a DRF PageNumberPagination page.
type page struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []any   `json:"results"`
}

// paginate applies ReservationPagination: page_size is a strictly positive
// integer capped at 500, anything else falls back to 20; an out-of-range
// page is 404 "Invalid page.".
func paginate(r *http.Request, n int, render func(i int) any) (*page, *apiError) {
	q := r.URL.Query()
	size := DefaultPageSize
	if v, err := strconv.Atoi(q.Get("page_size")); err == nil && v > 0 {
		size = min(v, MaxPageSize)
	}
	num := 1
	if v := q.Get("page"); v != "" {
		if v == "last" {
			num = max(1, (n+size-1)/size)
		} else if n, err := strconv.Atoi(v); err == nil && n > 0 {
			num = n
		} else {
			return nil, detailError(http.StatusNotFound, "Invalid page.")
		}
	}
	pages := max(1, (n+size-1)/size)
	if num > pages {
		return nil, detailError(http.StatusNotFound, "Invalid page.")
	}
	lo := (num - 1) * size
	hi := min(lo+size, n)
	p := &page{Count: n, Results: make([]any, 0, hi-lo)}
	for i := lo; i < hi; i++ {
		p.Results = append(p.Results, render(i))
	}
	link := func(n int) *string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		qq := r.URL.Query()
		if n == 1 {
			qq.Del("page")
		} else {
			qq.Set("page", strconv.Itoa(n))
		}
		u.RawQuery = qq.Encode()
		s := u.String()
		return &s
	}
	if num < pages {
		p.Next = link(num + 1)
	}
	if num > 1 {
		p.Previous = link(num - 1)
	}
	return p, nil
}

func (s *Server) listReservations(w http.ResponseWriter, r *http.Request, u *User) {
	q := r.URL.Query()
	now := s.now()
	var start, end time.Time
	dated := false
	for _, name := range []string{"start", "end"} {
		v, ok := q[name]
		if !ok {
			continue
		}
		dated = true
		t, ok := parseQueryTime(v[0])
		if !ok {
			writeAPIError(w, detailError(http.StatusBadRequest, fmt.Sprintf("'%s' must be a timestamp in ISO 8601 format", name)))
			return
		}
		if name == "start" {
			start = t
		} else {
			end = t
		}
	}
	hidePast := !dated
	if hidePast {
		if v := q.Get("all"); v != "" {
			all, ok := parseBool(v)
			if !ok {
				writeJSON(w, http.StatusBadRequest, []string{"Must be a valid boolean."})
				return
			}
			hidePast = !all
		}
	}
	var resourceSet map[string]bool
	if v := q.Get("resource"); v != "" {
		resourceSet = map[string]bool{}
		for _, id := range strings.Split(v, ",") {
			resourceSet[id] = true
		}
	}
	var stateSet map[string]bool
	if v := strings.ReplaceAll(q.Get("state"), " ", ""); v != "" {
		stateSet = map[string]bool{}
		for _, st := range strings.Split(v, ",") {
			stateSet[st] = true
		}
	}
	var isOwn *bool
	if v := q.Get("is_own"); v != "" && u != nil {
		b, ok := parseBool(v)
		if !ok {
			writeAPIError(w, detailError(http.StatusBadRequest, "Invalid value in filter is_own"))
			return
		}
		isOwn = &b
	}
	unit := q.Get("unit")
	subject := strings.ToLower(q.Get("event_subject"))
	descending := q.Get("ordering") == "-begin"

	s.mu.Lock()
	var matched []*Reservation
	for _, rv := range s.reservations {
		if !s.visibleTo(u, rv) {
			continue
		}
		if resourceSet != nil && !resourceSet[rv.ResourceID] {
			continue
		}
		if unit != "" && s.resources[rv.ResourceID].UnitID != unit {
			continue
		}
		if stateSet != nil && !stateSet[rv.State] {
			continue
		}
		if isOwn != nil && (rv.UserID == u.ID) != *isOwn {
			continue
		}
		if subject != "" && !strings.Contains(strings.ToLower(rv.EventSubject), subject) {
			continue
		}
		if hidePast && rv.End.Before(now) {
			continue
		}
		// Respa's overlap: end >= start and begin <= end, both inclusive.
		if !start.IsZero() && rv.End.Before(start) {
			continue
		}
		if !end.IsZero() && rv.Begin.After(end) {
			continue
		}
		matched = append(matched, rv)
	}
	s.sortReservationsLocked(matched, descending)
	p, aerr := paginate(r, len(matched), func(i int) any { return s.reservationJSONLocked(r, u, matched[i]) })
	s.mu.Unlock()
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// sortReservationsLocked orders as Respa's queryset does (begin, unit name,
// resource name) and then by id, a tie-breaker Respa lacks.
func (s *Server) sortReservationsLocked(rs []*Reservation, descending bool) {
	type keyed struct {
		r              *Reservation
		unit, resource string
	}
	ks := make([]keyed, len(rs))
	for i, r := range rs {
		k := keyed{r: r}
		if res := s.resources[r.ResourceID]; res != nil {
			k.resource = res.Name["fi"]
			if u := s.units[res.UnitID]; u != nil {
				k.unit = u.Name["fi"]
			}
		}
		ks[i] = k
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if !a.r.Begin.Equal(b.r.Begin) {
			return a.r.Begin.Before(b.r.Begin) != descending
		}
		if a.unit != b.unit {
			return a.unit < b.unit
		}
		if a.resource != b.resource {
			return a.resource < b.resource
		}
		return a.r.ID < b.r.ID
	})
	for i := range ks {
		rs[i] = ks[i].r
	}
}

// reservationJSONLocked renders a reservation for user u, hiding what
// Respa hides: comments and user from non-staff, extra fields from those
// who neither own the reservation nor are staff.
func (s *Server) reservationJSONLocked(r *http.Request, u *User, rv *Reservation) map[string]any {
	res := s.resources[rv.ResourceID]
	own := u != nil && rv.UserID != "" && rv.UserID == u.ID
	staff := u != nil && u.Staff
	canModify := s.canModify(u, rv)
	m := map[string]any{
		"url":                      fmt.Sprintf("http://%s/v1/reservation/%d/", r.Host, rv.ID),
		"id":                       rv.ID,
		"resource":                 rv.ResourceID,
		"begin":                    formatTime(rv.Begin),
		"end":                      formatTime(rv.End),
		"is_own":                   own,
		"state":                    rv.State,
		"need_manual_confirmation": res.NeedManualConfirmation,
		"staff_event":              rv.StaffEvent,
		"user_permissions":         map[string]bool{"can_modify": canModify, "can_delete": canModify},
		"type":                     rv.Type,
	}
	if !s.opts.OmitTimestamps {
		m["created_at"] = formatTime(rv.CreatedAt)
		m["modified_at"] = formatTime(rv.ModifiedAt)
	}
	if staff {
		m["comments"] = nullable(rv.Comments)
		m["user"] = nil
		for _, ru := range s.users {
			if ru.ID == rv.UserID {
				m["user"] = map[string]any{"id": ru.ID, "display_name": ru.DisplayName, "email": ru.Email}
			}
		}
	}
	if own || staff {
		values := map[string]any{
			"event_subject": rv.EventSubject, "event_description": rv.EventDescription,
			"reserver_name": rv.ReserverName, "reserver_email_address": rv.ReserverEmailAddress,
			"reserver_phone_number": rv.ReserverPhoneNumber, "host_name": rv.HostName,
			"participants": rv.Participants, "number_of_participants": rv.NumberOfParticipants,
		}
		for _, f := range supportedFields(res) {
			if v, ok := values[f]; ok {
				m[f] = v
			}
		}
	}
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) postReservation(w http.ResponseWriter, r *http.Request, u *User) {
	in, aerr := decodeReservation(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rv, aerr := s.create(u, in)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	writeJSON(w, http.StatusCreated, s.reservationJSONLocked(r, u, rv))
}

func (s *Server) reservationDetail(w http.ResponseWriter, r *http.Request, u *User, id int) {
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		rv, aerr := s.lookup(u, id)
		if aerr != nil {
			writeAPIError(w, aerr)
			return
		}
		writeJSON(w, http.StatusOK, s.reservationJSONLocked(r, u, rv))
	case http.MethodPut, http.MethodPatch:
		in, aerr := decodeReservation(r)
		if aerr != nil {
			writeAPIError(w, aerr)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		rv, aerr := s.update(u, id, in, r.Method == http.MethodPatch)
		if aerr != nil {
			writeAPIError(w, aerr)
			return
		}
		writeJSON(w, http.StatusOK, s.reservationJSONLocked(r, u, rv))
	case http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		if aerr := s.cancel(u, id); aerr != nil {
			writeAPIError(w, aerr)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, r)
	}
}

// decodeReservation reads a JSON body into a reservationInput, collecting
// per-field errors as DRF does before any object-level validation.
func decodeReservation(r *http.Request) (*reservationInput, *apiError) {
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(&raw); err != nil {
		return nil, detailError(http.StatusBadRequest, "JSON parse error - "+err.Error())
	}
	in := &reservationInput{present: map[string]bool{}}
	errs := map[string][]string{}
	str := func(k string, dst *string) {
		v, ok := raw[k]
		if !ok {
			return
		}
		in.present[k] = true
		if string(v) == "null" {
			return
		}
		if err := json.Unmarshal(v, dst); err != nil {
			errs[k] = []string{"Not a valid string."}
		}
	}
	str("resource", &in.ResourceID)
	str("state", &in.State)
	str("comments", &in.Comments)
	str("type", &in.Type)
	str("event_subject", &in.EventSubject)
	str("event_description", &in.EventDescription)
	str("reserver_name", &in.ReserverName)
	str("reserver_email_address", &in.ReserverEmailAddress)
	str("reserver_phone_number", &in.ReserverPhoneNumber)
	str("host_name", &in.HostName)
	str("participants", &in.Participants)
	if _, ok := raw["cancel_reason"]; ok {
		in.present["cancel_reason"] = true
	}
	if in.has("state") && !validStates[in.State] {
		errs["state"] = []string{fmt.Sprintf("\"%s\" is not a valid choice.", in.State)}
	}
	if in.has("type") && in.Type != "normal" && in.Type != "blocked" {
		errs["type"] = []string{fmt.Sprintf("\"%s\" is not a valid choice.", in.Type)}
	}
	if v, ok := raw["staff_event"]; ok {
		in.present["staff_event"] = true
		if err := json.Unmarshal(v, &in.StaffEvent); err != nil {
			errs["staff_event"] = []string{"Must be a valid boolean."}
		}
	}
	if v, ok := raw["number_of_participants"]; ok {
		in.present["number_of_participants"] = true
		if string(v) != "null" {
			var n int
			if err := json.Unmarshal(v, &n); err != nil || n < 0 {
				errs["number_of_participants"] = []string{"A valid integer is required."}
			} else {
				in.NumberOfParticipants = &n
			}
		}
	}
	if v, ok := raw["user"]; ok && string(v) != "null" {
		in.present["user"] = true
		var uu struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(v, &uu); err == nil {
			in.UserID = strings.Trim(string(uu.ID), `"`)
		}
	}
	if r.Method != http.MethodPatch {
		for _, k := range []string{"resource", "begin", "end"} {
			if _, ok := raw[k]; !ok {
				errs[k] = []string{msgRequired}
			}
		}
	}
	for _, k := range []string{"begin", "end"} {
		v, ok := raw[k]
		if !ok {
			continue
		}
		in.present[k] = true
		var sv string
		if err := json.Unmarshal(v, &sv); err != nil {
			errs[k] = []string{msgBadDatetime}
			continue
		}
		t, ok := parseBodyTime(sv)
		if !ok {
			errs[k] = []string{msgBadDatetime}
			continue
		}
		if k == "begin" {
			in.Begin = t
		} else {
			in.End = t
		}
	}
	if len(errs) > 0 {
		return nil, &apiError{status: http.StatusBadRequest, body: errs}
	}
	return in, nil
}

func (s *Server) resourceVisible(u *User, res *Resource) bool {
	return res.Public || (u != nil && u.Staff)
}

func (s *Server) resourceJSONLocked(u *User, res *Resource, detail bool) map[string]any {
	minPeriod, slot := s.resourceDefaults(res)
	m := map[string]any{
		"id":                       res.ID,
		"name":                     translated(res.Name),
		"need_manual_confirmation": res.NeedManualConfirmation,
		"reservable":               res.Reservable,
		"public":                   res.Public,
		"min_period":               djangoDuration(minPeriod),
		"slot_size":                djangoDuration(slot),
		"max_period":               nil,
		"unit":                     res.UnitID,
		"user_permissions": map[string]bool{
			"is_admin":              u != nil && u.Staff,
			"can_make_reservations": res.Reservable || (u != nil && u.Staff),
		},
	}
	if res.MaxPeriod > 0 {
		m["max_period"] = djangoDuration(time.Duration(res.MaxPeriod))
	}
	if detail {
		if unit := s.units[res.UnitID]; unit != nil {
			tz := unit.TimeZone
			if tz == "" {
				tz = "Europe/Helsinki"
			}
			m["unit"] = map[string]any{"id": unit.ID, "name": translated(unit.Name), "time_zone": tz}
		} else {
			m["unit"] = nil
		}
	}
	return m
}

// translated is TranslatedModelSerializer: empty languages are left out,
// and no text at all is null.
func translated(m map[string]string) any {
	out := map[string]string{}
	for k, v := range m {
		if v != "" {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// djangoDuration renders a Django DurationField: "HH:MM:SS".
func djangoDuration(d time.Duration) string {
	h := int(d / time.Hour)
	m := int(d/time.Minute) % 60
	sec := int(d/time.Second) % 60
	return fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
}

func (s *Server) listResources(w http.ResponseWriter, r *http.Request, u *User) {
	unit := r.URL.Query().Get("unit")
	s.mu.Lock()
	ids := make([]string, 0, len(s.resources))
	for id, res := range s.resources {
		if s.resourceVisible(u, res) && (unit == "" || strings.EqualFold(res.UnitID, unit)) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	p, aerr := paginate(r, len(ids), func(i int) any { return s.resourceJSONLocked(u, s.resources[ids[i]], false) })
	s.mu.Unlock()
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getResource(w http.ResponseWriter, r *http.Request, u *User, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.resources[id]
	if res == nil || !s.resourceVisible(u, res) {
		writeAPIError(w, detailError(http.StatusNotFound, msgNotFound))
		return
	}
	writeJSON(w, http.StatusOK, s.resourceJSONLocked(u, res, true))
}
