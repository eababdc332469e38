package exchangesim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
)

// Options configure a simulator.
type Options struct {
	// Strict validates every EWS request against the schema with xmllint and
	// answers violations with ErrorSchemaValidation, as Exchange does.
	Strict bool
	// SchemaPath is the soap-envelope.xsd that imports the EWS schema.
	SchemaPath string
	// Latency is added to every EWS request.
	Latency time.Duration
	// StreamTimeoutUnit is the length of one ConnectionTimeout unit of
	// GetStreamingEvents (and of a pull subscription's Timeout): a minute on
	// Exchange, seconds or less in tests.
	StreamTimeoutUnit time.Duration
	// KeepAliveInterval is how often an idle stream gets a ConnectionStatus OK envelope.
	KeepAliveInterval time.Duration
	// TokenTTL is the lifetime of OAuth2 access tokens (an hour by default).
	TokenTTL time.Duration
	// FindCountLimit is EWSFindCountLimit: a FindItem never returns more items
	// than this (1000 by default); larger views come back truncated.
	FindCountLimit int
	// MaxSubscriptionsPerMailbox is EWSMaxSubscriptions (20 on Exchange Online).
	MaxSubscriptionsPerMailbox int
	// RequireAffinity makes GetStreamingEvents and GetEvents demand the
	// X-BackEndOverrideCookie that Subscribe set, as Exchange 2013 and later
	// do; without it they answer ErrorSubscriptionNotFound.
	RequireAffinity bool
	// AdminToken, when set, must be sent as "Authorization: Bearer <token>" to /admin/.
	AdminToken string
	// Now replaces the clock, for tests.
	Now func() time.Time
	// Logf receives one line per request; nil means silent. Credentials never reach it.
	Logf func(format string, args ...any)
}

// Server is a stateful Exchange simulator: mailboxes with calendars, the EWS
// endpoint, an OAuth2 token endpoint and an admin API.
type Server struct {
	opts  Options
	store *store

	// The following are guarded by store.mu.
	accounts      map[string]string // user name -> password
	apps          map[string]string // client id -> secret
	tokens        map[string]token
	grants        map[string]map[string]bool // principal -> lower-case SMTP or "*"
	ownMailbox    map[string]string          // principal -> SMTP of its own mailbox
	counters      map[string]int
	mailboxCounts map[string]map[string]int
	faults        []*Fault
	subs          map[string]*subscription
	streams       map[*stream]bool

	// onRequest, when set by tests, sees every EWS request body.
	onRequest func(body []byte)

	httpSrv *http.Server
	wg      sync.WaitGroup
}

type token struct {
	clientID string
	expires  time.Time
}

// New builds a simulator with no mailboxes.
func New(opts Options) *Server {
	if opts.StreamTimeoutUnit <= 0 {
		opts.StreamTimeoutUnit = time.Minute
	}
	if opts.KeepAliveInterval <= 0 {
		opts.KeepAliveInterval = 30 * time.Second
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.FindCountLimit <= 0 {
		opts.FindCountLimit = 1000
	}
	if opts.MaxSubscriptionsPerMailbox <= 0 {
		opts.MaxSubscriptionsPerMailbox = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, store: newStore(opts.Now)}
	s.resetLocked()
	s.store.notify = s.fanOut
	return s
}

func (s *Server) resetLocked() {
	s.accounts = map[string]string{}
	s.apps = map[string]string{}
	s.tokens = map[string]token{}
	s.grants = map[string]map[string]bool{}
	s.ownMailbox = map[string]string{}
	s.counters = map[string]int{}
	s.mailboxCounts = map[string]map[string]int{}
	s.faults = nil
	s.subs = map[string]*subscription{}
	if s.streams == nil {
		s.streams = map[*stream]bool{}
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Handler serves /EWS/Exchange.asmx, /oauth2/token and /admin/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/EWS/Exchange.asmx", s.serveEWS)
	mux.HandleFunc("/ews/exchange.asmx", s.serveEWS)
	mux.HandleFunc("/oauth2/token", s.serveToken)
	mux.HandleFunc("/oauth2/v2.0/token", s.serveToken)
	mux.Handle("/admin/", s.adminHandler())
	return mux
}

// Start listens on addr (loopback only) and serves in the background; it
// returns the base URL, e.g. http://127.0.0.1:8081.
func (s *Server) Start(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("listen address %q: the simulator listens on loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.httpSrv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), nil
}

// Close ends open streams and stops a server begun with Start.
func (s *Server) Close() error {
	s.KillStreams("")
	if s.httpSrv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.httpSrv.Shutdown(ctx)
	s.wg.Wait()
	return err
}

// ---- authentication ----

// principal authenticates the request: "user:<name>" for Basic, "app:<id>"
// for a bearer token from the token endpoint.
func (s *Server) principal(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if user, pass, ok := r.BasicAuth(); ok {
		want, known := s.accounts[strings.ToLower(user)]
		if known && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1 {
			return "user:" + strings.ToLower(user), true
		}
		return "", false
	}
	if strings.HasPrefix(h, "Bearer ") {
		t, ok := s.tokens[strings.TrimPrefix(h, "Bearer ")]
		if ok && s.opts.Now().Before(t.expires) {
			return "app:" + t.clientID, true
		}
	}
	return "", false
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "invalid_request", "The token endpoint takes POST.")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "The request body must be a form.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("The grant type %q is not supported.", gt))
		return
	}
	if scope := r.PostForm.Get("scope"); scope != "" && !strings.HasSuffix(scope, "/.default") {
		// The client credentials flow only knows a resource's static permissions.
		fail(http.StatusBadRequest, "invalid_scope", "The scope for the client credentials flow must end in /.default.")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.counters["oauth2/token"]++
	want, known := s.apps[id]
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		fail(http.StatusUnauthorized, "invalid_client", "Invalid client secret provided, or unknown client.")
		return
	}
	for k, t := range s.tokens {
		if !s.opts.Now().Before(t.expires) {
			delete(s.tokens, k)
		}
	}
	tok := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	s.tokens[tok] = token{clientID: id, expires: s.opts.Now().Add(s.opts.TokenTTL)}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(s.opts.TokenTTL.Seconds()),
		"ext_expires_in": int(s.opts.TokenTTL.Seconds()),
		"access_token":   tok,
	})
}

