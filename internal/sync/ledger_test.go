package sync_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	rx "github.com/respa-exchange/respa-exchange-operator/internal/sync"
)

// realisticLedger builds n pairs shaped like production ones: UIDs in Exchange's
// GlobalObjectId form (a fixed class id, a creation FILETIME, a random 16-byte id), EWS
// ItemIds of one calendar folder (mailbox and folder parts shared, 8 bytes of the item's own),
// a third of them occurrences, half born in Respa, numeric Respa ids.
func realisticLedger(n int, seed uint64) rx.Ledger {
	rng := rand.New(rand.NewPCG(seed, 1))
	l := rx.Ledger{Instance: instance}
	mailbox := "AAMkADc3MWUyMGQ5LTgxNTQtNGIwMi1hZjMzLTQ1ZmQ4YWNmNTk0MwBGAAAAAADsRbaeo9iDQoUtnCiZz8u5BwB8OE+gVNhHRZ2A8ppRWnp+AAAAAAENAAB8OE+gVNhHRZ2A8ppRWnp+AAA"
	for i := range n {
		filetime := uint64(134_000_000_000_000_000) + rng.Uint64N(1<<40)
		uid := fmt.Sprintf("040000008200E00074C5B7101A82E00800000000%016X000000000000000010000000%016X%016X", filetime, rng.Uint64(), rng.Uint64())
		start := t0.Add(time.Duration(rng.IntN(365*24)) * time.Hour)
		var rid time.Time
		if i%3 == 0 {
			rid = start
		}
		var own [8]byte
		binary.BigEndian.PutUint64(own[:], rng.Uint64())
		item := mailbox + base64.StdEncoding.EncodeToString(own[:]) + "AAA="
		origin := rx.FromExchange
		if i%2 == 0 {
			origin = rx.FromRespa
			uid = rx.RespaUID(instance, fmt.Sprint(100000+i))
			rid = time.Time{}
		}
		l.Put(rx.Entry{
			Key: rx.KeyOf(uid, rid), ItemID: item, ReservationID: fmt.Sprint(100000 + i), Origin: origin,
			Start: start, End: start.Add(time.Hour),
			Exchange: rx.Hash{Time: rng.Uint32() | 1, Text: rng.Uint32() | 1},
			Respa:    rx.Hash{Time: rng.Uint32() | 1, Text: rng.Uint32() | 1},
		})
	}
	return l
}

func TestLedgerRoundTripAndDeterminism(t *testing.T) {
	l := realisticLedger(300, 1)
	l.Put(rx.Entry{Key: "odd\tkey%with\nbytes", Origin: rx.FromExchange, Start: t0, End: t0.Add(time.Hour)}) // pending, escaped
	enc := l.Encode()
	got, err := rx.DecodeLedger(enc)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !got.Equal(&l) {
		t.Fatalf("round trip changed the ledger")
	}
	// Same entries inserted in another order encode to the same bytes.
	shuffled := rx.Ledger{Instance: l.Instance}
	es := l.Entries()
	for i := len(es) - 1; i >= 0; i-- {
		shuffled.Put(es[i])
	}
	if !bytes.Equal(shuffled.Encode(), enc) {
		t.Errorf("encoding is not deterministic")
	}
	empty, err := rx.DecodeLedger(nil)
	if err != nil || empty.Len() != 0 {
		t.Errorf("nothing stored must decode to an empty ledger: %v", err)
	}
}

func TestLedgerCorruptionIsReported(t *testing.T) {
	enc := realisticLedger(50, 2).Encode()
	flipped := bytes.Clone(enc)
	flipped[len(flipped)/2] ^= 0x01
	cases := map[string][]byte{
		"flipped byte": flipped,
		"truncated":    enc[:len(enc)-9],
		"not gzip":     []byte("rxledger 1 0\nsum 00\n"),
	}
	for name, data := range cases {
		if _, err := rx.DecodeLedger(data); !errors.Is(err, rx.ErrCorruptLedger) {
			t.Errorf("%s: err = %v, want ErrCorruptLedger", name, err)
		}
	}
}

// TestLedgerSize5000 prints the size of a ledger of 5 000 pairs and checks it fits a
// ConfigMap (1 MiB, with binaryData stored base64-encoded).
func TestLedgerSize5000(t *testing.T) {
	enc := realisticLedger(5000, 3).Encode()
	b64 := base64.StdEncoding.EncodedLen(len(enc))
	t.Logf("ledger of 5000 pairs: %d bytes encoded, %d bytes as ConfigMap binaryData (base64)", len(enc), b64)
	if b64 > 1<<20 {
		t.Errorf("ledger of 5000 pairs does not fit a ConfigMap: %d bytes", b64)
	}
}

func BenchmarkLedgerEncode5000(b *testing.B) {
	l := realisticLedger(5000, 3)
	var n int
	for b.Loop() {
		n = len(l.Encode())
	}
	b.ReportMetric(float64(n), "bytes/5000pairs")
}

func BenchmarkLedgerDecode5000(b *testing.B) {
	enc := realisticLedger(5000, 3).Encode()
	for b.Loop() {
		if _, err := rx.DecodeLedger(enc); err != nil {
			b.Fatal(err)
		}
	}
}
