package exchangesim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

const getCalendar = `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>`

func TestBasicAuthAndImpersonation(t *testing.T) {
	_, url := testSim(t, Options{})
	for name, c := range map[string]client{
		"no credentials": {t: t, url: url, impersonate: room1},
		"wrong password": {t: t, url: url, user: svcUser, pass: "nope", impersonate: room1},
		"unknown user":   {t: t, url: url, user: "mallory", pass: svcPass, impersonate: room1},
		"unknown token":  {t: t, url: url, bearer: "forged", impersonate: room1},
	} {
		resp, body := c.raw(getCalendar)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: status %d, want 401 with a challenge", name, resp.StatusCode)
		}
		if strings.Contains(string(body), svcPass) {
			t.Errorf("%s: the response echoes the password", name)
		}
	}

	c := client{t: t, url: url, user: svcUser, pass: svcPass}
	c.impersonate = room1
	if status, root := c.do(getCalendar); status != http.StatusOK || codes(root)[0] != "NoError" {
		t.Errorf("granted mailbox: status %d codes %v", status, codes(root))
	}
	c.impersonate = room2
	status, root := c.do(getCalendar)
	if status != http.StatusInternalServerError || text(find(root, "faultcode")) != "a:ErrorImpersonateUserDenied" || text(find(root, "ResponseCode")) != "ErrorImpersonateUserDenied" {
		t.Errorf("denied: status %d fault %q", status, text(find(root, "faultcode")))
	}
	c.impersonate = "ghost@example.com"
	status, root = c.do(getCalendar)
	if status != http.StatusInternalServerError || text(find(root, "ResponseCode")) != "ErrorNonExistentMailbox" {
		t.Errorf("unknown mailbox: status %d code %q", status, text(find(root, "ResponseCode")))
	}
	// Without impersonation and without a mailbox of its own, a distinguished
	// folder must name its mailbox.
	c.impersonate = ""
	if _, root := c.do(getCalendar); codes(root)[0] != "ErrorMissingEmailAddress" {
		t.Errorf("no mailbox: codes %v", codes(root))
	}
}

func fetchToken(t *testing.T, base string, form url.Values) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("token response is not JSON: %s", raw)
	}
	return resp.StatusCode, out, string(raw)
}

func TestOAuthClientCredentialsAndTokenExpiry(t *testing.T) {
	var mu sync.Mutex
	now := mustTime(t, "2026-12-01T08:00:00Z")
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sim, base := testSim(t, Options{Now: clock, TokenTTL: time.Hour})
	if err := sim.AddApp(App{ClientID: "op", ClientSecret: "app-secret-value", Impersonate: []string{room2}}); err != nil {
		t.Fatal(err)
	}
	status, body, raw := fetchToken(t, base, url.Values{"grant_type": {"client_credentials"}, "client_id": {"op"}, "client_secret": {"wrong-secret-value"},
		"scope": {"https://outlook.office365.com/.default"}})
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" || strings.Contains(raw, "wrong-secret-value") {
		t.Errorf("bad secret: status %d body %s", status, raw)
	}
	status, body, _ = fetchToken(t, base, url.Values{"grant_type": {"password"}, "client_id": {"op"}, "client_secret": {"app-secret-value"}})
	if status != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
		t.Errorf("wrong grant: status %d body %v", status, body)
	}
	status, body, _ = fetchToken(t, base, url.Values{"grant_type": {"client_credentials"}, "client_id": {"op"}, "client_secret": {"app-secret-value"},
		"scope": {"https://outlook.office365.com/.default"}})
	tok, _ := body["access_token"].(string)
	if status != http.StatusOK || tok == "" || body["token_type"] != "Bearer" || body["expires_in"].(float64) != 3600 {
		t.Fatalf("token: status %d body %v", status, body)
	}
	c := client{t: t, url: base, bearer: tok, impersonate: room2}
	if status, root := c.do(getCalendar); status != http.StatusOK || codes(root)[0] != "NoError" {
		t.Errorf("bearer call: status %d codes %v", status, codes(root))
	}
	c.impersonate = room1
	if status, root := c.do(getCalendar); status != 500 || text(find(root, "ResponseCode")) != "ErrorImpersonateUserDenied" {
		t.Errorf("app without a grant for room1: status %d", status)
	}
	mu.Lock()
	now = now.Add(61 * time.Minute)
	mu.Unlock()
	c.impersonate = room2
	if resp, _ := c.raw(getCalendar); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: status %d, want 401", resp.StatusCode)
	}
}

func TestLogsNeverCarryCredentials(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	sim, base := testSim(t, Options{Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, strings.TrimSpace(strings.ReplaceAll(fmtSprintf(format, args...), "\n", " ")))
	}})
	if err := sim.AddApp(App{ClientID: "op", ClientSecret: "app-secret-value", Impersonate: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	_, body, _ := fetchToken(t, base, url.Values{"grant_type": {"client_credentials"}, "client_id": {"op"}, "client_secret": {"app-secret-value"}})
	tok := body["access_token"].(string)
	client{t: t, url: base, user: svcUser, pass: svcPass, impersonate: room1}.do(getCalendar)
	client{t: t, url: base, bearer: tok, impersonate: room2}.do(getCalendar)
	mu.Lock()
	defer mu.Unlock()
	if len(lines) < 2 {
		t.Fatalf("expected request log lines, got %v", lines)
	}
	for _, l := range lines {
		for _, secret := range []string{svcPass, "app-secret-value", tok} {
			if strings.Contains(l, secret) {
				t.Errorf("log line carries a credential: %q", l)
			}
		}
	}
}

// TestOAuthWithXOAuth2ClientCredentials runs the token flow the EWS client
// uses (golang.org/x/oauth2/clientcredentials) against the built-in endpoint.
func TestOAuthWithXOAuth2ClientCredentials(t *testing.T) {
	sim, base := testSim(t, Options{})
	if err := sim.AddApp(App{ClientID: "op", ClientSecret: "app-secret-value", Impersonate: []string{room1}}); err != nil {
		t.Fatal(err)
	}
	cfg := clientcredentials.Config{ClientID: "op", ClientSecret: "app-secret-value", TokenURL: base + "/oauth2/v2.0/token",
		Scopes: []string{"https://outlook.office365.com/.default"}}
	httpClient := cfg.Client(t.Context())
	c := client{t: t, impersonate: room1}
	req, _ := http.NewRequest(http.MethodPost, base+"/EWS/Exchange.asmx", strings.NewReader(c.envelope(getCalendar)))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("EWS with an x/oauth2 token: status %d", resp.StatusCode)
	}
	bad := cfg
	bad.ClientSecret = "wrong-secret-value"
	_, err = bad.Token(t.Context())
	if err == nil || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("bad secret: err %v", err)
	}
}
