package ews

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/oauth2"

	"github.com/respa-exchange/respa-exchange-operator/internal/metrics"
)

// AccessMode is how the service account reaches a room mailbox.
type AccessMode string

// Access modes. Impersonation (the default) acts as the room and is the only
// mode that can subscribe to notifications; Delegate uses folder
// permissions and names the mailbox in each folder id.
const (
	Impersonation AccessMode = "Impersonation"
	Delegate      AccessMode = "Delegate"
)

// DefaultServerVersion is what RequestServerVersion says unless configured.
const DefaultServerVersion = "Exchange2013_SP1"

// knownVersions are the RequestServerVersion values Exchange accepts; the
// later ones are not in the 2013 schema but newer servers take them.
var knownVersions = map[string]bool{
	"Exchange2007_SP1": true, "Exchange2010": true, "Exchange2010_SP1": true,
	"Exchange2010_SP2": true, "Exchange2013": true, "Exchange2013_SP1": true,
	"Exchange2015": true, "Exchange2016": true, "Exchange2019": true,
}

// RetryPolicy bounds the retries of idempotent calls (FindItem, GetItem,
// ResolveNames, SyncFolderItems, GetFolder). Writes are never retried.
type RetryPolicy struct {
	// MaxAttempts counts the first try; default 4. 1 disables retries.
	MaxAttempts int
	// BaseDelay is the first back-off when the server names none; it
	// doubles per attempt, with jitter. Default 500ms.
	BaseDelay time.Duration
	// MaxDelay caps one wait; default 30s. When the server asks for a
	// longer back-off the call is not retried: the error is returned with
	// its BackOff so the caller can requeue that far ahead.
	MaxDelay time.Duration
}

// Config configures a Client.
type Config struct {
	// URL is the EWS endpoint, e.g. https://mail.example.org/EWS/Exchange.asmx.
	URL  string
	Auth Auth
	// ServerVersion is sent as RequestServerVersion; default Exchange2013_SP1.
	ServerVersion string
	// AccessMode defaults to Impersonation.
	AccessMode AccessMode
	// Transport sends the requests (TLS settings, instrumentation); default
	// a clone of http.DefaultTransport. Authentication wraps it. With NTLM
	// it must keep connections alive and speak HTTP/1.1.
	Transport http.RoundTripper
	// MaxConcurrentRequests bounds in-flight calls per mailbox (streaming
	// excluded: Exchange budgets it separately); default 4.
	MaxConcurrentRequests int
	Retry                 RetryPolicy
	// Logger receives retry decisions at V(1). It never sees credentials.
	Logger logr.Logger
	// ExtendedProperties are the names, in PropertySetID, that are read
	// and may be written; default DefaultExtendedProperties.
	ExtendedProperties []string
	// TimeZoneID, a Windows time zone id such as "FLE Standard Time", is
	// sent as TimeZoneContext so all-day items are created at local
	// midnight of the room's zone rather than UTC midnight.
	TimeZoneID string
	// UserAgent defaults to "respa-exchange-operator".
	UserAgent string

	// Batch and view sizes; the defaults and their reasons are in doc.go.
	GetItemBatchSize   int
	CreateBatchSize    int
	UpdateBatchSize    int
	DeleteBatchSize    int
	MaxEntriesReturned int
	InitialViewSpan    time.Duration
	// MaxResponseBytes bounds one response or streamed envelope; default 32 MiB.
	MaxResponseBytes int64
}

// Client talks EWS SOAP to one Exchange endpoint. It is safe for
// concurrent use.
type Client struct {
	endpoint    string
	version     string
	impersonate bool
	timeZoneID  string
	userAgent   string
	http        *http.Client
	retry       RetryPolicy
	log         logr.Logger
	secrets     *secretSet
	props       []string
	propSet     map[string]bool
	maxConc     int
	maxBody     int64

	getBatch, createBatch, updateBatch, deleteBatch int
	maxEntries                                      int
	viewSpan                                        time.Duration

	mu      sync.Mutex
	slots   map[string]chan struct{}
	cookies map[string]string // X-BackEndOverrideCookie per anchor mailbox

	serverVersion atomic.Pointer[ServerVersionInfo]

	// silentAfter overrides when a stream counts as dead (tests only).
	silentAfter time.Duration
}

