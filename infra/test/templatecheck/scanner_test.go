package templatecheck_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// securityDoc explains every scanner check the template skips (make lint runs checkov).
const securityDoc = "../../../docs/security.md"

var checkID = regexp.MustCompile(`^CKV2?_AWS_[0-9]+$`)

// TestEveryScannerSkipCarriesItsReason: a check that does not apply is skipped next to its
// resource (Metadata checkov.skip, or bridgecrew.skip, which checkov reads too) with a one-line
// reason of its own, once per resource, and docs/security.md explains it. checkov accepts a skip
// without a comment (it reports "No comment provided"); this test does not.
func TestEveryScannerSkipCarriesItsReason(t *testing.T) {
	c := loadTemplate(t)
	doc, err := os.ReadFile(securityDoc)
	if err != nil {
		t.Fatal(err)
	}
	skips := 0
	for _, id := range sortedKeys(c["Resources"].(map[string]any)) {
		md, _ := c.resource(id)["Metadata"].(map[string]any)
		for _, tool := range []string{"checkov", "bridgecrew"} {
			seen := map[string]bool{}
			for i, sk := range list(path(md, tool, "skip")) {
				skips++
				m, _ := sk.(map[string]any)
				cid, why := str(m["id"]), strings.TrimSpace(str(m["comment"]))
				switch {
				case !checkID.MatchString(cid):
					t.Errorf("%s: %s skip %d: id %q is not a check id (CKV_AWS_n)", id, tool, i, m["id"])
				case m["comment"] == nil || why == "" || why == "No comment provided":
					t.Errorf("%s: skip of %s has no reason: say in comment why the check does not apply here", id, cid)
				case strings.Contains(why, "\n") || len(why) < 20:
					t.Errorf("%s: skip of %s: the reason is one line that explains, got %q", id, cid, why)
				case seen[cid]:
					t.Errorf("%s: %s is skipped twice", id, cid)
				}
				seen[cid] = true
				for k := range m {
					if k != "id" && k != "comment" {
						t.Errorf("%s: skip of %s has %q; checkov reads id and comment only", id, cid, k)
					}
				}
				if !strings.Contains(string(doc), cid) {
					t.Errorf("%s: %s is skipped but docs/security.md does not explain it", id, cid)
				}
			}
		}
	}
	if skips == 0 {
		t.Fatal("no skip found: is the test still reading Metadata?")
	}

	// checkov also honours a skip written as a comment inside a resource
	// (# checkov:skip=CKV_AWS_1:reason); the same rule holds for those.
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	inline := regexp.MustCompile(`(?i)(checkov|bridgecrew):skip=(\S*)`)
	withReason := regexp.MustCompile(`(?i)(checkov|bridgecrew):skip=(CKV2?_AWS_[0-9]+):\s*\S.{19,}`)
	for n, line := range strings.Split(string(raw), "\n") {
		if inline.MatchString(line) && !withReason.MatchString(line) {
			t.Errorf("template.yaml:%d: %q skips a check without a reason (checkov:skip=CKV_AWS_n:why)", n+1, strings.TrimSpace(line))
		}
	}
}
