package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot walks up from the test's directory to the one holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// TestReferenceIsCurrent fails when docs/api-reference.md differs from what the generator
// makes of the committed CRDs, so `go test ./...` catches a stale reference too.
func TestReferenceIsCurrent(t *testing.T) {
	root := moduleRoot(t)
	out := filepath.Join(t.TempDir(), "api-reference.md")
	doc, err := Generate(filepath.Join(root, "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, "docs", "api-reference.md"))
	if err != nil {
		t.Fatalf("read the committed reference: %v (run `make docs`)", err)
	}
	generated, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, generated) {
		t.Fatalf("docs/api-reference.md is stale: run `make docs` and commit it\n%s", firstDifference(committed, generated))
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	dir := filepath.Join(moduleRoot(t), "config", "crd", "bases")
	a, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := Generate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("two runs differ:\n%s", firstDifference(a, b))
		}
	}
}

// TestKnownFields checks rows of fields whose defaults and validation the guide relies on.
func TestKnownFields(t *testing.T) {
	doc, err := Generate(filepath.Join(moduleRoot(t), "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // "Kind field.path" -> table row
	kind := ""
	for _, line := range strings.Split(string(doc), "\n") {
		if k, ok := strings.CutPrefix(line, "## "); ok {
			kind = k
		}
		if strings.HasPrefix(line, "| `spec.") || strings.HasPrefix(line, "| `status.") {
			path := strings.Trim(strings.SplitN(line[2:], " |", 2)[0], "`")
			if _, dup := rows[kind+" "+path]; dup {
				t.Errorf("%s: field %s has two rows", kind, path)
			}
			rows[kind+" "+path] = line
		}
	}
	for path, want := range map[string][]string{
		"ExchangeResource spec.direction":                               {"`\"Bidirectional\"`", "enum: `Bidirectional`, `ExchangeToRespa`, `RespaToExchange`"},
		"ExchangeResource spec.conflictPolicy":                          {"`\"OriginWins\"`", "`ExchangeWins`", "`RespaWins`"},
		"ExchangeResource spec.deletionPolicy":                          {"`\"Both\"`", "`None`"},
		"ExchangeResource spec.notifications":                           {"`\"None\"`", "`SendToAllAndSaveCopy`"},
		"ExchangeResource spec.massDeletionGuard.maxPercent":            {"`20`", "minimum: 0", "maximum: 100"},
		"ExchangeResource spec.massDeletionGuard.minItems":              {"`3`"},
		"ExchangeResource spec.window":                                  {"CEL: window.future must be at most 17520h (two years)"},
		"ExchangeResource spec.window.future":                           {"`\"8760h\"`", "pattern: `^([0-9]+(\\.[0-9]+)?(ms\\|s\\|m\\|h))+$`"},
		"ExchangeResource spec.timeZone":                                {"`\"Europe/Helsinki\"`"},
		"ExchangeMailbox spec.exchange.serverVersion":                   {"`\"Exchange2013_SP1\"`", "`Exchange2010_SP2`"},
		"ExchangeMailbox spec.exchange.auth":                            {"**required**", "CEL: auth: set exactly one of basic, ntlm or oauth2ClientCredentials"},
		"ExchangeMailbox spec.exchange.auth.oauth2ClientCredentials":    {"CEL: oauth2ClientCredentials: set tenantID or tokenURL"},
		"ExchangeMailbox spec.respa.tokenType":                          {"`\"Token\"`", "enum: `Token`, `Bearer`"},
		"ExchangeResource status.massDeletion.token":                    {"**required**", "acknowledge-mass-deletion"},
		"ExchangeResource status.failedItems":                           {"[]object", "max items: 20"},
		"ExchangeMailbox status.stream.mode":                            {"enum: `Streaming`, `Polling`"},
		"ExchangeMailbox spec.exchange.auth.ntlm.passwordSecretRef.key": {"**required**", "pattern: `^[-._a-zA-Z0-9]+$`"},
	} {
		line, ok := rows[path]
		if !ok {
			t.Errorf("no row for %s", path)
			continue
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("row %s lacks %q:\n%s", path, w, line)
			}
		}
	}
	for _, w := range []string{"## ExchangeMailbox", "## ExchangeResource", "| Short names | `exres` |", "| Last Sync | date | `.status.lastSyncTime` |  |"} {
		if !strings.Contains(string(doc), w) {
			t.Errorf("reference lacks %q", w)
		}
	}
}

// TestCellEscaping covers text from schemas that would break a Markdown table or vanish as HTML.
func TestCellEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"a | b":                     `a \| b`,
		"as in /v1/resource/<id>/.": "as in /v1/resource/&lt;id&gt;/.",
		"DOMAIN\\user":              `DOMAIN\\user`,
		"one line\nwrapped":         "one line wrapped",
		"first paragraph\n\nsecond": "first paragraph<br><br>second",
		"  indented\n  lines  \n":   "indented lines",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"^(a|b)$": "`^(a\\|b)$`",
		"x`y":     "`` x`y ``",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGenerateRefusesEmptyDir(t *testing.T) {
	if _, err := Generate(t.TempDir()); err == nil {
		t.Fatal("an empty directory gave no error")
	}
}

func firstDifference(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + x + "\n  generated: " + y
		}
	}
	return "(same lines, different bytes)"
}
