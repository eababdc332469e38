package respa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
)

// Token kinds for Config.TokenKind.
const (
	TokenKindDRF    = "Token"  // Django REST framework token
	TokenKindBearer = "Bearer" // JWT from the identity provider
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, e.g. "https://respa.example.fi/v1/".
	BaseURL string
	// Token is the credential; it is sent only to BaseURL's host and never
	// appears in errors or logs.
	Token string
	// TokenKind is the Authorization scheme: "Token" (default) or "Bearer"
	// ("JWT" also works for Respa deployments configured with that prefix).
	TokenKind string
	// HTTPClient sends the requests; nil means a client over Transport.
	// Its own Timeout should be zero or larger than Timeout.
	HTTPClient *http.Client
	// Transport is used when HTTPClient is nil; nil means a clone of
	// http.DefaultTransport. Put the instrumented transport here.
	Transport http.RoundTripper
	// Timeout bounds each attempt; default 30s.
	Timeout time.Duration
	// Limiter is the client-side rate limit for the Respa instance. Share
	// one limiter between all clients of the same instance (NewLimiter).
	// Nil means a limiter from RateLimit and Burst, or none if RateLimit is 0.
	Limiter   *rate.Limiter
	RateLimit float64 // requests per second
	Burst     int
	// Retry governs retries of idempotent calls.
	Retry RetryPolicy
	// Language is sent as Accept-Language so that Respa's messages come in
	// a known language; default "en".
	Language  string
	UserAgent string
	// Logger receives one V(1) line per attempt and a line per retry.
	Logger logr.Logger
}

// RetryPolicy says how idempotent calls (GET, PUT, DELETE) are retried
// after a transport error, a timeout, HTTP 429 or 5xx. POST is never retried.
type RetryPolicy struct {
	// MaxAttempts counts the first try; default 4, 1 disables retries.
	MaxAttempts int
	// InitialBackoff doubles per retry up to MaxBackoff, with ±20% jitter;
	// defaults 250ms and 10s. A Retry-After header raises the wait up to
	// MaxRetryAfter (default 60s); a longer one ends the retries.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	MaxRetryAfter  time.Duration
}