// Default sizes; doc.go explains them.
const (
	defaultGetItemBatch       = 10
	defaultCreateBatch        = 50
	defaultUpdateBatch        = 50
	defaultDeleteBatch        = 100
	defaultMaxEntriesReturned = 250
	defaultViewSpan           = 28 * 24 * time.Hour
	maxViewSpan               = 2 * 365 * 24 * time.Hour
	defaultMaxResponseBytes   = 32 << 20
)

// New checks cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("ews: URL %q is not an http(s) URL", redactURL(cfg.URL))
	}
	if u.User != nil {
		return nil, errors.New("ews: URL must not carry credentials; use Auth")
	}
	if cfg.Auth == nil {
		return nil, errors.New("ews: Auth is required")
	}
	c := &Client{
		endpoint:    u.String(),
		version:     or(cfg.ServerVersion, DefaultServerVersion),
		timeZoneID:  cfg.TimeZoneID,
		userAgent:   or(cfg.UserAgent, "respa-exchange-operator"),
		retry:       cfg.Retry,
		log:         cfg.Logger,
		secrets:     &secretSet{},
		maxConc:     orInt(cfg.MaxConcurrentRequests, 4),
		maxBody:     int64(orInt(int(cfg.MaxResponseBytes), defaultMaxResponseBytes)),
		getBatch:    orInt(cfg.GetItemBatchSize, defaultGetItemBatch),
		createBatch: orInt(cfg.CreateBatchSize, defaultCreateBatch),
		updateBatch: orInt(cfg.UpdateBatchSize, defaultUpdateBatch),
		deleteBatch: orInt(cfg.DeleteBatchSize, defaultDeleteBatch),
		maxEntries:  orInt(cfg.MaxEntriesReturned, defaultMaxEntriesReturned),
		viewSpan:    cfg.InitialViewSpan,
		slots:       map[string]chan struct{}{},
		cookies:     map[string]string{},
	}
	if !knownVersions[c.version] {
		return nil, fmt.Errorf("ews: unknown ServerVersion %q", c.version)
	}
	switch cfg.AccessMode {
	case "", Impersonation:
		c.impersonate = true
	case Delegate:
	default:
		return nil, fmt.Errorf("ews: unknown AccessMode %q", cfg.AccessMode)
	}
	if c.log.GetSink() == nil {
		c.log = logr.Discard()
	}
	if c.retry.MaxAttempts <= 0 {
		c.retry.MaxAttempts = 4
	}
	if c.retry.BaseDelay <= 0 {
		c.retry.BaseDelay = 500 * time.Millisecond
	}
	if c.retry.MaxDelay <= 0 {
		c.retry.MaxDelay = 30 * time.Second
	}
	if c.viewSpan <= 0 {
		c.viewSpan = defaultViewSpan
	}
	if c.viewSpan > maxViewSpan {
		c.viewSpan = maxViewSpan
	}
	if c.maxEntries > 1000 {
		return nil, errors.New("ews: MaxEntriesReturned above EWSFindCountLimit (1000)")
	}
	c.props = cfg.ExtendedProperties
	if len(c.props) == 0 {
		c.props = DefaultExtendedProperties
	}
	c.propSet = map[string]bool{}
	for _, p := range c.props {
		c.propSet[p] = true
	}
	base := cfg.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if _, ntlm := cfg.Auth.(NTLM); ntlm {
			// NTLM authenticates a connection, which HTTP/2 does not
			// allow; IIS answers HTTP_1_1_REQUIRED. Stay on HTTP/1.1.
			t.Protocols = new(http.Protocols)
			t.Protocols.SetHTTP1(true)
		}
		base = t
	}
	rt, err := cfg.Auth.wrap(base, c.secrets)
	if err != nil {
		return nil, fmt.Errorf("ews: %w", err)
	}
	c.http = &http.Client{
		Transport: rt,
		// A redirect from EWS is an error page or a misconfiguration;
		// following it could carry credentials to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func orInt(n, d int) int {
	if n <= 0 {
		return d
	}
	return n
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable>"
	}
	return u.Redacted()
}

