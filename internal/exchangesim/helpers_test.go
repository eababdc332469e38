package exchangesim

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

// sharedDir finds ../shared beside the module root, or skips the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	return testenv.SharedDir(t)
}

// schemaPath returns the EWS envelope schema, skipping when it or xmllint is absent.
func schemaPath(t testing.TB) string {
	t.Helper()
	p := filepath.Join(sharedDir(t), "ews-schema", "soap-envelope.xsd")
	if _, err := os.Stat(p); err != nil {
		testenv.Skip(t, testenv.Shared, "EWS schema %s is absent; skipping", p)
	}
	testenv.XmllintPath(t)
	return p
}

const (
	room1   = "room1@example.com"
	room2   = "room2@example.com"
	alice   = "alice@example.com"
	svcUser = "svc"
	svcPass = "s3cret-pass"
)

// testSim starts a simulator on 127.0.0.1 with two rooms, a person, and a
// service account that may impersonate room1 only.
func testSim(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	sim := New(opts)
	for _, m := range []string{room1, room2, alice} {
		if _, err := sim.AddMailbox(m, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.AddAccount(Account{User: svcUser, Password: svcPass, Impersonate: []string{room1}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.KillStreams("")
		srv.Close()
	})
	return sim, srv.URL
}

// client posts SOAP requests as one principal, optionally impersonating.
type client struct {
	t           testing.TB
	url         string
	user, pass  string
	bearer      string
	impersonate string
	version     string
	schema      string    // when set, every response is validated too
	collect     *[][]byte // when set, every response is kept for validateAll
}

func (c client) envelope(body string) string {
	version := c.version
	if version == "" {
		version = "Exchange2013_SP1"
	}
	hdr := `<t:RequestServerVersion Version="` + version + `"/>`
	if c.impersonate != "" {
		hdr += `<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>` + c.impersonate + `</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`
	}
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header>` + hdr + `</soap:Header>
<soap:Body>` + body + `</soap:Body>
</soap:Envelope>`
}

func (c client) raw(body string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+"/EWS/Exchange.asmx", strings.NewReader(c.envelope(body)))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return resp, b
}

// do posts a request and parses the response envelope.
func (c client) do(body string) (int, *etree.Element) {
	c.t.Helper()
	resp, b := c.raw(body)
	if c.collect != nil && resp.StatusCode != http.StatusUnauthorized {
		*c.collect = append(*c.collect, b)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		c.t.Fatalf("response status %d is not XML: %v\n%s", resp.StatusCode, err, b)
	}
	return resp.StatusCode, doc.Root()
}

// find returns the first descendant with the local name in any EWS namespace.
func find(e *etree.Element, local string) *etree.Element {
	all := findAll(e, local)
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

func findAll(e *etree.Element, local string) []*etree.Element {
	var out []*etree.Element
	var walk func(*etree.Element)
	walk = func(x *etree.Element) {
		for _, c := range x.ChildElements() {
			if c.Tag == local && c.NamespaceURI() != nsSOAP {
				out = append(out, c)
			}
			walk(c)
		}
	}
	if e != nil {
		walk(e)
	}
	return out
}

// codes lists the ResponseCode of each ResponseMessage, in order.
func codes(root *etree.Element) []string {
	var out []string
	for _, rc := range findAll(root, "ResponseCode") {
		if rc.NamespaceURI() == nsMessages {
			out = append(out, text(rc))
		}
	}
	return out
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func idsOf(root *etree.Element) []string {
	var out []string
	for _, ci := range findAll(root, "CalendarItem") {
		out = append(out, attr(child(ci, nsTypes, "ItemId"), "Id"))
	}
	return out
}

func calendarView(start, end string, max int) string {
	m := ""
	if max > 0 {
		m = ` MaxEntriesReturned="` + strconv.Itoa(max) + `"`
	}
	return `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="calendar:Start"/><t:FieldURI FieldURI="calendar:End"/>
<t:FieldURI FieldURI="calendar:CalendarItemType"/><t:FieldURI FieldURI="calendar:UID"/><t:FieldURI FieldURI="calendar:RecurrenceId"/>
<t:FieldURI FieldURI="calendar:Organizer"/>
<t:ExtendedFieldURI PropertySetId="c11ff724-aa03-4555-9952-8fa248a11c3e" PropertyName="ResvId" PropertyType="String"/>
</t:AdditionalProperties></m:ItemShape>
<m:CalendarView` + m + ` StartDate="` + start + `" EndDate="` + end + `"/>
<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`
}

func fmtSprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// validateAll validates many documents with one xmllint run (the schema is
// compiled once) and reports each failing document with its first error.
func validateAll(t testing.TB, schema string, docs [][]byte) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--noout", "--nonet", "--schema", schema}
	for i, d := range docs {
		p := filepath.Join(dir, fmt.Sprintf("doc%03d.xml", i))
		if err := os.WriteFile(p, requestVersion.ReplaceAll(d, []byte("${1}Exchange2013_SP1${3}")), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, err := exec.CommandContext(t.Context(), "xmllint", args...).CombinedOutput()
	if err == nil {
		return
	}
	reported := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, dir) || reported[name] || strings.HasSuffix(line, "validates") {
			continue
		}
		reported[name] = true
		var i int
		fmt.Sscanf(filepath.Base(name), "doc%03d.xml", &i)
		t.Errorf("document %d breaks the schema: %s\n%s", i, rest, docs[i])
	}
	if len(reported) == 0 {
		t.Fatalf("xmllint failed: %v\n%s", err, out)
	}
}
