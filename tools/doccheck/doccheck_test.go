// Package doccheck checks the README and docs/: every relative link points at a file that
// exists and, with a #fragment, at a heading of that file (as GitHub names its anchors);
// every page of docs/ is linked from the README; the README stays short enough to lead.
//
// A link to a file outside README.md, CHANGELOG.md, config.example.json and docs/*.md
// needs that file in this test's data (BUILD.bazel), or it fails under Bazel.
package doccheck

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	root       = "../.." // the repository, in the source tree (go test) and in the runfiles
	readmeFile = "README.md"
	docsDir    = "docs"
	maxReadme  = 350 // lines: the README leads a newcomer; the rest is in docs/
)

var (
	// link is an inline link or image: [text](target) or [text](target "title").
	link = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// scheme marks an absolute URL (https:, mailto:), which this test does not follow.
	scheme   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	heading  = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	codeSpan = regexp.MustCompile("`+[^`]*`+")
	// inlineLink is a link inside a heading: its text counts for the anchor, its target not.
	inlineLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// doc is one Markdown file: its links and its headings' anchors.
type doc struct {
	links   []docLink
	anchors map[string]bool
}

type docLink struct {
	line   int
	target string
}

// parse reads the links and the heading anchors of md, outside fenced code blocks; links
// inside code spans are not links.
func parse(md string) doc {
	d := doc{anchors: map[string]bool{}}
	seen := map[string]int{}
	fence := ""
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			a := anchor(m[2])
			if n := seen[a]; n > 0 {
				d.anchors[fmt.Sprintf("%s-%d", a, n)] = true
			} else {
				d.anchors[a] = true
			}
			seen[a]++
		}
		for _, m := range link.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			d.links = append(d.links, docLink{line: i + 1, target: m[1]})
		}
	}
	return d
}

// anchor is the fragment GitHub gives a heading: its text without Markdown, lower case,
// every character but letters, digits, '-', '_' and spaces dropped, spaces turned to '-'.
func anchor(text string) string {
	text = inlineLink.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// files are the checked pages, relative to the repository: the README and docs/*.md.
func files(t *testing.T) []string {
	pages, err := filepath.Glob(filepath.Join(root, docsDir, "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, pages, "no %s/*.md", docsDir)
	out := []string{readmeFile}
	for _, p := range pages {
		out = append(out, path.Join(docsDir, filepath.Base(p)))
	}
	sort.Strings(out[1:])
	return out
}

// broken lists what is wrong with the links of page (relative to the repository), one line
// each; read gives a file's text by its path relative to the repository.
func broken(page string, read func(string) (string, error)) []string {
	text, err := read(page)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, l := range parse(text).links {
		if scheme.MatchString(l.target) {
			continue
		}
		file, frag, _ := strings.Cut(l.target, "#")
		target := page
		if file != "" {
			target = path.Clean(path.Join(path.Dir(page), file))
		}
		where := fmt.Sprintf("%s:%d: link %q", page, l.line, l.target)
		if target == ".." || strings.HasPrefix(target, "../") || path.IsAbs(file) {
			out = append(out, where+" leaves the repository")
			continue
		}
		body, err := read(target)
		if err != nil {
			out = append(out, where+": no file "+target)
			continue
		}
		if frag != "" && !parse(body).anchors[frag] {
			out = append(out, fmt.Sprintf("%s: %s has no heading #%s", where, target, frag))
		}
	}
	return out
}

// readRepo reads a file of the repository; a directory reads as empty (a link to a folder).
func readRepo(rel string) (string, error) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("no file %s", rel)
	}
	if st.IsDir() {
		return "", nil
	}
	b, err := os.ReadFile(p)
	return string(b), err
}

func TestLinks_EveryRelativeLinkOfTheReadmeAndDocsResolves(t *testing.T) {
	for _, page := range files(t) {
		assert.Empty(t, broken(page, readRepo), "%s: broken links", page)
	}
}

func TestReadme_LinksEveryPageOfDocs(t *testing.T) {
	text, err := readRepo(readmeFile)
	require.NoError(t, err)
	linked := map[string]bool{}
	for _, l := range parse(text).links {
		file, _, _ := strings.Cut(l.target, "#")
		linked[path.Clean(file)] = true
	}
	for _, page := range files(t)[1:] {
		assert.True(t, linked[page], "README.md does not link %s (add it to the More list)", page)
	}
}

func TestReadme_IsShort(t *testing.T) {
	text, err := readRepo(readmeFile)
	require.NoError(t, err)
	n := strings.Count(strings.TrimRight(text, "\n"), "\n") + 1
	assert.Less(t, n, maxReadme, "README.md has %d lines; move detail to docs/ and link it", n)
}

func TestAnchor_AsGitHubNamesHeadings(t *testing.T) {
	for text, want := range map[string]string{
		"Try it locally":                          "try-it-locally",
		"HTTP (`http://`, `https://`)":            "http-http-https",
		"The release digest, and how to check it": "the-release-digest-and-how-to-check-it",
		`The instance bill (` + "`" + `"bills": [..., "instance"]` + "`" + `)`: "the-instance-bill-bills--instance",
		"Modes, exit statuses, health and metrics":                             "modes-exit-statuses-health-and-metrics",
		"See [Targets](docs/targets.md) now":                                   "see-targets-now",
		"state_path 和 账单":                                                      "state_path-和-账单",
	} {
		assert.Equal(t, want, anchor(text), text)
	}
}

func TestBroken_NamesEveryBadLinkAndSkipsCodeAndURLs(t *testing.T) {
	fs := map[string]string{
		"README.md": "# Top\n\n## Same\n\n## Same\n\n[ok](docs/a.md) [ok](docs/a.md#part-two) [ok](#same-1) [ok](#top)\n" +
			"[no file](docs/b.md) [no heading](docs/a.md#part-three) [no heading](#same-2)\n" +
			"[url](https://example.com/x.md) `[code](docs/c.md)`\n```sh\n[fenced](docs/d.md)\n# not a heading\n```\n" +
			"[out](../x.md) [folder](docs)\n",
		"docs/a.md": "# A\n\n## Part two\n\n[back](../README.md#same) [up](../README.md#not-a-heading)\n",
		"docs":      "",
	}
	read := func(p string) (string, error) {
		s, ok := fs[p]
		if !ok {
			return "", fmt.Errorf("no file %s", p)
		}
		return s, nil
	}
	assert.Equal(t, []string{
		`README.md:8: link "docs/b.md": no file docs/b.md`,
		`README.md:8: link "docs/a.md#part-three": docs/a.md has no heading #part-three`,
		`README.md:8: link "#same-2": README.md has no heading #same-2`,
		`README.md:14: link "../x.md" leaves the repository`,
	}, broken("README.md", read))
	assert.Equal(t, []string{
		`docs/a.md:5: link "../README.md#not-a-heading": README.md has no heading #not-a-heading`,
	}, broken("docs/a.md", read))
}
