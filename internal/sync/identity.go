package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// linkPrefix starts every identity stamp we write on an Exchange event. The version lets a
// later format coexist with stamps already in calendars.
const linkPrefix = "rx1:"

// RespaLink is the stamp (an extended property value) of the Exchange event that mirrors a
// Respa reservation. It names the Respa instance so that two instances sharing a room never
// claim each other's events.
func RespaLink(instance, reservationID string) string {
	return linkPrefix + instance + "/" + reservationID
}

// ParseLink returns the Respa instance and reservation id of a stamp.
func ParseLink(link string) (instance, reservationID string, ok bool) {
	rest, found := strings.CutPrefix(link, linkPrefix)
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// RespaUID is the deterministic iCalendar UID of the event that mirrors a reservation. A
// create retried after a crash produces the same UID, and the next listing finds the first
// copy by it (and by its stamp) instead of creating a second one.
func RespaUID(instance, reservationID string) string {
	sum := sha256.Sum256([]byte(instance + "\x00" + reservationID))
	return "respa-" + hex.EncodeToString(sum[:16])
}

// MarkerText is the human-readable part of the marker we put in the comments of a
// reservation born in Exchange; the original product wrote the same words.
const MarkerText = "Synchronized from Exchange"

const (
	markerOpen  = "[rx:"
	markerClose = "]"
)

// Marker is the comments value of a reservation born in Exchange: the human-readable text
// plus the key of the event (UID, and recurrence id for an occurrence).
func Marker(key EventKey) string {
	return MarkerText + " " + markerOpen + escapeMarkerKey(string(key)) + markerClose
}

// ParseMarker finds our marker anywhere in a reservation's comments, so a person may add
// text around it without breaking the link.
func ParseMarker(comments string) (EventKey, bool) {
	i := strings.Index(comments, markerOpen)
	if i < 0 {
		return "", false
	}
	rest := comments[i+len(markerOpen):]
	j := strings.Index(rest, markerClose)
	if j <= 0 {
		return "", false
	}
	key, ok := unescapeMarkerKey(rest[:j])
	if !ok {
		return "", false
	}
	return EventKey(key), true
}

// escapeMarkerKey percent-encodes the few bytes that would end the marker early or that
// Respa might trim, leaving the usual hex UIDs readable.
func escapeMarkerKey(s string) string {
	if !strings.ContainsAny(s, "%] \t\r\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%', ']', ' ', '\t', '\r', '\n':
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescapeMarkerKey(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}
