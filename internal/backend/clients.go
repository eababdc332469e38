// Package backend builds the EWS and Respa clients of an ExchangeMailbox from its spec and
// resolved credentials, keeps one set per mailbox so that every resource of a mailbox shares
// its per-mailbox concurrency limit, token cache and Respa rate limit, and checks the
// endpoints for the mailbox controller.
package backend

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	"github.com/respa-exchange/respa-exchange-operator/internal/metrics"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
)

// Clients are the clients of one mailbox.
type Clients struct {
	EWS   *ews.Client
	Respa *respa.Client
}

// Factory makes and caches Clients. The zero value is not usable; use NewFactory.
type Factory struct {
	// Wrap, when set, wraps every transport (the instrumented transport for metrics).
	Wrap func(backend string, rt http.RoundTripper) http.RoundTripper
	// RespaRateLimit is requests per second per Respa instance; 0 means 25.
	RespaRateLimit float64
	Logger         logr.Logger

	mu       sync.Mutex
	clients  map[string]cacheEntry    // by mailbox namespace/name
	limiters map[string]*rate.Limiter // by Respa base URL
}

type cacheEntry struct {
	fingerprint string
	clients     *Clients
}

// NewFactory returns an empty Factory whose clients send through the instrumented
// transport, so every outgoing call is counted and timed by backend and operation.
func NewFactory(log logr.Logger) *Factory {
	return &Factory{Logger: log, Wrap: metrics.Transport, clients: map[string]cacheEntry{}, limiters: map[string]*rate.Limiter{}}
}

// For returns the clients of the mailbox, made anew when its spec or credentials changed.
func (f *Factory) For(mb *v1alpha1.ExchangeMailbox, creds *controllers.MailboxCredentials) (*Clients, error) {
	if creds == nil {
		return nil, errors.New("no credentials resolved for the mailbox")
	}
	key := mb.Namespace + "/" + mb.Name
	fp := fingerprint(mb, creds)
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.clients[key]; ok && e.fingerprint == fp {
		return e.clients, nil
	}
	c, err := f.build(mb, creds)
	if err != nil {
		return nil, err
	}
	f.clients[key] = cacheEntry{fingerprint: fp, clients: c}
	return c, nil
}

// Forget drops the clients of a mailbox that is gone.
func (f *Factory) Forget(namespace, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clients, namespace+"/"+name)
}

func (f *Factory) build(mb *v1alpha1.ExchangeMailbox, creds *controllers.MailboxCredentials) (*Clients, error) {
	ex := mb.Spec.Exchange
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ex.TLS != nil {
		tlsCfg.InsecureSkipVerify = ex.TLS.InsecureSkipVerify
		if len(creds.CABundle) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(creds.CABundle) {
				return nil, &controllers.StallingError{Reason: v1alpha1.InvalidCredentialsReason, Err: errors.New("spec.exchange.tls.caBundleSecretRef: no usable certificate")}
			}
			tlsCfg.RootCAs = pool
		}
	}
	// EWS over HTTP/1.1: NTLM authenticates a connection, which HTTP/2 multiplexing breaks,
	// and Exchange's streaming responses are chunked HTTP/1.1 bodies.
	ewsTransport := http.DefaultTransport.(*http.Transport).Clone()
	ewsTransport.TLSClientConfig = tlsCfg
	ewsTransport.ForceAttemptHTTP2 = false
	ewsTransport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	ewsTransport.MaxIdleConnsPerHost = 16

	var auth ews.Auth
	switch {
	case ex.Auth.Basic != nil:
		auth = ews.Basic{Username: ex.Auth.Basic.Username, Password: creds.ExchangePassword}
	case ex.Auth.NTLM != nil:
		auth = ews.NTLM{Username: ex.Auth.NTLM.Username, Domain: ex.Auth.NTLM.Domain, Password: creds.ExchangePassword}
	case ex.Auth.OAuth2ClientCredentials != nil:
		o := ex.Auth.OAuth2ClientCredentials
		tokenURL := o.TokenURL
		if tokenURL == "" {
			tokenURL = ews.EntraTokenURL(o.TenantID)
		}
		auth = ews.OAuth2ClientCredentials{TokenURL: tokenURL, ClientID: o.ClientID, ClientSecret: creds.ExchangeClientSecret, Scopes: o.Scopes}
	default:
		return nil, &controllers.StallingError{Reason: v1alpha1.InvalidCredentialsReason, Err: errors.New("spec.exchange.auth: no method set")}
	}
	mode := ews.Impersonation
	if ex.AccessMode == "Delegate" {
		mode = ews.Delegate
	}
	ewsClient, err := ews.New(ews.Config{
		URL:           ex.URL,
		Auth:          auth,
		ServerVersion: ex.ServerVersion,
		AccessMode:    mode,
		Transport:     f.wrap("exchange", ewsTransport),
		Logger:        f.Logger.WithName("ews"),
	})
	if err != nil {
		return nil, &controllers.StallingError{Reason: v1alpha1.InvalidCredentialsReason, Err: fmt.Errorf("exchange client: %w", err)}
	}

	respaTransport := http.DefaultTransport.(*http.Transport).Clone()
	respaTransport.MaxIdleConnsPerHost = 16
	respaClient, err := respa.New(respa.Config{
		BaseURL:   mb.Spec.Respa.URL,
		Token:     creds.RespaToken,
		TokenKind: mb.Spec.Respa.TokenType,
		Transport: f.wrap("respa", respaTransport),
		Limiter:   f.limiter(mb.Spec.Respa.URL),
		Timeout:   30 * time.Second,
		Logger:    f.Logger.WithName("respa"),
	})
	if err != nil {
		return nil, &controllers.StallingError{Reason: v1alpha1.InvalidCredentialsReason, Err: fmt.Errorf("respa client: %w", err)}
	}
	return &Clients{EWS: ewsClient, Respa: respaClient}, nil
}

func (f *Factory) wrap(backend string, rt http.RoundTripper) http.RoundTripper {
	if f.Wrap == nil {
		return rt
	}
	return f.Wrap(backend, rt)
}

// limiter is shared by every mailbox that talks to the same Respa instance.
func (f *Factory) limiter(base string) *rate.Limiter {
	if l, ok := f.limiters[base]; ok {
		return l
	}
	rps := f.RespaRateLimit
	if rps <= 0 {
		rps = 25
	}
	l := respa.NewLimiter(rps, int(rps)*2)
	f.limiters[base] = l
	return l
}

// fingerprint identifies a spec and credentials without keeping the secret values.
func fingerprint(mb *v1alpha1.ExchangeMailbox, creds *controllers.MailboxCredentials) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00", mb.Generation, creds.ExchangePassword, creds.ExchangeClientSecret, creds.RespaToken)
	h.Write(creds.CABundle)
	return hex.EncodeToString(h.Sum(nil))
}
