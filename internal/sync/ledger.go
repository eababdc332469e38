package sync

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"
)

// Entry is the last-synced state of one linked pair. An entry whose target item was not yet
// created (its id on that side is empty) is an intent, written before the create so that a
// crash between the create and the next save still leaves a trace to link or undo.
type Entry struct {
	Key           EventKey
	ItemID        string // last seen ItemId, to look the event up when it leaves the listing
	ReservationID string
	Origin        Origin
	// Start and End are the pair's last-synced interval, to forget pairs that left the window.
	Start, End time.Time
	Exchange   Hash
	Respa      Hash
	// ExchangeAlt and RespaAlt are set while a write is in flight: the pair's hashes once it
	// lands. The next pass compares with them if the target shows the written value, else with
	// Exchange and Respa, so a crash before or after the write is not mistaken for an edit.
	ExchangeAlt Hash
	RespaAlt    Hash
	// InFlight marks the groups and target sides of those writes (see flightBit), and deletes
	// whose outcome is unknown (see deleteBit), so that their landing is not read as an edit.
	InFlight uint8
}

// Pending reports whether the create on the target side has not been confirmed yet.
func (e *Entry) Pending() bool {
	if e.Origin == FromRespa {
		return e.ItemID == ""
	}
	return e.ReservationID == ""
}

// Ledger holds the entries of one resource, keyed by event key. The zero value is empty.
type Ledger struct {
	// Instance is the Respa instance of the stamps; knowing it, the encoding leaves out the
	// keys of Respa-born events, which are derived from it (about a tenth of the bytes).
	Instance string
	// Rebuilding is set while links are being recovered without a ledger and no pass has yet
	// seen both sides completely; such passes list beyond the window (see Pass.RebuildMargin).
	Rebuilding bool
	entries    map[EventKey]Entry
}

// ErrCorruptLedger means the stored ledger failed its checks; the pass treats it as lost.
var ErrCorruptLedger = errors.New("ledger is corrupt")

// Len counts the entries, intents included.
func (l Ledger) Len() int { return len(l.entries) }

// Get returns the entry of an event key.
func (l Ledger) Get(key EventKey) (Entry, bool) {
	e, ok := l.entries[key]
	return e, ok
}

// Put adds or replaces the entry of e.Key.
func (l *Ledger) Put(e Entry) {
	if l.entries == nil {
		l.entries = make(map[EventKey]Entry)
	}
	l.entries[e.Key] = e
}

// Remove forgets the entry of key.
func (l *Ledger) Remove(key EventKey) { delete(l.entries, key) }

// Entries returns the entries sorted by key.
func (l Ledger) Entries() []Entry {
	out := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(string(a.Key), string(b.Key)) })
	return out
}

// Linked counts the entries whose both sides exist, the base of the mass-deletion guard.
func (l Ledger) Linked() int {
	n := 0
	for _, e := range l.entries {
		if !e.Pending() {
			n++
		}
	}
	return n
}

// Clone returns an independent copy.
func (l Ledger) Clone() Ledger {
	c := Ledger{Instance: l.Instance, Rebuilding: l.Rebuilding, entries: make(map[EventKey]Entry, len(l.entries))}
	for k, v := range l.entries {
		c.entries[k] = v
	}
	return c
}

