package respa

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRejectionParsing(t *testing.T) {
	c := &Client{token: "tok"}
	for _, tc := range []struct {
		body     string
		nonField []string
		fields   map[string]string
		detail   string
	}{
		{`{"non_field_errors":["['The resource is already reserved for some of the period']"]}`, []string{MessageOverlap}, nil, ""},
		{`{"non_field_errors":["You cannot make a reservation in the past"]}`, []string{MessagePast}, nil, ""},
		{`{"begin":["This field is required."],"end":["This field is required."]}`, nil, map[string]string{"begin": "This field is required.", "end": "This field is required."}, ""},
		{`{"user":{"id":["Invalid pk \"7\" - object does not exist."]}}`, nil, map[string]string{"user": `id: Invalid pk "7" - object does not exist.`}, ""},
		{`{"detail":"'start' must be a timestamp in ISO 8601 format"}`, nil, nil, "'start' must be a timestamp in ISO 8601 format"},
		{`["Must be a valid boolean."]`, []string{"Must be a valid boolean."}, nil, ""},
		{`<h1>Bad Request (400)</h1>`, nil, nil, "<h1>Bad Request (400)</h1>"},
	} {
		err := c.rejection("POST", "/v1/reservation/", []byte(tc.body))
		var r *Rejection
		if !errors.As(err, &r) {
			t.Fatalf("%s: %T", tc.body, err)
		}
		if strings.Join(r.NonField, "|") != strings.Join(tc.nonField, "|") || r.Detail != tc.detail {
			t.Errorf("%s: non-field %q detail %q", tc.body, r.NonField, r.Detail)
		}
		for k, want := range tc.fields {
			if got := r.Fields[k]; len(got) != 1 || got[0] != want {
				t.Errorf("%s: field %s = %q, want %q", tc.body, k, got, want)
			}
		}
	}
}

func TestParseDjangoDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"00:30:00": 30 * time.Minute, "02:15:00": 2*time.Hour + 15*time.Minute,
		"1 01:00:00": 25 * time.Hour, "00:00:01.500000": 1500 * time.Millisecond,
	} {
		if got, err := parseDjangoDuration(in); err != nil || got != want {
			t.Errorf("parseDjangoDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "30m", "x 00:00:00", "aa:bb:cc"} {
		if _, err := parseDjangoDuration(bad); err == nil {
			t.Errorf("parseDjangoDuration(%q) accepted", bad)
		}
	}
}

// FuzzRejection feeds arbitrary 400 bodies to the parser: it must not
// panic and must never let the token through.
func FuzzRejection(f *testing.F) {
	f.Add([]byte(`{"non_field_errors":["['x', 'y']"],"comments":["tok"]}`))
	f.Add([]byte(`{"detail":"tok"}`))
	f.Add([]byte(`["tok"]`))
	f.Add([]byte(`{"a":{"b":[{"c":"tok"}]}}`))
	f.Add([]byte(`{"tok-SECRET":["x"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := &Client{token: "tok-SECRET"}
		err := c.rejection("POST", "/v1/reservation/", body)
		if strings.Contains(err.Error(), "tok-SECRET") {
			t.Fatalf("token in %q", err.Error())
		}
	})
}

func FuzzParseDjangoDuration(f *testing.F) {
	for _, s := range []string{"00:30:00", "1 01:00:00", "00:00:01.5", "-1 23:59:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseDjangoDuration(s)
	})
}