// NewLimiter returns a limiter for one Respa instance, to be shared by
// every client that talks to it.
func NewLimiter(perSecond float64, burst int) *rate.Limiter {
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// Client talks to one Respa instance's REST API.
type Client struct {
	base      *url.URL
	auth      string
	token     string
	hc        *http.Client
	timeout   time.Duration
	limiter   *rate.Limiter
	retry     RetryPolicy
	language  string
	userAgent string
	log       logr.Logger
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("respa base URL: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("respa base URL %q: want an absolute http(s) URL", base.Redacted())
	}
	if base.User != nil {
		return nil, fmt.Errorf("respa base URL %q: credentials belong in the token, not the URL", base.Redacted())
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	base.RawQuery, base.Fragment = "", ""
	if cfg.Token == "" {
		return nil, errors.New("respa token is empty")
	}
	if strings.ContainsAny(cfg.Token, " \r\n") {
		return nil, errors.New("respa token contains whitespace")
	}
	kind := cfg.TokenKind
	switch strings.ToLower(kind) {
	case "", "token":
		kind = TokenKindDRF
	case "bearer":
		kind = TokenKindBearer
	case "jwt":
		kind = "JWT"
	default:
		return nil, fmt.Errorf("respa token kind %q: want Token or Bearer", kind)
	}
	c := &Client{
		base: base, auth: kind + " " + cfg.Token, token: cfg.Token,
		hc: cfg.HTTPClient, timeout: cfg.Timeout, limiter: cfg.Limiter, retry: cfg.Retry,
		language: cfg.Language, userAgent: cfg.UserAgent, log: cfg.Logger,
	}
	if c.hc == nil {
		tr := cfg.Transport
		if tr == nil {
			tr = http.DefaultTransport.(*http.Transport).Clone()
		}
		c.hc = &http.Client{Transport: tr}
	}
	// Never follow a redirect: it could carry the token to another host.
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.limiter == nil && cfg.RateLimit > 0 {
		c.limiter = NewLimiter(cfg.RateLimit, cfg.Burst)
	}
	if c.retry.MaxAttempts <= 0 {
		c.retry.MaxAttempts = 4
	}
	if c.retry.InitialBackoff <= 0 {
		c.retry.InitialBackoff = 250 * time.Millisecond
	}
	if c.retry.MaxBackoff <= 0 {
		c.retry.MaxBackoff = 10 * time.Second
	}
	if c.retry.MaxRetryAfter <= 0 {
		c.retry.MaxRetryAfter = time.Minute
	}
	if c.language == "" {
		c.language = "en"
	}
	if c.userAgent == "" {
		c.userAgent = "respa-exchange-operator"
	}
	return c, nil
}

// scrub removes the token from text that came from elsewhere (a server
// body, a transport error), in case a proxy echoes headers back.
func (c *Client) scrub(s string) string {
	return strings.ReplaceAll(s, c.token, "[REDACTED]")
}

// scrubError keeps err when it does not mention the token, else replaces
// it by a redacted copy of its text (the chain is lost, ErrUnavailable is
// still added by TransportError).
func (c *Client) scrubError(err error) error {
	if !strings.Contains(err.Error(), c.token) {
		return err
	}
	return errors.New(c.scrub(err.Error()))
}

// request is one logical call.
type request struct {
	method string
	// ref is relative to the base URL: "reservation/?page_size=500".
	ref  string
	body any
	out  any
}

// do runs a request with rate limiting, per-attempt timeouts, retries for
// idempotent methods and Respa's error mapping. It returns the status code.
func (c *Client) do(ctx context.Context, rq request) (int, error) {
	target, err := c.base.Parse(rq.ref)
	if err != nil {
		return 0, fmt.Errorf("respa %s %s: %w", rq.method, rq.ref, err)
	}
	var payload []byte
	if rq.body != nil {
		if payload, err = json.Marshal(rq.body); err != nil {
			return 0, fmt.Errorf("respa %s %s: encode body: %w", rq.method, target.Path, err)
		}
	}
	idempotent := rq.method != http.MethodPost
	attempts := 1
	if idempotent {
		attempts = c.retry.MaxAttempts
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := c.attempt(ctx, rq, target, payload, attempt)
		if err == nil {
			return status, nil
		}
		lastErr = err
		if ctx.Err() != nil || !errors.Is(err, ErrUnavailable) || attempt >= attempts {
			return status, lastErr
		}
		wait := c.backoff(attempt)
		if retryAfter > c.retry.MaxRetryAfter {
			return status, lastErr
		}
		wait = max(wait, retryAfter)
		c.log.Info("retrying Respa call", "method", rq.method, "path", target.Path, "attempt", attempt, "wait", wait.String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, lastErr
		case <-t.C:
		}
	}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.InitialBackoff << (attempt - 1)
	if d <= 0 || d > c.retry.MaxBackoff {
		d = c.retry.MaxBackoff
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// attempt sends once. A retryable failure is returned wrapping ErrUnavailable.
func (c *Client) attempt(ctx context.Context, rq request, target *url.URL, payload []byte, n int) (int, time.Duration, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return 0, 0, fmt.Errorf("respa %s %s: wait for rate limit: %w", rq.method, target.Path, err)
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, rq.method, target.String(), body)
	if err != nil {
		return 0, 0, fmt.Errorf("respa %s %s: %w", rq.method, target.Path, err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Language", c.language)
	req.Header.Set("User-Agent", c.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.V(1).Info("Respa call failed", "method", rq.method, "path", target.Path, "attempt", n, "duration", time.Since(start).String())
		return 0, 0, &TransportError{Method: rq.method, Path: target.Path, Err: c.scrubError(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	c.log.V(1).Info("Respa call", "method", rq.method, "path", target.Path, "status", resp.StatusCode, "attempt", n, "duration", time.Since(start).String())
	if err != nil {
		return resp.StatusCode, 0, &TransportError{Method: rq.method, Path: target.Path, Err: c.scrubError(fmt.Errorf("read body: %w", err))}
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if rq.out != nil && code != http.StatusNoContent {
			if err := json.Unmarshal(data, rq.out); err != nil {
				return code, 0, fmt.Errorf("respa %s %s: decode answer: %w", rq.method, target.Path, err)
			}
		}
		return code, 0, nil
	case code == http.StatusBadRequest:
		return code, 0, c.rejection(rq.method, target.Path, data)
	case code == http.StatusTooManyRequests || code >= 500:
		return code, retryAfter(resp.Header.Get("Retry-After")), c.apiError(rq.method, target.Path, code, data, ErrUnavailable)
	case code == http.StatusUnauthorized:
		return code, 0, c.apiError(rq.method, target.Path, code, data, ErrUnauthorized)
	case code == http.StatusForbidden:
		return code, 0, c.apiError(rq.method, target.Path, code, data, ErrForbidden)
	case code == http.StatusNotFound:
		return code, 0, c.apiError(rq.method, target.Path, code, data, ErrNotFound)
	case code >= 300 && code < 400:
		// Redirects are not followed (the token must stay on BaseURL's
		// host); say where it pointed, so an http->https or missing-slash
		// base URL is easy to fix.
		e := &APIError{Method: rq.method, Path: target.Path, StatusCode: code}
		if loc, err := target.Parse(resp.Header.Get("Location")); err == nil && loc.Host != "" {
			e.Detail = c.scrub("redirected to " + loc.Scheme + "://" + loc.Host + loc.Path + "; fix the base URL")
		}
		return code, 0, e
	default:
		return code, 0, c.apiError(rq.method, target.Path, code, data, nil)
	}
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

func (c *Client) apiError(method, path string, code int, body []byte, kind error) error {
	e := &APIError{Method: method, Path: path, StatusCode: code, kind: kind}
	var d struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &d) == nil && d.Detail != "" {
		e.Detail = c.scrub(d.Detail)
	} else if len(body) > 0 {
		text := strings.Join(strings.Fields(string(body)), " ")
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		e.Detail = c.scrub(text)
	}
	return e
}

// rejection parses a DRF 400 body: {"field": ["msg"], "non_field_errors":
// ["msg"]} or {"detail": "msg"} or a bare list of messages.
func (c *Client) rejection(method, path string, body []byte) error {
	r := &Rejection{Method: method, Path: path, Fields: map[string][]string{}}
	var obj map[string]json.RawMessage
	var list []string
	switch {
	case json.Unmarshal(body, &obj) == nil:
		for k, v := range obj {
			k = c.scrub(k)
			msgs := messages(v)
			for i := range msgs {
				msgs[i] = c.scrub(msgs[i])
			}
			switch k {
			case "non_field_errors":
				for _, m := range msgs {
					r.NonField = append(r.NonField, unwrapDjangoRepr(m)...)
				}
			case "detail":
				r.Detail = strings.Join(msgs, " ")
			default:
				r.Fields[k] = msgs
			}
		}
	case json.Unmarshal(body, &list) == nil:
		for _, m := range list {
			r.NonField = append(r.NonField, unwrapDjangoRepr(c.scrub(m))...)
		}
	default:
		r.Detail = c.scrub(strings.TrimSpace(string(body)))
		if len(r.Detail) > 200 {
			r.Detail = r.Detail[:200] + "..."
		}
	}
	return r
}

// messages flattens a DRF error value: a string, a list of strings, or a
// nested object ({"id": ["..."]} for user) whose messages get its keys.
func messages(v json.RawMessage) []string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return []string{s}
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		var out []string
		for _, item := range list {
			out = append(out, messages(item)...)
		}
		return out
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) == nil {
		var out []string
		for k, item := range obj {
			for _, m := range messages(item) {
				out = append(out, k+": "+m)
			}
		}
		return out
	}
	return []string{string(v)}
}
