package state

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// A detail from outside (a bbolt message, a stored key) is made safe as everywhere else
// (textsafe.Line): before, only line breaks were folded and the cut could split a character.
func TestShorten_DetailIsSafeAndCutOnACharacterBoundary(t *testing.T) {
	got := shorten("x" + strings.Repeat("é", maxDetail))
	assert.True(t, utf8.ValidString(got), "%q", got)
	assert.Equal(t, "x"+strings.Repeat("é", (maxDetail-1)/2)+"...", got)
	assert.Equal(t, "key 2J evil title", shorten("key\x1b[2J 2J\t\u202eevil\r\n\x1b]0;x\x07title\x00"))
}

// The whole line of an Error is safe, whatever its parts hold.
func TestError_IsOneSafeLine(t *testing.T) {
	e := &Error{Path: "/var/lib/\x1b[31mstate.db", Problem: "bad\nline \u202eevil", Hint: "do\tthis"}
	assert.Equal(t, "state_path /var/lib/state.db: bad line evil; do this", e.Error())
}