// Equal reports whether both ledgers hold the same entries.
func (l Ledger) Equal(o *Ledger) bool {
	if l.Instance != o.Instance || l.Rebuilding != o.Rebuilding || len(l.entries) != len(o.entries) {
		return false
	}
	for k, v := range l.entries {
		if w, ok := o.entries[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The encoding: gzip of text lines sorted by key, a header with version and count, and a
// trailer with a SHA-256 of everything before it. Text keeps it debuggable with zcat; the
// sort and a fixed gzip header make equal ledgers encode to equal bytes, so an unchanged
// ledger need not be written back.
const (
	ledgerMagic   = "rxledger"
	ledgerVersion = 1
	// maxLedgerText bounds decompression so a hostile object cannot exhaust memory.
	maxLedgerText = 64 << 20
)

// Encode returns the compact, deterministic form of the ledger.
func (l Ledger) Encode() []byte {
	var text bytes.Buffer
	inst := l.Instance
	if inst == "" {
		inst = "-"
	}
	flags := "-"
	if l.Rebuilding {
		flags = "R"
	}
	fmt.Fprintf(&text, "%s %d %d %s %s\n", ledgerMagic, ledgerVersion, len(l.entries), inst, flags)
	var line []byte
	for _, e := range l.Entries() {
		line = appendEntry(line[:0], &e, l.Instance)
		text.Write(line)
	}
	sum := sha256.Sum256(text.Bytes())
	fmt.Fprintf(&text, "sum %s\n", hex.EncodeToString(sum[:16]))

	var out bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&out)
	_, _ = zw.Write(text.Bytes())
	_ = zw.Close()
	gzipWriters.Put(zw)
	return out.Bytes()
}

// gzipWriters reuses compressors: each holds about a megabyte of tables, and the ledger is
// encoded after every batch of writes.
var gzipWriters = stdsync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
	return zw
}}

// derivedKey stands for the key RespaUID(instance, reservation id); '=' never starts a UID
// we would write, and a real UID starting with it is escaped.
const derivedKey = '='

// appendEntry writes one line: key, origin, reservation id, item id, start (unix seconds,
// base 36), duration (seconds, base 36), then the four hash halves in hex, and while a write
// is in flight four more and its mask.
func appendEntry(b []byte, e *Entry, instance string) []byte {
	if instance != "" && e.Origin == FromRespa && e.ReservationID != "" && string(e.Key) == RespaUID(instance, e.ReservationID) {
		b = append(b, derivedKey)
	} else {
		b = appendField(b, string(e.Key))
	}
	b = append(b, '\t', byte(e.Origin), '\t')
	b = appendField(b, e.ReservationID)
	b = append(b, '\t')
	b = appendField(b, e.ItemID)
	b = append(b, '\t')
	b = strconv.AppendInt(b, e.Start.Unix(), 36)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(e.End.Sub(e.Start)/time.Second), 36)
	hs := []uint32{e.Exchange.Time, e.Exchange.Text, e.Respa.Time, e.Respa.Text}
	if e.InFlight != 0 {
		hs = append(hs, e.ExchangeAlt.Time, e.ExchangeAlt.Text, e.RespaAlt.Time, e.RespaAlt.Text, uint32(e.InFlight))
	}
	for _, h := range hs {
		b = append(b, '\t')
		b = strconv.AppendUint(b, uint64(h), 16)
	}
	return append(b, '\n')
}

