package bill

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// surrogatesBefore is checkText's scan for lone surrogates as it was before it jumped from
// backslash to backslash (cd7ab86): the reference the new scan must agree with.
func surrogatesBefore(raw []byte) error {
	for i := 0; i+5 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++
			continue
		}
		switch hex := strings.ToLower(string(raw[i+2 : i+6])); {
		case hex >= "d800" && hex <= "dbff":
			if i+11 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' ||
				!(strings.ToLower(string(raw[i+8:i+12])) >= "dc00" && strings.ToLower(string(raw[i+8:i+12])) <= "dfff") {
				return errors.New("escapes a lone surrogate (not valid UTF-16)")
			}
			i += 11
		case hex >= "dc00" && hex <= "dfff":
			return errors.New("escapes a lone surrogate (not valid UTF-16)")
		default:
			i += 5
		}
	}
	return nil
}

var textSeeds = []string{
	`"\ud800"`, `"\uD83D\uDE00"`, `"\ud83d\ude00x"`, `"\\ud800"`, `"\\\ud800"`, `"\ud83d\\ude00"`,
	`"\ud83d\n"`, `"\ud83d\u0041"`, `"\udbff\udfff"`, `"\udc00"`, `"\uDBFF\uDC00\uDC00"`, `"\u00e9\"\\"`,
	`{"a\ud800":1}`, `["\ud83d\ude00","\ud83d"]`, `"\ud83d\uDBFF"`, `"x\\"`, `"\/\b\f\n\r\t"`, `"\uD7FF\uE000"`,
}

// checkText finds exactly the lone surrogates it found before.
func FuzzCheckText_SurrogatesAsBefore(f *testing.F) {
	for _, s := range textSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		if !json.Valid(raw) {
			return
		}
		want := surrogatesBefore(raw)
		if !utf8Valid(raw) {
			return
		}
		assert.Equal(t, want, checkText(raw), "%q", s)
	})
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// endOfString ends a string where encoding/json does, whatever its escapes.
func FuzzEndOfString(f *testing.F) {
	for _, s := range []string{``, `\`, `\\`, `"`, `\"`, `a\"b\\`, "é\"\\\\\"", `\\\\\"`, "\\u00e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, _ := json.Marshal(s)
		b := append(append([]byte(nil), q...), `,"x\\":"\""]`...)
		assert.Equal(t, len(q), endOfString(b, 0), "%s", b)
		// a string written with every character escaped
		var e strings.Builder
		e.WriteByte('"')
		for _, c := range s {
			if c == '"' || c == '\\' {
				e.WriteByte('\\')
			}
			e.WriteRune(c)
		}
		e.WriteByte('"')
		assert.Equal(t, e.Len(), endOfString([]byte(e.String()+`"\\"`), 0), "%s", e.String())
	})
}

// ListOfChecked splits a checked list into what encoding/json reads as its elements.
func FuzzListOfChecked(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "a" ,{"b":[2,"]"]}, null,[ ] ] `, `{}`, `"x"`, `[{"a":"\"]"}]`, `5`, `[[[]]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		if checkText(raw) != nil {
			return
		}
		var want []json.RawMessage
		wantErr := json.Unmarshal(raw, &want)
		got, err := ListOfChecked(raw)
		if wantErr != nil || want == nil {
			// null is no list to encoding/json, and an error to ListOfChecked: its caller
			// reads null as no items first.
			assert.True(t, err != nil || string(raw) == "null" || len(got) == 0, "%q", s)
			return
		}
		require.NoError(t, err, "%q", s)
		require.Len(t, got, len(want), "%q", s)
		for i := range want {
			assert.Equal(t, string(want[i]), string(got[i]), "%q", s)
		}
	})
}

