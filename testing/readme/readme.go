// Package readme reads the commands a README gives, so that tests run them as written
// instead of a copy that can drift from the text.
package readme

import (
	"fmt"
	"strings"
)

// ShBlock is the text of the first ```sh block of the section titled section (a "## "
// heading line) of the Markdown md, after the line that starts with marker when marker is
// not "". The error says which of these the text lacks.
func ShBlock(md, section, marker string) (string, error) {
	_, sec, ok := strings.Cut(md, "\n"+section+"\n")
	if !ok {
		return "", fmt.Errorf("README.md has no section %q", section)
	}
	if end := strings.Index(sec, "\n## "); end >= 0 {
		sec = sec[:end]
	}
	if marker != "" {
		if _, sec, ok = strings.Cut(sec, marker); !ok {
			return "", fmt.Errorf("section %q has no line %q", section, marker)
		}
	}
	_, block, ok := strings.Cut(sec, "\n```sh\n")
	if !ok {
		return "", fmt.Errorf("section %q has no ```sh block", section)
	}
	if block, _, ok = strings.Cut(block, "\n```"); !ok {
		return "", fmt.Errorf("section %q: the ```sh block does not end", section)
	}
	return block, nil
}
