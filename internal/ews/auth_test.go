package ews

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/go-logr/logr/funcr"
	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM is defined on MD4; used to check the handshake
)

const (
	clientSecret = "cl1ent-S3cret-value"
	userPassword = "s3cret-Pa55word"
)

// tokenServer is an OAuth2 client-credentials endpoint. Each token is
// "tok-N"; the first is issued already inside oauth2's expiry margin, so
// the next call must fetch a fresh one, which then stays cached.
func tokenServer(t *testing.T) (*httptest.Server, *[]url.Values) {
	var mu sync.Mutex
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		mu.Lock()
		forms = append(forms, r.PostForm)
		n := len(forms)
		mu.Unlock()
		if r.PostForm.Get("client_secret") != clientSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			// A careless endpoint that echoes what it got.
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: %s"}`, r.PostForm.Get("client_secret"))
			return
		}
		expires := 3600
		if n == 1 {
			expires = 5
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, expires)
	}))
	t.Cleanup(srv.Close)
	return srv, &forms
}

func TestOAuth2TokenCachedAndRefreshed(t *testing.T) {
	ts, forms := tokenServer(t)
	f := newFakeEWS(t, ok200(respWrap("GetFolder", successMsg("GetFolder", ""))))
	c := testClient(t, f.srv.URL, func(c *Config) {
		c.Auth = OAuth2ClientCredentials{TokenURL: ts.URL, ClientID: "app-id", ClientSecret: clientSecret}
	})
	for range 3 {
		if _, err := c.CheckAccess(ctx, "room1@example.org"); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range f.requests() {
		got = append(got, r.header.Get("Authorization"))
	}
	if strings.Join(got, ",") != "Bearer tok-1,Bearer tok-2,Bearer tok-2" {
		t.Errorf("Authorization headers %v", got)
	}
	if len(*forms) != 2 {
		t.Fatalf("%d token requests, want 2", len(*forms))
	}
	form := (*forms)[0]
	if form.Get("grant_type") != "client_credentials" || form.Get("scope") != DefaultOAuthScope || form.Get("client_id") != "app-id" {
		t.Errorf("token request %v", form)
	}
	if EntraTokenURL("contoso-tenant") != "https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token" {
		t.Error(EntraTokenURL("contoso-tenant"))
	}
}

// TestOAuth2RefusedTokenReplaced: a token the server refuses before its
// expiry (revoked) is dropped, a new one fetched and the request sent once
// more with the same body; a second 401 stands.
func TestOAuth2RefusedTokenReplaced(t *testing.T) {
	ts, forms := tokenServer(t)
	good := ok200(respWrap("GetFolder", successMsg("GetFolder", "")))
	refused := reply{status: 401}
	f := newFakeEWS(t, good, good, refused, good, refused, refused)
	c := testClient(t, f.srv.URL, func(c *Config) {
		c.Auth = OAuth2ClientCredentials{TokenURL: ts.URL, ClientID: "app-id", ClientSecret: clientSecret}
	})
	for i := range 2 {
		if _, err := c.CheckAccess(ctx, "room1@example.org"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// tok-2 is refused (3rd request); tok-3 is fetched and accepted.
	if _, err := c.CheckAccess(ctx, "room1@example.org"); err != nil {
		t.Fatalf("call after a refused token: %v", err)
	}
	// tok-3 refused, tok-4 refused too: the caller sees the 401.
	_, err := c.CheckAccess(ctx, "room1@example.org")
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("second refusal: %v, want ErrUnauthorized", err)
	}
	var got []string
	reqs := f.requests()
	for _, r := range reqs {
		got = append(got, r.header.Get("Authorization"))
	}
	if want := "Bearer tok-1,Bearer tok-2,Bearer tok-2,Bearer tok-3,Bearer tok-3,Bearer tok-4"; strings.Join(got, ",") != want {
		t.Errorf("Authorization headers %v, want %s", got, want)
	}
	if reqs[3].body != reqs[2].body || reqs[3].body == "" {
		t.Error("the retried request did not carry the same body")
	}
	if len(*forms) != 4 {
		t.Errorf("%d token requests, want 4", len(*forms))
	}
}

// TestSecretsNeverInErrorsOrLogs drives failures that could carry a
// credential (a token endpoint echoing the secret, a refused password, a
// retried call) and checks every error string and log line.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	var logMu sync.Mutex
	var logs strings.Builder
	logger := funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 9})
	secrets := []string{clientSecret, userPassword, "tok-", base64.StdEncoding.EncodeToString([]byte("svc-respa:" + userPassword))}
	check := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s shows a secret (%q): %s", what, sec, s)
			}
		}
	}

	// 1. The token endpoint refuses and echoes the wrong secret back.
	ts, _ := tokenServer(t)
	f := newFakeEWS(t, ok200(respWrap("GetFolder", successMsg("GetFolder", ""))))
	wrong := clientSecret + "-old"
	c := testClient(t, f.srv.URL, func(c *Config) {
		c.Auth = OAuth2ClientCredentials{TokenURL: ts.URL, ClientID: "app-id", ClientSecret: wrong}
		c.Logger = logger
	})
	_, err := c.CheckAccess(ctx, "room1@example.org")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("token refusal: %v", err)
	}
	check("token error", err.Error())
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("token error shows the configured secret: %v", err)
	}
	if len(f.requests()) != 0 {
		t.Error("EWS called without a token")
	}

	// 2. EWS refuses Basic credentials; the challenge carries a token-like blob.
	f = newFakeEWS(t, reply{status: 401, headers: map[string]string{"WWW-Authenticate": "Negotiate oYHqMIHnoAMKAQ"}})
	c = testClient(t, f.srv.URL, func(c *Config) { c.Logger = logger })
	_, err = c.CheckAccess(ctx, "room1@example.org")
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "oYHqMIHnoAMKAQ") {
		t.Errorf("unauthorized: %v", err)
	}
	check("401 error", err.Error())

	// 3. A retried call logs its retries; the server hangs up mid-way.
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(500)
			_, _ = w.Write(faultBody(CodeServerBusy, "busy", 1))
			return
		}
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		_ = conn.Close()
	}))
	defer srv.Close()
	c = testClient(t, srv.URL, func(c *Config) {
		c.Logger = logger
		c.Auth = OAuth2ClientCredentials{TokenURL: ts.URL, ClientID: "app-id", ClientSecret: clientSecret}
	})
	_, err = c.SyncFolderItems(ctx, "room1@example.org", "", 0)
	if err == nil {
		t.Fatal("dropped connections succeeded")
	}
	check("transport error", err.Error())

	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "retrying EWS call") {
		t.Errorf("no retry was logged:\n%s", out)
	}
	check("logs", out)
}