// membersInto reads and refuses what MembersOfChecked does, with its messages.
func FuzzMembersInto(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"A":2}`, `{"CostUnit":1,"Co\u017ftUnit":2}`, `{"Coſtunit":1}`,
		`{"a":1,"\u0061":2}`, `{"PretaxAmount":"1","x":{"PretaxAmount":2}}`, `[]`, ` { "b" : [ ] , "a" : null } `,
		`{"` + strings.Repeat("n", MaxFieldName+9) + `":1,"` + strings.Repeat("n", MaxFieldName+9) + `":2}`} {
		f.Add(s)
	}
	want := []string{"a", "b", "CostUnit", "PretaxAmount", "ProductCode"}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		if checkText(raw) != nil {
			return
		}
		m, wantErr := MembersOfChecked(raw, want...)
		vals := make([][]byte, len(want))
		err := membersInto(raw, want, vals)
		if errors.Is(err, errManyMembers) {
			return
		}
		if wantErr != nil {
			require.Error(t, err, "%q", s)
			assert.Equal(t, wantErr.Error(), err.Error(), "%q", s)
			return
		}
		require.NoError(t, err, "%q", s)
		for k, w := range want {
			assert.Equal(t, string(m[w]), string(vals[k]), "%q %s", s, w)
			assert.Equal(t, m[w] == nil, vals[k] == nil, "%q %s", s, w)
		}
	})
}

// An account item of more members than membersInto reads is read as before: refused for
// a name given twice or but for case, read otherwise.
func TestParseAccount_ManyMembersAreReadAsBefore(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range MaxInstanceFields + 40 {
		b.WriteString(`"m` + strings.Repeat("x", i) + `":0,`)
	}
	for _, name := range accountMembers {
		b.WriteString(`"` + name + `":"1",`)
	}
	many := b.String()
	r, err := ParseAccount([]byte(many + `"z":0}`))
	require.NoError(t, err)
	assert.Equal(t, Amount("1"), r.PretaxAmount)
	assert.Equal(t, "1", r.SubscriptionType)

	_, err = ParseAccount([]byte(many + `"PipCode":"2"}`))
	assert.EqualError(t, err, `an item has the member "PipCode" twice`)
	_, err = ParseAccount([]byte(many + `"Coſtunit":"2"}`))
	assert.EqualError(t, err, `an item has a member "Coſtunit" where the API writes "CostUnit"`)
}

// A name that folds to one of the API's through a character of more bytes (ſ is s) is
// refused as ever.
func TestParseAccount_NamesThatFoldToTheAPIsAreRefused(t *testing.T) {
	_, err := ParseAccount([]byte(`{"Coſtunit":"x"}`))
	assert.EqualError(t, err, `an item has a member "Coſtunit" where the API writes "CostUnit"`)
	_, err = ParseAccount([]byte(`{"\u212aey":"x","BillingDate":"2026-11-03"}`))
	assert.EqualError(t, err, `an item has no member AdjustAmount`)
}

// idStrings' indexes are instanceIdentity's, then Tag.
func TestIDIndex_IsInstanceIdentitysOrder(t *testing.T) {
	for k, name := range instanceIdentity {
		assert.Equal(t, k, idIndex([]byte(name)), name)
	}
	assert.Equal(t, idTag, idIndex([]byte("Tag")))
	assert.Equal(t, len(instanceIdentity), idTag)
	assert.Equal(t, -1, idIndex([]byte("Tags")))
}

// isNumeric and isReserved say what the maps numeric and reserved say, of their names and
// of every member of the API's item.
func TestIsNumericIsReserved_AreTheMaps(t *testing.T) {
	names := []string{"", "tax", "Taxes", "Tag", "InstanceID", "PretaxAmountLocal", "vanceType", "Item"}
	for n := range numeric {
		names = append(names, n)
	}
	for n := range reserved {
		names = append(names, n)
	}
	for _, n := range names {
		assert.Equal(t, numeric[n], isNumeric([]byte(n)), n)
		assert.Equal(t, reserved[n], isReserved([]byte(n)), n)
	}
	assert.Len(t, numeric, 18)
	assert.Len(t, reserved, 3)
}

// appendString and identity write what json.Marshal writes, byte for byte.
func FuzzAppendString_IsJSONMarshal(f *testing.F) {
	for _, s := range []string{"", "ecs", "云服务器 ECS", "a<b>&c", "\u2028\u2029", "\x7f\x00\x1f\b\f\n\r\t", "\xff", "\ufffd",
		`"\`, "é\u2027\u202a", "k:v;x", "Ünïcødé ✓ \xed\xa0\x80"} {
		f.Add(s, "i-1")
	}
	f.Fuzz(func(t *testing.T, s, u string) {
		want, _ := json.Marshal(s)
		assert.Equal(t, string(want), string(appendString([]byte("x"), s)[1:]), "%q", s)
		parts, _ := json.Marshal([]string{s, u, ""})
		assert.Equal(t, string(parts), identity(s, u, ""), "%q %q", s, u)
	})
}

// nameSet finds a name again as a map does, in order or not.
func FuzzNameSet_IsAMap(f *testing.F) {
	for _, s := range []string{"a,b,c,a", "a,b,c,c", "b,a,b", "a,b,c,d", ",a,", "x,y,z,a,y", "a,a", "ab,a,abc,ab"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var set nameSet
		m := map[string]bool{}
		for _, name := range strings.Split(s, ",") {
			require.Equal(t, m[name], set.has([]byte(name)), "%q in %q", name, s)
			if !m[name] && len(m) < MaxInstanceFields {
				m[name] = true
				set.add([]byte(name))
			}
		}
	})
}

// Members given twice are found in order, out of order, and through escapes.
func TestParseInstance_FindsEveryMemberGivenTwice(t *testing.T) {
	for _, raw := range []string{
		`{"BillingDate":"d","InstanceID":"i","InstanceID":"j"}`,
		`{"InstanceID":"i","BillingDate":"d","InstanceID":"j"}`,
		`{"BillingDate":"d","InstanceID":"i","Zone":"z","A":1,"Zone":"y"}`,
		`{"BillingDate":"d","InstanceID":"i","Zone":"z","Instance\u0049D":"j"}`,
	} {
		_, err := ParseInstance([]byte(raw))
		assert.ErrorContains(t, err, "twice", raw)
	}
}

// Each member of an account item lands in the row's field of its name, amounts (and only
// they) read as amounts.
func TestAccountOfChecked_EachMemberInItsField(t *testing.T) {
	typ := reflect.TypeOf(AccountRow{})
	require.Equal(t, typ.NumField(), len(accountMembers))
	var b strings.Builder
	b.WriteString(`{`)
	for k, name := range accountMembers {
		if k > 0 {
			b.WriteString(`,`)
		}
		b.WriteString(`"` + name + `":"` + strconv.Itoa(k+1) + `.50"`)
	}
	b.WriteString(`}`)
	r, err := AccountOfChecked([]byte(b.String()))
	require.NoError(t, err)
	v := reflect.ValueOf(r)
	for k, name := range accountMembers {
		f := typ.Field(k)
		assert.Equal(t, name, f.Name)
		assert.Equal(t, f.Type == reflect.TypeFor[Amount](), accountAmounts[k], name)
		want := strconv.Itoa(k+1) + ".50"
		if accountAmounts[k] {
			want = strconv.Itoa(k+1) + ".5"
		}
		assert.Equal(t, want, v.Field(k).String(), name)
	}
}