// ---- the EWS endpoint ----

// call is one EWS request being served.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	principal string
	op        string
	req       *etree.Element // the operation element in the body
	header    *etree.Element
	mb        *mailbox // the mailbox acted on: impersonated or the caller's own
}

const maxBody = 16 << 20

func (s *Server) serveEWS(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A request the simulator cannot digest gets Exchange's generic fault,
		// not a dropped connection; injected drops pass through.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logf("EWS request failed: %v", v)
			s.writeFault(w, http.StatusInternalServerError, faultDoc("ErrorInternalServerError", "An internal server error occurred. The operation failed.", nil))
		}
	}()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "EWS takes SOAP requests by POST", http.StatusMethodNotAllowed)
		return
	}
	who, ok := s.principal(r)
	if !ok {
		s.count("Unauthorized", "")
		w.Header().Set("WWW-Authenticate", `Basic realm="exchange-sim"`)
		w.Header().Add("WWW-Authenticate", `Bearer`)
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read request", http.StatusBadRequest)
		return
	}
	if s.onRequest != nil {
		s.onRequest(body)
	}
	if s.opts.Latency > 0 {
		select {
		case <-time.After(s.opts.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if s.opts.Strict {
		if v, err := validate(r.Context(), s.opts.SchemaPath, body); err != nil {
			s.logf("schema validation could not run: %v", err)
			s.writeFault(w, http.StatusInternalServerError, faultDoc("ErrorInternalServerError", "The schema validation could not run.", nil))
			return
		} else if v != nil {
			s.count("SchemaValidationFailed", "")
			s.writeFault(w, http.StatusInternalServerError, schemaFault(v))
			return
		}
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		s.writeFault(w, http.StatusInternalServerError, schemaFault(&violation{line: 1, pos: 1, text: "The request is not well-formed XML."}))
		return
	}
	env := doc.Root()
	if env == nil || env.Tag != "Envelope" || env.NamespaceURI() != nsSOAP {
		s.writeFault(w, http.StatusInternalServerError, schemaFault(&violation{line: 1, pos: 1, text: "The root element must be the SOAP 1.1 Envelope."}))
		return
	}
	bodyEl := child(env, nsSOAP, "Body")
	var opEl *etree.Element
	if bodyEl != nil && len(bodyEl.ChildElements()) > 0 {
		opEl = bodyEl.ChildElements()[0]
	}
	if opEl == nil || opEl.NamespaceURI() != nsMessages {
		s.writeFault(w, http.StatusInternalServerError, schemaFault(&violation{line: 1, pos: 1, text: "The SOAP body holds no EWS operation."}))
		return
	}
	c := &call{w: w, r: r, principal: who, op: opEl.Tag, req: opEl, header: child(env, nsSOAP, "Header")}
	if v := attr(path(c.header, nsTypes, "RequestServerVersion"), "Version"); v != "" && !knownVersion(v) {
		s.count(c.op, "")
		s.writeFault(w, http.StatusInternalServerError, faultDoc("ErrorInvalidServerVersion", "The specified server version is invalid.", nil))
		return
	}
	if f := s.resolveMailbox(c); f != nil {
		s.count(c.op, "")
		s.writeFault(w, http.StatusInternalServerError, f)
		return
	}
	mbName := ""
	if c.mb != nil {
		mbName = c.mb.smtp
	}
	s.count(c.op, mbName)
	if c.mb != nil && s.impersonating(c) && !s.anchored(c) {
		// Exchange routes such requests poorly; counted so client tests can assert on it.
		s.count("MissingAnchorMailbox", mbName)
	}
	s.logf("EWS %s principal=%s mailbox=%s", c.op, who, mbName)
	if s.injectFault(c) {
		return
	}
	handler, ok := s.operations()[c.op]
	if !ok {
		s.writeFault(w, http.StatusInternalServerError, faultDoc("ErrorInvalidRequest", fmt.Sprintf("The simulator does not implement %s.", c.op), nil))
		return
	}
	if out := handler(c); out != nil {
		s.writeDoc(w, http.StatusOK, out)
	}
}

// anchored reports whether an impersonated request names its mailbox in
// X-AnchorMailbox. Notification calls may name the anchor of their
// subscription group instead: the affinity guidance sends every Subscribe
// and GetStreamingEvents of a group with the group's first mailbox.
func (s *Server) anchored(c *call) bool {
	anchor := c.r.Header.Get("X-AnchorMailbox")
	if strings.EqualFold(anchor, c.mb.smtp) {
		return true
	}
	switch c.op {
	case "Subscribe", "GetStreamingEvents", "GetEvents", "Unsubscribe":
		s.store.mu.Lock()
		defer s.store.mu.Unlock()
		return s.store.mailboxByAddress(anchor) != nil
	}
	return false
}

func knownVersion(v string) bool {
	switch v {
	case "Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
		"Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2015_SP1", "Exchange2016", "Exchange2019", "V2015_10_05", "V2016_10_10", "V2017_07_11":
		return true
	}
	return false
}

// resolveMailbox applies the ExchangeImpersonation header: the mailbox must
// exist and the caller must be allowed to impersonate it.
func (s *Server) resolveMailbox(c *call) *etree.Document {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sid := path(c.header, nsTypes, "ExchangeImpersonation", nsTypes, "ConnectingSID")
	if sid == nil {
		if own := s.ownMailbox[c.principal]; own != "" {
			c.mb = s.store.mailbox(own)
		}
		return nil
	}
	var addr string
	for _, name := range []string{"PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID"} {
		if e := child(sid, nsTypes, name); e != nil {
			addr = text(e)
		}
	}
	mb := s.store.mailbox(addr)
	if mb == nil {
		return faultDoc("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.", func(mx *etree.Element) {
			v := mx.CreateElement("t:Value")
			v.CreateAttr("Name", "SmtpAddress")
			v.SetText(addr)
		})
	}
	if !s.mayAccessLocked(c.principal, mb) {
		return faultDoc("ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.", nil)
	}
	c.mb = mb
	return nil
}

func (s *Server) mayAccessLocked(principal string, mb *mailbox) bool {
	if strings.EqualFold(s.ownMailbox[principal], mb.smtp) {
		return true
	}
	g := s.grants[principal]
	return g["*"] || g[strings.ToLower(mb.smtp)]
}

func (s *Server) count(op, mailbox string) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.counters[op]++
	if mailbox != "" {
		m := s.mailboxCounts[strings.ToLower(mailbox)]
		if m == nil {
			m = map[string]int{}
			s.mailboxCounts[strings.ToLower(mailbox)] = m
		}
		m[op]++
	}
}

func (s *Server) writeDoc(w http.ResponseWriter, status int, doc *etree.Document) {
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		http.Error(w, "write response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) writeFault(w http.ResponseWriter, status int, doc *etree.Document) {
	s.writeDoc(w, status, doc)
}

// ---- faults on demand ----

// Fault is an injected failure, matched by operation and mailbox.
type Fault struct {
	// Operation is an EWS operation name such as FindItem; empty matches all.
	Operation string `json:"operation,omitempty"`
	// Mailbox is the SMTP address acted on; empty matches all.
	Mailbox string `json:"mailbox,omitempty"`
	// Kind is ServerBusy (SOAP fault, HTTP 500, BackOffMilliseconds), HTTP500,
	// HTTP503, Drop (the connection is cut without a response), Latency, or
	// ItemError (HTTP 200 with an Error ResponseMessage per item).
	Kind string `json:"kind"`
	// ResponseCode is ItemError's code (ErrorInternalServerError by default);
	// InnerResponseCode, when set, goes in its MessageXml as Exchange nests
	// the real cause (e.g. ErrorServerBusy).
	ResponseCode        string `json:"responseCode,omitempty"`
	InnerResponseCode   string `json:"innerResponseCode,omitempty"`
	BackOffMilliseconds int    `json:"backOffMilliseconds,omitempty"`
	LatencyMilliseconds int    `json:"latencyMilliseconds,omitempty"`
	// Times is how many requests the fault hits; 0 means until cleared.
	Times int `json:"times,omitempty"`
}

// InjectFault adds a fault.
func (s *Server) InjectFault(f Fault) error {
	switch f.Kind {
	case "ServerBusy", "HTTP500", "HTTP503", "Drop", "Latency", "ItemError":
	default:
		return fmt.Errorf("inject fault: unknown kind %q", f.Kind)
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	fc := f
	s.faults = append(s.faults, &fc)
	return nil
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(c *call) *Fault {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for i, f := range s.faults {
		if f.Operation != "" && f.Operation != c.op {
			continue
		}
		if f.Mailbox != "" && (c.mb == nil || !strings.EqualFold(f.Mailbox, c.mb.smtp)) {
			continue
		}
		hit := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

// injectFault applies a matching fault; it reports whether the request is done.
func (s *Server) injectFault(c *call) bool {
	f := s.takeFault(c)
	if f == nil {
		return false
	}
	s.count("Fault:"+f.Kind, "")
	switch f.Kind {
	case "Latency":
		select {
		case <-time.After(time.Duration(f.LatencyMilliseconds) * time.Millisecond):
		case <-c.r.Context().Done():
			return true
		}
		return false
	case "ServerBusy":
		backoff := f.BackOffMilliseconds
		if backoff == 0 {
			backoff = 1000
		}
		s.writeFault(c.w, http.StatusInternalServerError, faultDoc("ErrorServerBusy", "The server cannot service this request right now. Try again later.", func(mx *etree.Element) {
			v := mx.CreateElement("t:Value")
			v.CreateAttr("Name", "BackOffMilliseconds")
			v.SetText(fmt.Sprint(backoff))
		}))
	case "HTTP503":
		c.w.Header().Set("Retry-After", "1")
		http.Error(c.w, "Service Unavailable", http.StatusServiceUnavailable)
	case "HTTP500":
		c.w.Header().Set("Content-Type", "text/html")
		c.w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(c.w, "<html><body><h1>Server Error in '/EWS' Application.</h1></body></html>")
	case "Drop":
		panic(http.ErrAbortHandler)
	case "ItemError":
		s.writeDoc(c.w, http.StatusOK, itemErrors(c, f))
	}
	return true
}

// itemErrors answers every item of the request with the fault's error.
func itemErrors(c *call, f *Fault) *etree.Document {
	code := f.ResponseCode
	if code == "" {
		code = "ErrorInternalServerError"
	}
	e := errf(code, "An internal server error occurred. The operation failed.")
	if f.InnerResponseCode != "" {
		e.xml = [][2]string{{"InnerErrorMessageText", "The server cannot service this request right now. Try again later."},
			{"InnerErrorResponseCode", f.InnerResponseCode}, {"InnerErrorDescriptiveLinkKey", "0"}}
		if f.BackOffMilliseconds > 0 {
			e.xml = append(e.xml, [2]string{"BackOffMilliseconds", fmt.Sprint(f.BackOffMilliseconds)})
		}
	}
	n := 1
	for _, list := range []string{"ItemIds", "Items", "ItemChanges"} {
		if l := child(c.req, nsMessages, list); l != nil {
			n = len(l.ChildElements())
		}
	}
	doc, body := envelope()
	msgs := responseRoot(body, c.op)
	for range n {
		m := message(msgs, c.op, e)
		switch c.op {
		case "GetItem", "CreateItem", "UpdateItem":
			m.CreateElement("m:Items")
		}
	}
	return doc
}

// Counters are requests received, by operation and by mailbox.
type Counters struct {
	ByOperation map[string]int            `json:"byOperation"`
	ByMailbox   map[string]map[string]int `json:"byMailbox"`
}

// Counters returns a copy of the request counters.
func (s *Server) Counters() Counters {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := Counters{ByOperation: map[string]int{}, ByMailbox: map[string]map[string]int{}}
	for k, v := range s.counters {
		out.ByOperation[k] = v
	}
	for mb, m := range s.mailboxCounts {
		out.ByMailbox[mb] = map[string]int{}
		for k, v := range m {
			out.ByMailbox[mb][k] = v
		}
	}
	return out
}

// sortedKeys is for stable JSON and logs.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var errNotFound = errors.New("not found")
