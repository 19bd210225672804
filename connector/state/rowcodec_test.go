package state

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr(s string) *string { return &s }

// The records written are encoding/json's, byte for byte, whatever the strings hold; and
// each reads back as the row it was.
func TestRowCodec_WritesWhatEncodingJSONWrites(t *testing.T) {
	rows := []stored{
		{},
		{Row: Row{Hash: "9f86d081884c7d65", ID: "2c5f1f64-7d1e-5a8e-9a53-0e6f1c8b7a10", Revision: 1}},
		{Row: Row{Hash: "h", ID: "i", Revision: 1_780_000_000, Delivered: true, Pull: 7, Retracted: true}, Identity: ptr("")},
		{Row: Row{Hash: "h", ID: "i", Revision: -3, Pull: -1}, Identity: ptr("i-1/instance_type/abc")},
		{Row: Row{Hash: `a"b`, ID: `c\d`}},
		{Row: Row{Hash: "<&>", ID: "\x00\x1f\x7f"}},
		{Row: Row{Hash: "计费", ID: "\xff\xfe"}, Identity: ptr("项目 \u2028")},
		{Row: Row{ID: "ok"}, Identity: ptr(`"}`)},
	}
	for _, st := range rows {
		want, err := json.Marshal(st)
		require.NoError(t, err)
		got, err := marshalStored(st)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))

		var viaJSON stored
		require.NoError(t, json.Unmarshal(got, &viaJSON))
		back, err := unmarshalStored(got)
		require.NoError(t, err)
		assert.Equal(t, viaJSON, back, "%s", got)
	}
}

// Records in another form (spaced, reordered, escaped, other case, a value out of range)
// read as encoding/json reads them, errors included.
func TestRowCodec_ReadsOtherFormsAsEncodingJSONDoes(t *testing.T) {
	for _, v := range []string{
		`{"h":"a","id":"b","rev":1,"ok":true}`,
		`{ "h":"a","id":"b","rev":1,"ok":true}`,
		`{"id":"b","h":"a","rev":1,"ok":true}`,
		`{"H":"a","ID":"b","REV":2,"OK":true}`,
		`{"h":"a\u0041","id":"b","rev":1,"ok":false}`,
		`{"h":"a","id":"b","rev":1,"ok":false,"r":false}`,
		`{"h":"a","id":"b","rev":1,"ok":false,"p":0}`,
		`{"h":"a","id":"b","rev":-0,"ok":false}`,
		`{"h":"a","id":"b","rev":01,"ok":false}`,
		`{"h":"a","id":"b","rev":1.5,"ok":false}`,
		`{"h":"a","id":"b","rev":99999999999999999999,"ok":false}`,
		`{"h":"a","id":"b","rev":1,"ok":"yes"}`,
		`{"h":"a","id":"b","rev":1,"ok":true}x`,
		`{"h":"a","id":"b","rev":1,"ok":true`,
		`{"h":"a","id":"b","rev":1,"ok":true,"k":null}`,
		`{"h":"a","id":"b","rev":1,"ok":true,"k":"x","k":"y"}`,
		`{"h":5,"id":"b","rev":1,"ok":true}`,
		`{"h":"a","id":"b","rev":1,"ok":true,"p":3,"r":true,"k":"i"}`,
		`{"h":"a","id":"b","rev":1,"ok":true,"extra":1}`,
		`null`, ``, `{`, `"h"`,
	} {
		var want stored
		wantErr := json.Unmarshal([]byte(v), &want)
		got, err := unmarshalStored([]byte(v))
		if wantErr != nil {
			assert.Error(t, err, v)
			continue
		}
		require.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
}

// Whatever the bytes, the direct reading agrees with encoding/json whenever it reads them.
func FuzzRowCodec_DirectReadingAgreesWithEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"h":"a","id":"b","rev":1,"ok":true,"p":3,"r":true,"k":"i"}`))
	f.Add([]byte(`{"h":"","id":"","rev":0,"ok":false}`))
	f.Add([]byte(`{"h":"a","id":"b","rev":-12,"ok":false,"p":-0}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		got, ok := readCompact(v)
		if !ok {
			return
		}
		var want stored
		require.NoError(t, json.Unmarshal(v, &want), "%q read directly, refused by encoding/json", v)
		assert.Equal(t, want, got, "%q", v)
	})
}

// go test ./connector/state -bench RowCodec: the direct path against encoding/json.
func BenchmarkRowCodec(b *testing.B) {
	st := stored{Row: Row{Hash: "9f86d081884c7d659a2feaa0c55ad015", ID: "2c5f1f64-7d1e-5a8e-9a53-0e6f1c8b7a10", Revision: 1_780_000_000, Pull: 3}}
	v, _ := json.Marshal(st)
	b.Run("read/direct", func(b *testing.B) {
		for b.Loop() {
			_, _ = unmarshalStored(v)
		}
	})
	b.Run("read/encoding-json", func(b *testing.B) {
		for b.Loop() {
			var s stored
			_ = json.Unmarshal(v, &s)
		}
	})
	b.Run("write/direct", func(b *testing.B) {
		for b.Loop() {
			_, _ = marshalStored(st)
		}
	})
	b.Run("write/encoding-json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(st)
		}
	})
}
