package controllers

import (
	"net/url"
	"regexp"
	"strings"
)

var (
	// userinfoInURL finds credentials written into URLs (https://user:pass@host).
	userinfoInURL = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@`)
	// authValue finds authorization values that a library may have echoed.
	authValue = regexp.MustCompile(`(?i)((?:authorization|token|bearer|basic|ntlm|negotiate|access_token|client_secret|password)["']?\s*[:= ]\s*["']?)[^\s"',;&]+`)
)

// scrub removes URL credentials, query strings and authorization values from a message meant
// for status, events or logs. The callers never put secrets in errors; this is the second line.
func scrub(msg string) string {
	msg = userinfoInURL.ReplaceAllString(msg, "${1}")
	msg = authValue.ReplaceAllString(msg, "${1}[redacted]")
	fields := strings.Fields(msg)
	changed := false
	for i, f := range fields {
		if !strings.Contains(f, "://") || !strings.Contains(f, "?") {
			continue
		}
		trimmed := strings.Trim(f, `"'()<>,.`)
		if u, err := url.Parse(trimmed); err == nil && u.RawQuery != "" {
			u.RawQuery = ""
			fields[i] = strings.Replace(f, trimmed, u.String(), 1)
			changed = true
		}
	}
	if changed {
		msg = strings.Join(fields, " ")
	}
	const max = 1024
	if len(msg) > max {
		msg = msg[:max] + "…"
	}
	return msg
}