func utf16le(s string) []byte {
	var b bytes.Buffer
	for _, r := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&b, binary.LittleEndian, r)
	}
	return b.Bytes()
}

// ntlmServer plays the server side of an NTLM handshake and checks that
// the client proved knowledge of the password (NTLMv2), on one connection.
type ntlmServer struct {
	t         *testing.T
	challenge [8]byte
	mu        sync.Mutex
	steps     []string
}

func (s *ntlmServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth := r.Header.Get("Authorization")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case auth == "":
		s.steps = append(s.steps, "anonymous")
		w.Header().Set("WWW-Authenticate", "NTLM")
		w.WriteHeader(401)
	case strings.HasPrefix(auth, "NTLM "):
		msg, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "NTLM "))
		if err != nil || len(msg) < 12 || string(msg[:8]) != "NTLMSSP\x00" {
			s.t.Errorf("bad NTLM message %q", auth)
			w.WriteHeader(400)
			return
		}
		switch binary.LittleEndian.Uint32(msg[8:12]) {
		case 1:
			s.steps = append(s.steps, "negotiate")
			ch := make([]byte, 48)
			copy(ch, "NTLMSSP\x00")
			binary.LittleEndian.PutUint32(ch[8:], 2)
			binary.LittleEndian.PutUint32(ch[12:], 0)     // TargetName: empty
			binary.LittleEndian.PutUint32(ch[16:], 48)    // TargetName offset
			binary.LittleEndian.PutUint32(ch[20:], 0x201) // UNICODE | NTLM
			copy(ch[24:32], s.challenge[:])
			binary.LittleEndian.PutUint32(ch[40:], 0) // TargetInfo: empty
			binary.LittleEndian.PutUint32(ch[44:], 48)
			w.Header().Set("WWW-Authenticate", "NTLM "+base64.StdEncoding.EncodeToString(ch))
			w.WriteHeader(401)
		case 3:
			s.steps = append(s.steps, "authenticate")
			field := func(off int) []byte {
				l := int(binary.LittleEndian.Uint16(msg[off:]))
				o := int(binary.LittleEndian.Uint32(msg[off+4:]))
				if o+l > len(msg) {
					return nil
				}
				return msg[o : o+l]
			}
			nt, domain, user := field(20), field(28), field(36)
			if !bytes.Equal(domain, utf16le("CORP")) || !bytes.Equal(user, utf16le("svc-respa")) || len(nt) < 16 {
				s.t.Errorf("authenticate message for %q\\%q", domain, user)
				w.WriteHeader(401)
				return
			}
			h := md4.New()
			h.Write(utf16le(userPassword))
			mac := hmac.New(md5.New, h.Sum(nil))
			mac.Write(utf16le(strings.ToUpper("svc-respa") + "CORP"))
			v2 := hmac.New(md5.New, mac.Sum(nil))
			v2.Write(s.challenge[:])
			v2.Write(nt[16:])
			if !hmac.Equal(v2.Sum(nil), nt[:16]) {
				s.steps = append(s.steps, "wrong-password")
				w.WriteHeader(401)
				return
			}
			if !bytes.Contains(body, []byte("<m:GetFolder>")) {
				s.t.Error("body not resent with the authenticate message")
			}
			_, _ = w.Write(respWrap("GetFolder", successMsg("GetFolder", "")))
		}
	default:
		s.t.Errorf("unexpected Authorization scheme %q", strings.SplitN(auth, " ", 2)[0])
		w.WriteHeader(401)
	}
}

func TestNTLMHandshake(t *testing.T) {
	ns := &ntlmServer{t: t, challenge: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}
	srv := httptest.NewServer(ns)
	defer srv.Close()
	c := testClient(t, srv.URL, func(c *Config) {
		c.Auth = NTLM{Username: "svc-respa", Password: userPassword, Domain: "CORP"}
	})
	if _, err := c.CheckAccess(ctx, "room1@example.org"); err != nil {
		t.Fatal(err)
	}
	ns.mu.Lock()
	if got := strings.Join(ns.steps, ","); got != "anonymous,negotiate,authenticate" {
		t.Errorf("handshake steps %s", got)
	}
	ns.mu.Unlock()

	bad := testClient(t, srv.URL, func(c *Config) {
		c.Auth = NTLM{Username: "svc-respa", Password: "wrong-password", Domain: "CORP"}
	})
	_, err := bad.CheckAccess(ctx, "room1@example.org")
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("wrong password: %v", err)
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if last := ns.steps[len(ns.steps)-1]; last != "wrong-password" {
		t.Errorf("server saw %v", ns.steps)
	}
}
