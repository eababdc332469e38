package ews

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chunkReader hands out its data in pieces of the given sizes, as a
// chunked HTTP body does.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)])%97 + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func splitAll(r io.Reader) ([][]byte, error) {
	sp := newEnvelopeSplitter(r, 1<<20)
	var out [][]byte
	for {
		b, err := sp.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

// addSampleSeeds adds the shared samples as seeds when ../shared exists;
// they are read in place, never copied into the project.
func addSampleSeeds(f *testing.F) {
	dir, err := os.Getwd()
	if err != nil {
		return
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			return
		}
		dir = filepath.Dir(dir)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "..", "shared", "ews-samples", "*.xml"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data, []byte{3, 250, 17})
		}
	}
}

// FuzzStreamSplitter checks that the envelope splitter and the response
// parsers never panic, and that how the stream is chunked never changes
// which envelopes come out.
func FuzzStreamSplitter(f *testing.F) {
	f.Add([]byte(streamEnvelope(keepAlive)+streamEnvelope(closedMsg)), []byte{1})
	f.Add([]byte(`<?xml version="1.0"?>`+streamEnvelope(notificationMsg("s", "CreatedEvent", "i"))+"\n<!-- c -->"+streamEnvelope(closedMsg)), []byte{5, 64, 2})
	f.Add([]byte(`<a><b></a>`), []byte{2})
	f.Add([]byte(`</x><y/>`), []byte{9})
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>`), []byte{4})
	f.Add(findItemResponse(genItems(3, utc("2026-01-01T00:00:00Z")), false), []byte{33, 1})
	f.Add(faultBody(CodeServerBusy, "busy", 1000), []byte{8})
	addSampleSeeds(f)
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		whole, errWhole := splitAll(bytes.NewReader(data))
		parts, errParts := splitAll(&chunkReader{data: data, sizes: sizes})
		if (errWhole == nil) != (errParts == nil) || len(whole) != len(parts) {
			t.Fatalf("chunking changed the outcome: %d/%v vs %d/%v", len(whole), errWhole, len(parts), errParts)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], parts[i]) {
				t.Fatalf("envelope %d differs by chunking", i)
			}
			if !bytes.HasPrefix(whole[i], []byte("<")) || !bytes.HasSuffix(whole[i], []byte(">")) {
				t.Fatalf("envelope %d is not one element: %q", i, whole[i])
			}
			_, _ = parseStreamEnvelope(whole[i])
		}
		for _, op := range []string{"FindItem", "GetItem", "CreateItem", "ResolveNames", "SyncFolderItems", "Subscribe"} {
			env, err := parseEnvelope(op, data)
			if err != nil {
				if !strings.Contains(err.Error(), op) {
					t.Fatalf("error without its operation: %v", err)
				}
				continue
			}
			switch op {
			case "FindItem":
				_, _, _ = parseFindItem(env)
			case "GetItem":
				_ = parseGetItem(env, make([]CalendarItem, 2), make([]error, 2))
			case "CreateItem":
				_ = parseWriteResponse(env, op, make([]Outcome, 3))
			case "ResolveNames":
				_, _ = parseResolveNames(env)
			case "SyncFolderItems":
				_, _ = parseSyncFolderItems(env)
			default:
				_, _ = env.singleMessage(op)
			}
		}
	})
}
