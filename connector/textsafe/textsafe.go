// Package textsafe makes text that came from outside the connector (an API's message, a
// broker's reason, an OS error, bytes read from a file) safe to print on a terminal and to
// put in a log line. It is the one place that says what "safe" means; billing, state and
// the command line call it instead of cleaning text their own way.
package textsafe

import (
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NoLimit is the max of a Line that cuts nothing: for text that is cut later, once
// something in it has been hidden (billing cuts an API message only after it has hidden
// the credentials in it, so that no cut leaves a piece of one showing).
const NoLimit = math.MaxInt

// Ellipsis marks where Line cut the text.
const Ellipsis = "..."

// escapes are terminal escape sequences: CSI (colours, cursor moves), OSC (titles,
// hyperlinks), the 8-bit CSI, character set selections (ESC ( B) and the other two-byte
// escapes (ESC 7, ESC M, ESC c: save the cursor, scroll, reset the terminal).
var escapes = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x{9b}[0-?]*[ -/]*[@-~]|\x1b[ -/]+[0-~]?|\x1b[0-~]`)

// Line returns s as one line that a terminal shows as it is and that a log reader cannot
// mistake for another line:
//   - invalid UTF-8 becomes U+FFFD;
//   - escape sequences (CSI, OSC, the 8-bit CSI, other ESC sequences) are dropped whole;
//   - the other control characters (C0, DEL, C1) and the bidirectional formatting
//     characters (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) are dropped;
//   - every run of white space (line breaks, tabs, U+0085, U+2028...) becomes one space,
//     and none leads or trails;
//   - if what is left is longer than max bytes, it is cut to at most max bytes on a
//     character boundary and Ellipsis is added: the result is at most max+3 bytes.
//
// Line(Line(s, NoLimit), n) == Line(s, n): a clean line goes through unchanged but for the cut.
func Line(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = escapes.ReplaceAllString(s, "")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, s)
	return cut(strings.Join(strings.Fields(s), " "), max)
}

// cut cuts s to at most n bytes on a character boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := max(n, 0)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + Ellipsis
}