// ServerVersion is the build the server reported last (zero before any call).
func (c *Client) ServerVersion() ServerVersionInfo {
	if v := c.serverVersion.Load(); v != nil {
		return *v
	}
	return ServerVersionInfo{}
}

// call describes one EWS request.
type call struct {
	op      string
	mailbox string
	// anchor is X-AnchorMailbox; it defaults to mailbox. Streaming calls
	// of one connection share the anchor of its first mailbox.
	anchor     string
	idempotent bool
	streaming  bool
}

func (cl call) anchorMailbox() string {
	if cl.anchor != "" {
		return cl.anchor
	}
	return cl.mailbox
}

// do sends req and hands the envelope to parse, retrying idempotent calls
// on temporary failures (parse errors included: a batch with a busy item
// is fetched again as a whole).
func (c *Client) do(ctx context.Context, cl call, req *request, parse func(*envelope) error) error {
	body, err := req.bytes()
	if err != nil {
		return fmt.Errorf("%s: build request: %w", cl.op, err)
	}
	for attempt := 1; ; attempt++ {
		env, err := c.roundTrip(ctx, cl, body)
		if err == nil {
			err = parse(env)
		}
		if err == nil {
			return nil
		}
		if !cl.idempotent || attempt >= c.retry.MaxAttempts {
			return err
		}
		delay, ok := c.retryDelay(err, attempt)
		if !ok {
			return err
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < delay {
			return err
		}
		c.log.V(1).Info("retrying EWS call", "op", cl.op, "mailbox", cl.mailbox,
			"attempt", attempt, "delay", delay.String(), "error", err.Error())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// retryDelay says whether err is worth another try and after how long.
func (c *Client) retryDelay(err error, attempt int) (time.Duration, bool) {
	backoff := c.retry.BaseDelay << (attempt - 1)
	backoff += time.Duration(rand.Int64N(int64(backoff)/4 + 1))
	var e *Error
	var se *scrubbedError
	switch {
	case errors.As(err, &e):
		if !e.Temporary() {
			return 0, false
		}
		if e.BackOff > 0 {
			if e.BackOff > c.retry.MaxDelay {
				return 0, false
			}
			return e.BackOff, true
		}
	case errors.As(err, &se):
		if !se.transport || se.cause != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return min(backoff, c.retry.MaxDelay), true
}

// acquire takes one of the mailbox's request slots.
func (c *Client) acquire(ctx context.Context, mailbox string) (func(), error) {
	key := strings.ToLower(mailbox)
	c.mu.Lock()
	ch, ok := c.slots[key]
	if !ok {
		ch = make(chan struct{}, c.maxConc)
		c.slots[key] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// roundTrip sends one request and reads the whole response.
func (c *Client) roundTrip(ctx context.Context, cl call, body []byte) (*envelope, error) {
	release, err := c.acquire(ctx, cl.mailbox)
	if err != nil {
		return nil, c.transportError(cl.op, err)
	}
	defer release()
	resp, err := c.send(ctx, cl, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := c.statusError(cl.op, resp); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, c.transportError(cl.op, err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, &Error{Op: cl.op, Code: CodeBadResponse, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("response larger than %d bytes", c.maxBody)}
	}
	env, err := parseEnvelope(cl.op, data)
	if env != nil {
		c.noteVersion(env.version)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.HTTPStatus = resp.StatusCode
			if resp.StatusCode != http.StatusOK && !e.Fault {
				// An HTML error page ("Server Error in '/EWS'
				// Application") rather than SOAP.
				e.Code = CodeHTTPError
				e.Message = resp.Status
			}
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Op: cl.op, Code: CodeHTTPError, HTTPStatus: resp.StatusCode, Message: resp.Status}
	}
	return env, nil
}

func (c *Client) noteVersion(v ServerVersionInfo) {
	if v.MajorVersion != 0 {
		c.serverVersion.Store(&v)
	}
}

// send posts body with the headers EWS wants: X-AnchorMailbox on every
// mailbox call, and for streaming calls X-PreferServerAffinity plus the
// X-BackEndOverrideCookie the server handed out for this anchor.
func (c *Client) send(ctx context.Context, cl call, body []byte) (*http.Response, error) {
	// Every EWS call is a POST to one URL; the instrumented transport reads
	// the operation from the context.
	req, err := http.NewRequestWithContext(metrics.WithOperation(ctx, cl.op), http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, c.transportError(cl.op, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("User-Agent", c.userAgent)
	anchor := cl.anchorMailbox()
	if anchor != "" {
		req.Header.Set("X-AnchorMailbox", anchor)
	}
	if cl.streaming {
		req.Header.Set("X-PreferServerAffinity", "true")
		c.mu.Lock()
		cookie := c.cookies[strings.ToLower(anchor)]
		c.mu.Unlock()
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "X-BackEndOverrideCookie", Value: cookie})
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(cl.op, err)
	}
	if cl.streaming {
		for _, ck := range resp.Cookies() {
			if ck.Name == "X-BackEndOverrideCookie" && ck.Value != "" {
				c.mu.Lock()
				c.cookies[strings.ToLower(anchor)] = ck.Value
				c.mu.Unlock()
			}
		}
	}
	return resp, nil
}

// statusError maps the HTTP statuses that carry no SOAP body.
func (c *Client) statusError(op string, resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusInternalServerError:
		return nil
	case http.StatusUnauthorized:
		drain(resp)
		msg := "the server refused the credentials"
		if schemes := authSchemes(resp.Header); schemes != "" {
			msg += " (it offers " + schemes + ")"
		}
		return &Error{Op: op, Code: CodeUnauthorized, HTTPStatus: resp.StatusCode, Message: msg}
	case http.StatusForbidden:
		drain(resp)
		return &Error{Op: op, Code: CodeForbidden, HTTPStatus: resp.StatusCode, Message: resp.Status}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		drain(resp)
		return &Error{Op: op, Code: CodeHTTPThrottled, HTTPStatus: resp.StatusCode, Message: resp.Status,
			BackOff: retryAfter(resp.Header.Get("Retry-After"))}
	default:
		drain(resp)
		msg := resp.Status
		if cas := resp.Header.Get("X-CasErrorCode"); cas != "" {
			msg += " (X-CasErrorCode " + cas + ")"
		}
		return &Error{Op: op, Code: CodeHTTPError, HTTPStatus: resp.StatusCode, Message: msg}
	}
}

func drain(resp *http.Response) { _, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) }

// authSchemes lists the WWW-Authenticate schemes without their tokens.
func authSchemes(h http.Header) string {
	var out []string
	for _, v := range h.Values("WWW-Authenticate") {
		s, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// transportError wraps a failure below HTTP. Its text may come from code
// that saw credentials (an OAuth token endpoint's answer, say), so it is
// scrubbed; context errors stay matchable with errors.Is.
func (c *Client) transportError(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		msg := "the token endpoint refused the client credentials"
		if re.ErrorCode != "" {
			msg += ": " + re.ErrorCode
		}
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		return &Error{Op: op, Code: CodeUnauthorized, HTTPStatus: re.Response.StatusCode, Message: c.secrets.scrub(msg)}
	}
	se := &scrubbedError{msg: op + ": " + c.secrets.scrub(err.Error()), transport: true}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		se.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		se.cause = context.Canceled
	}
	return se
}
