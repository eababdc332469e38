package ews

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// DefaultOAuthScope is the app-only scope of Exchange Online EWS.
const DefaultOAuthScope = "https://outlook.office365.com/.default"

// EntraTokenURL is the client-credentials token endpoint of an Entra tenant.
func EntraTokenURL(tenantID string) string {
	return "https://login.microsoftonline.com/" + tenantID + "/oauth2/v2.0/token"
}

// Auth authenticates the requests the client sends. Implementations are
// Basic, NTLM and OAuth2ClientCredentials.
type Auth interface {
	// wrap returns a round tripper that authenticates requests and then
	// sends them through next; it records in secrets every credential
	// that must never be shown.
	wrap(next http.RoundTripper, secrets *secretSet) (http.RoundTripper, error)
}

// Basic is HTTP Basic authentication (on-premises Exchange where enabled).
type Basic struct {
	Username string
	Password string
}

func (b Basic) wrap(next http.RoundTripper, secrets *secretSet) (http.RoundTripper, error) {
	if b.Username == "" {
		return nil, errors.New("basic auth: username is empty")
	}
	secrets.add(b.Password)
	secrets.add(base64.StdEncoding.EncodeToString([]byte(b.Username + ":" + b.Password)))
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.SetBasicAuth(b.Username, b.Password)
		return next.RoundTrip(r)
	}), nil
}

// NTLM is NTLM authentication, the usual choice for on-premises Exchange
// with an impersonating service account.
type NTLM struct {
	Username string
	Password string
	// Domain is the user's NT domain; empty when Username is a UPN.
	Domain string
}

func (n NTLM) wrap(next http.RoundTripper, secrets *secretSet) (http.RoundTripper, error) {
	if n.Username == "" {
		return nil, errors.New("ntlm auth: username is empty")
	}
	secrets.add(n.Password)
	user := n.Username
	if n.Domain != "" && !strings.Contains(user, `\`) {
		user = n.Domain + `\` + user
	}
	// The negotiator takes the credentials from a Basic header that it
	// removes before anything is sent; it never sends Basic itself.
	neg := ntlmssp.Negotiator{RoundTripper: next}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.SetBasicAuth(user, n.Password)
		return neg.RoundTrip(r)
	}), nil
}

// OAuth2ClientCredentials is app-only OAuth2 (Exchange Online). The token is
// cached and fetched again shortly before it expires, or at once when the
// server refuses it (HTTP 401), in which case the request is sent once more.
type OAuth2ClientCredentials struct {
	// TokenURL is the token endpoint; see EntraTokenURL.
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Scopes defaults to DefaultOAuthScope.
	Scopes []string
}

func (o OAuth2ClientCredentials) wrap(next http.RoundTripper, secrets *secretSet) (http.RoundTripper, error) {
	if o.TokenURL == "" || o.ClientID == "" {
		return nil, errors.New("oauth2 client credentials: token URL and client id are required")
	}
	secrets.add(o.ClientSecret)
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = []string{DefaultOAuthScope}
	}
	cc := clientcredentials.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		TokenURL:     o.TokenURL,
		Scopes:       scopes,
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	// The token endpoint is reached through the same transport (TLS
	// settings, instrumentation) as EWS.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: next})
	src := &tokenCache{fetch: func() (*oauth2.Token, error) { return cc.Token(ctx) }, secrets: secrets}
	return &bearerTransport{tokens: src, next: next}, nil
}

// tokenCache hands out one access token until it nears expiry, and drops
// it early when the server refuses it: Exchange Online revokes tokens
// before their expiry (password or consent changes, tenant policy), and
// a client that waited out a refused token would fail for up to an hour.
type tokenCache struct {
	fetch   func() (*oauth2.Token, error)
	secrets *secretSet

	mu  sync.Mutex
	tok *oauth2.Token
}

func (s *tokenCache) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.Valid() {
		return s.tok, nil
	}
	t, err := s.fetch()
	if err != nil {
		return nil, err
	}
	// Remembered as a secret, so a token echoed in some error text is
	// scrubbed like a password.
	s.secrets.addToken(t.AccessToken)
	s.tok = t
	return t, nil
}

// refused forgets the token if it is still the one the server refused.
func (s *tokenCache) refused(access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == access {
		s.tok = nil
	}
}

// bearerTransport sends the cached token; on HTTP 401 it fetches a new
// token and sends the request once more.
type bearerTransport struct {
	tokens *tokenCache
	next   http.RoundTripper
}

func (b *bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := b.tokens.Token()
	if err != nil {
		return nil, err
	}
	resp, err := b.next.RoundTrip(withToken(r, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || r.GetBody == nil {
		return resp, err
	}
	b.tokens.refused(tok.AccessToken)
	fresh, err := b.tokens.Token()
	if err != nil {
		// The token endpoint's answer (credentials revoked?) says more
		// than the 401.
		drain(resp)
		resp.Body.Close()
		return nil, err
	}
	if fresh.AccessToken == tok.AccessToken {
		return resp, nil
	}
	body, err := r.GetBody()
	if err != nil {
		return resp, nil
	}
	drain(resp)
	resp.Body.Close()
	retry := withToken(r, fresh)
	retry.Body = body
	return b.next.RoundTrip(retry)
}

func withToken(r *http.Request, tok *oauth2.Token) *http.Request {
	r = r.Clone(r.Context())
	tok.SetAuthHeader(r)
	return r
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// secretSet is every credential the client holds, used to scrub error
// text that comes from code we do not control.
type secretSet struct {
	mu     sync.RWMutex
	static []string
	tokens []string
}

// minSecretLen keeps scrubbing from mangling ordinary words; shorter
// secrets are simply never echoed by this package.
const minSecretLen = 4

func (s *secretSet) add(v string) {
	if len(v) < minSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.static = append(s.static, v)
}

// addToken remembers an access token; only the last few are kept because
// tokens rotate for as long as the client lives.
func (s *secretSet) addToken(v string) {
	if len(v) < minSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.tokens {
		if x == v {
			return
		}
	}
	if len(s.tokens) >= 4 {
		s.tokens = s.tokens[1:]
	}
	s.tokens = append(s.tokens, v)
}

func (s *secretSet) scrub(msg string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.static {
		msg = strings.ReplaceAll(msg, v, "[REDACTED]")
	}
	for _, v := range s.tokens {
		msg = strings.ReplaceAll(msg, v, "[REDACTED]")
	}
	return msg
}
