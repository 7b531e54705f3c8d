package doccheck_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// withoutCodeBlocks blanks the fenced code blocks of a Markdown document, keeping its lines.
func withoutCodeBlocks(doc string) []string {
	lines := strings.Split(doc, "\n")
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			lines[i] = ""
		} else if fenced {
			lines[i] = ""
		}
	}
	return lines
}

// slug is the anchor GitHub gives a heading: lower case, punctuation dropped, spaces → hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, l := range withoutCodeBlocks(doc) {
		if h := strings.TrimLeft(l, "#"); len(h) < len(l) && strings.HasPrefix(h, " ") {
			out[slug(strings.TrimSpace(h))] = true
		}
	}
	return out
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

func TestEveryRelativeLinkInTheDocsResolves(t *testing.T) {
	root := repoRoot(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(root, "README.md"), filepath.Join(root, "SECURITY.md"))
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, doc)
		for n, line := range withoutCodeBlocks(string(b)) {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := doc
				if file != "" {
					path = filepath.Join(filepath.Dir(doc), filepath.FromSlash(file))
				}
				body, err := os.ReadFile(path)
				if err != nil && file != "" {
					if _, statErr := os.Stat(path); statErr == nil {
						continue // a directory
					}
					t.Errorf("%s:%d: %s: no such file", name, n+1, target)
					continue
				}
				if anchor != "" && strings.HasSuffix(path, ".md") && !anchors(string(body))[anchor] {
					t.Errorf("%s:%d: %s: no heading with that anchor", name, n+1, target)
				}
			}
		}
	}
}
