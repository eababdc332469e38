package exchangesim

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// violation is the first schema error xmllint reports for a document.
type violation struct {
	line, pos int
	text      string
}

var (
	xmllintError = regexp.MustCompile(`(?m)^-:(\d+): .*?(?:validity error|parser error) ?: (.*)$`)
	elementName  = regexp.MustCompile(`Element '(?:\{[^}]*\})?([A-Za-z0-9_]+)'`)
	// The schema pins RequestServerVersion to Exchange2013_SP1; Exchange accepts
	// every version up to its own, newer ones included.
	requestVersion = regexp.MustCompile(`(RequestServerVersion\b[^>]*?\bVersion=["'])(Exchange20[0-9]{2}(?:_SP[0-9])?|V20[0-9]{2}_[0-9]{2}_[0-9]{2})(["'])`)
)

// validate runs xmllint on body against the schema. A nil violation with a
// nil error means the document is valid.
func validate(ctx context.Context, schema string, body []byte) (*violation, error) {
	if schema == "" {
		return nil, fmt.Errorf("validate request: no schema path configured")
	}
	doc := requestVersion.ReplaceAll(body, []byte("${1}Exchange2013_SP1${3}"))
	cmd := exec.CommandContext(ctx, "xmllint", "--noout", "--nonet", "--schema", schema, "-")
	cmd.Stdin = bytes.NewReader(doc)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return nil, nil
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return nil, fmt.Errorf("run xmllint: %w", err)
	}
	out := stderr.String()
	m := xmllintError.FindStringSubmatch(out)
	if m == nil {
		if strings.Contains(out, "failed to compile") || strings.Contains(out, "failed to load") {
			return nil, fmt.Errorf("xmllint could not load schema %s: %s", schema, firstLine(out))
		}
		return &violation{line: 1, pos: 1, text: firstLine(out)}, nil
	}
	line, _ := strconv.Atoi(m[1])
	v := &violation{line: line, pos: 1, text: strings.TrimSpace(m[2])}
	// xmllint gives no column; point at the element it names, as Exchange does.
	if n := elementName.FindStringSubmatch(v.text); n != nil {
		lines := strings.Split(string(doc), "\n")
		if line >= 1 && line <= len(lines) {
			if i := strings.Index(lines[line-1], n[1]); i >= 0 {
				v.pos = i + 1
			}
		}
	}
	return v, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// schemaFault is Exchange's answer to a request that breaks the schema.
func schemaFault(v *violation) *etree.Document {
	return faultDoc("ErrorSchemaValidation", "The request failed schema validation: "+v.text, func(mx *etree.Element) {
		mx.CreateElement("t:LineNumber").SetText(strconv.Itoa(v.line))
		mx.CreateElement("t:LinePosition").SetText(strconv.Itoa(v.pos))
		mx.CreateElement("t:Violation").SetText(v.text)
	})
}
