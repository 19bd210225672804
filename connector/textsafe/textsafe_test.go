package textsafe

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain text is kept", "InvalidParameter: the day 2026-11-02 is wrong.", NoLimit, "InvalidParameter: the day 2026-11-02 is wrong."},
		{"letters of any script, emoji with joiners", "账单 é 👩‍💻", NoLimit, "账单 é 👩‍💻"},
		{"CSI colours and cursor moves", "a\x1b[1;31mred\x1b[0m\x1b[2J\x1b[10;5H b", NoLimit, "ared b"},
		{"OSC title ended by BEL", "x\x1b]0;owned\x07y", NoLimit, "xy"},
		{"OSC hyperlink ended by ST", "\x1b]8;;http://evil.test\x1b\\link\x1b]8;;\x1b\\", NoLimit, "link"},
		{"8-bit CSI", "a\u009b2Jb", NoLimit, "ab"},
		{"character set selection", "a\x1b(Bb", NoLimit, "ab"},
		{"two-byte escapes: scroll, reset, save the cursor", "a\x1bMb\x1bc\x1b7d", NoLimit, "abd"},
		{"a lone ESC at the end", "ab\x1b", NoLimit, "ab"},
		{"C0 controls, DEL, C1", "a\x00\x07\x08b\x7fc\u0090\u009fd", NoLimit, "abcd"},
		{"bidi overrides and isolates", "\u202eevil\u202c \u2066x\u2069\u200f\u200e\u061cy", NoLimit, "evil xy"},
		{"invalid UTF-8", "\xffok\xe4\xb8", NoLimit, "\uFFFDok\uFFFD"},
		{"line breaks and tabs fold into one space", "one\r\ntwo\nthree\rfour\tfive\u2028six\u0085seven", NoLimit, "one two three four five six seven"},
		{"runs of white space fold, ends trimmed", "  a \t\n  b  ", NoLimit, "a b"},
		{"a forged log line stays on its line", "ok\n{\"level\":\"INFO\",\"msg\":\"all delivered\"}", NoLimit, `ok {"level":"INFO","msg":"all delivered"}`},
		{"not longer than max: not cut", "abcdef", 6, "abcdef"},
		{"cut at max bytes, marked", "abcdef", 2, "ab..."},
		{"cut on a character boundary", "éé", 3, "é..."},
		{"cut before a 3-byte character", "ab账单", 4, "ab..."},
		{"cut after cleaning", "\x1b[31mabc\x1b[0m", 3, "abc"},
		{"max 0", "abc", 0, "..."},
		{"negative max is 0", "abc", -5, "..."},
		{"empty", "", 10, ""},
		{"only controls", "\x1b[2J\x00\n", 10, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Line(tc.in, tc.max)
			assert.Equal(t, tc.want, got)
			assert.True(t, utf8.ValidString(got))
			assert.False(t, strings.ContainsAny(got, "\x1b\r\n\t\x00\x7f\u009b\u202e"), "%q", got)
			assert.Equal(t, got, Line(Line(tc.in, NoLimit), tc.max), "cleaning twice changes nothing")
			if tc.max >= 0 && tc.max < NoLimit {
				assert.LessOrEqual(t, len(got), tc.max+len(Ellipsis))
			}
		})
	}
}