func appendField(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\t' || c == '\n' || c == '%' || c == '\r' || i == 0 && c == derivedKey {
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

func parseField(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	v, ok := unescapeMarkerKey(s)
	if !ok {
		return "", fmt.Errorf("bad escape in %q", s)
	}
	return v, nil
}

// DecodeLedger reads an encoded ledger. Empty input is an empty ledger (nothing stored yet);
// anything damaged yields ErrCorruptLedger rather than a guess.
func DecodeLedger(data []byte) (Ledger, error) {
	if len(data) == 0 {
		return Ledger{}, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return Ledger{}, fmt.Errorf("%w: %v", ErrCorruptLedger, err)
	}
	text, err := io.ReadAll(io.LimitReader(zr, maxLedgerText+1))
	if err != nil {
		return Ledger{}, fmt.Errorf("%w: %v", ErrCorruptLedger, err)
	}
	if len(text) > maxLedgerText {
		return Ledger{}, fmt.Errorf("%w: larger than %d bytes", ErrCorruptLedger, maxLedgerText)
	}
	l, err := parseLedgerText(text)
	if err != nil {
		return Ledger{}, fmt.Errorf("%w: %v", ErrCorruptLedger, err)
	}
	return l, nil
}

func parseLedgerText(text []byte) (Ledger, error) {
	i := bytes.LastIndex(text[:max(len(text)-1, 0)], []byte("\nsum "))
	if i < 0 {
		return Ledger{}, errors.New("no checksum")
	}
	body, trailer := text[:i+1], strings.TrimSpace(string(text[i+1:]))
	sum := sha256.Sum256(body)
	if trailer != "sum "+hex.EncodeToString(sum[:16]) {
		return Ledger{}, errors.New("checksum mismatch")
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return Ledger{}, errors.New("no header")
	}
	var magic, inst, flags string
	var version, count int
	if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %s %s", &magic, &version, &count, &inst, &flags); err != nil || magic != ledgerMagic || flags != "-" && flags != "R" {
		return Ledger{}, fmt.Errorf("bad header %q", sc.Text())
	}
	if version != ledgerVersion {
		return Ledger{}, fmt.Errorf("unsupported version %d", version)
	}
	if inst == "-" {
		inst = ""
	}
	l := Ledger{Instance: inst, Rebuilding: flags == "R", entries: make(map[EventKey]Entry, count)}
	for sc.Scan() {
		e, err := parseEntry(sc.Text(), inst)
		if err != nil {
			return Ledger{}, fmt.Errorf("line %d: %w", len(l.entries)+2, err)
		}
		if _, dup := l.entries[e.Key]; dup {
			return Ledger{}, fmt.Errorf("duplicate key %q", e.Key)
		}
		l.entries[e.Key] = e
	}
	if err := sc.Err(); err != nil {
		return Ledger{}, err
	}
	if len(l.entries) != count {
		return Ledger{}, fmt.Errorf("header says %d entries, found %d", count, len(l.entries))
	}
	return l, nil
}

func parseEntry(line, instance string) (Entry, error) {
	f := strings.Split(line, "\t")
	if len(f) != 10 && len(f) != 15 {
		return Entry{}, fmt.Errorf("want 10 or 15 fields, got %d", len(f))
	}
	var e Entry
	key, err := parseField(f[0])
	if err != nil || key == "" {
		return Entry{}, fmt.Errorf("bad key %q", f[0])
	}
	e.Key = EventKey(key)
	if f[1] != "E" && f[1] != "R" {
		return Entry{}, fmt.Errorf("bad origin %q", f[1])
	}
	e.Origin = Origin(f[1][0])
	if e.ReservationID, err = parseField(f[2]); err != nil {
		return Entry{}, err
	}
	if e.ItemID, err = parseField(f[3]); err != nil {
		return Entry{}, err
	}
	if f[0] == string(derivedKey) {
		if instance == "" || e.ReservationID == "" {
			return Entry{}, errors.New("derived key without instance or reservation id")
		}
		e.Key = EventKey(RespaUID(instance, e.ReservationID))
	}
	start, err := strconv.ParseInt(f[4], 36, 64)
	if err != nil {
		return Entry{}, fmt.Errorf("bad start %q", f[4])
	}
	dur, err := strconv.ParseInt(f[5], 36, 64)
	if err != nil || dur < 0 {
		return Entry{}, fmt.Errorf("bad duration %q", f[5])
	}
	e.Start = time.Unix(start, 0).UTC()
	e.End = e.Start.Add(time.Duration(dur) * time.Second)
	var hs [9]uint32
	for i := range len(f) - 6 {
		v, err := strconv.ParseUint(f[6+i], 16, 32)
		if err != nil {
			return Entry{}, fmt.Errorf("bad hash %q", f[6+i])
		}
		hs[i] = uint32(v)
	}
	e.Exchange = Hash{Time: hs[0], Text: hs[1]}
	e.Respa = Hash{Time: hs[2], Text: hs[3]}
	e.ExchangeAlt = Hash{Time: hs[4], Text: hs[5]}
	e.RespaAlt = Hash{Time: hs[6], Text: hs[7]}
	if hs[8] > 63 {
		return Entry{}, fmt.Errorf("bad in-flight mask %x", hs[8])
	}
	e.InFlight = uint8(hs[8])
	return e, nil
}
