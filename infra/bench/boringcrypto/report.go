package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// The builds run.sh makes; elf.json names them <arch>/<build>, coldstart.json <build>.
const (
	buildStandard = "standard"
	buildDynamic  = "boring-dynamic"
	buildStatic   = "boring-static"
)

// The decision rule.
type rule struct {
	minRatio  float64 // aws-jwt-verify ÷ keygate first-seen
	maxInitMs float64 // cold-start init regression
	maxArm64  int64   // arm64 bootstrap bytes
	glibc     string  // the runtime's glibc
}

func runReport(args []string) error {
	fset := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fset.String("dir", ".", "where micro.json, coldstart.json and elf.json are")
	minRatio := fset.Float64("min-ratio", 1.3, "adopt only if aws-jwt-verify ÷ keygate (first-seen) reaches this")
	maxInit := fset.Duration("max-init-regression", 5*time.Millisecond, "… and cold-start init grows by at most this")
	maxMiB := fset.Int64("max-arm64-mib", 12, "… and the arm64 bootstrap stays within this many MiB (make bench's 12 MB)")
	glibc := fset.String("glibc", "2.34", "the runtime's glibc (provided.al2023)")
	fset.Parse(args)
	r := rule{minRatio: *minRatio, maxInitMs: float64(*maxInit) / float64(time.Millisecond), maxArm64: *maxMiB << 20, glibc: *glibc}

	var m MicroResult
	if err := readJSON(*dir, microFile, &m); err != nil {
		return fmt.Errorf("report: %w (run the micro step first)", err)
	}
	var elfs []ELFInfo
	if err := readJSON(*dir, elfFile, &elfs); err != nil {
		return fmt.Errorf("report: %w (run the elf step first)", err)
	}
	var cold *ColdResult
	var c ColdResult
	switch err := readJSON(*dir, coldFile, &c); {
	case err == nil:
		cold = &c
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	writeReport(os.Stdout, &m, elfs, cold, r)
	return nil
}

func writeReport(w io.Writer, m *MicroResult, elfs []ELFInfo, cold *ColdResult, r rule) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	goVersion := ""
	for _, e := range elfs {
		if v, _, _ := strings.Cut(e.Settings["go"], "-X:"); v != "" {
			goVersion = v
		}
	}
	p("## GOEXPERIMENT=boringcrypto for the authorizer (issue 22 part 4)")
	p("")
	p("%s, %s; %s; load average %s → %s.", goVersion, m.CPU, m.Node, m.LoadStart, m.LoadEnd)
	p("")
	p("### In process: %d rounds of the standard build, the boringcrypto build and aws-jwt-verify (benchtime %s each, the order rotating)", m.Rounds, m.Benchtime)
	p("")
	p("| | median [min–max] over the rounds | allocs/op |")
	p("|---|---|---|")
	for _, row := range []struct{ variant, bench, label string }{
		{variantStandard, benchBare, "bare RSA-2048 verify (crypto/rsa, SHA-256 included), standard build"},
		{variantBoring, benchBare, "bare RSA-2048 verify, boringcrypto build (BoringSSL's RSA)"},
		{variantStandard, benchFirstSeen, "keygate authorizer, first-seen RS256 token, standard build"},
		{variantBoring, benchFirstSeen, "**keygate authorizer, first-seen RS256 token, boringcrypto build**"},
		{variantNode, benchNode, "aws-jwt-verify verifySync, same token (Node, in process)"},
	} {
		xs := m.series(row.variant, row.bench, nsOp)
		allocs := "—"
		if a := m.series(row.variant, row.bench, func(s Sample) float64 { return s.AllocsOp }); len(a) > 0 && row.variant != variantNode {
			allocs = fmt.Sprintf("%.0f", median(a))
		}
		p("| %s | %s | %s |", row.label, nsCell(xs), allocs)
	}
	p("")

	node := m.series(variantNode, benchNode, nsOp)
	fsStd, fsBoring := m.series(variantStandard, benchFirstSeen, nsOp), m.series(variantBoring, benchFirstSeen, nsOp)
	ratioStd, ratioBoring := perRound(node, fsStd), perRound(node, fsBoring)
	overStd := perRound(fsStd, m.series(variantStandard, benchBare, nsOp))
	overBoring := perRound(fsBoring, m.series(variantBoring, benchBare, nsOp))
	p("| ratio | standard build | boringcrypto build | target |")
	p("|---|---|---|---|")
	p("| **aws-jwt-verify ÷ keygate, first-seen token** (within each round; median [min–max]) | %s | %s | ≥ %s |", spreadRatio(ratioStd), spreadRatio(ratioBoring), ratioText(r.minRatio))
	ciStd0, ciStd1 := medianCI(ratioStd)
	ciBoring0, ciBoring1 := medianCI(ratioBoring)
	p("| the same: 95%% bootstrap CI of that median | %.2f–%.2f | %.2f–%.2f | |", ciStd0, ciStd1, ciBoring0, ciBoring1)
	p("| the same, fastest round ÷ fastest round (the least disturbed) | %s | %s | |", bestRatio(node, fsStd), bestRatio(node, fsBoring))
	p("| keygate first-seen ÷ bare RSA verify of the same build | %s | %s | ≤ 1.25× |", spreadRatio(overStd), spreadRatio(overBoring))
	p("")

	if m.PathRounds > 0 {
		p("Every authorizer path, %d rounds of both builds (median [min–max]):", m.PathRounds)
		p("")
		p("| BenchmarkAuthorizer | standard build | boringcrypto build | boringcrypto ÷ standard |")
		p("|---|---|---|---|")
		for _, row := range []struct{ bench, label string }{
			{benchBare, "rsa-verify-bare"},
			{"Authorizer/golang-jwt-parse", "golang-jwt-parse"},
			{benchFirstSeen, "handler-first-seen"},
			{"Authorizer/handler-repeated", "handler-repeated"},
			{"Authorizer/handler-api-key-cache-hit", "handler-api-key-cache-hit"},
			{"Authorizer/handler-api-key-cache-miss", "handler-api-key-cache-miss"},
			{"Authorizer/handler-invalid-token", "handler-invalid-token"},
		} {
			var s, b []float64
			for _, x := range m.Paths[variantStandard][row.bench] {
				s = append(s, x.NsOp)
			}
			for _, x := range m.Paths[variantBoring][row.bench] {
				b = append(b, x.NsOp)
			}
			if len(s) == 0 || len(b) == 0 {
				continue
			}
			p("| %s | %s | %s | %s |", row.label, nsCell(s), nsCell(b), ratioText(median(b)/median(s)))
		}
		p("")
	}

	byName := map[string]ELFInfo{}
	for _, e := range elfs {
		byName[e.Name] = e
	}
	coldBy := map[string]ColdVariant{}
	if cold != nil {
		for _, v := range cold.Variants {
			coldBy[v.Name] = v
		}
	}
	base, haveBase := coldBy[buildStandard]
	p("### AuthorizerFunction bootstrap")
	p("")
	if cold != nil {
		p("Cold starts: %d per build on the host (amd64), interleaved, lambdarun on a local stack (load average %s at the start): init is process start to the first request for work, first response adds fetching the signing keys and revocation state from the emulators and one first-seen verification.", cold.Reps, cold.Load)
		p("")
	}
	p("| build | arm64 size | amd64 size | arm64 linking (glibc symbol versions needed) | init, median [min–max] | Δ init vs standard | first response, median |")
	p("|---|---|---|---|---|---|---|")
	for _, b := range []string{buildStandard, buildDynamic, buildStatic} {
		arm, amd := byName["arm64/"+b], byName["amd64/"+b]
		initCell, delta, first := "—", "—", "—"
		if v, ok := coldBy[b]; ok {
			lo, hi := spread(v.InitMs)
			initCell = fmt.Sprintf("%.2f ms [%.2f–%.2f]", median(v.InitMs), lo, hi)
			first = fmt.Sprintf("%.2f ms", median(v.FirstMs))
			if haveBase && b != buildStandard {
				delta = fmt.Sprintf("%+.2f ms", median(v.InitMs)-median(base.InitMs))
			}
		}
		p("| %s | %s | %s | %s | %s | %s | %s |", b, mib(arm.Bytes), mib(amd.Bytes), linking(arm), initCell, delta, first)
	}
	if cold != nil && len(cold.Smoke) > 0 {
		p("")
		for _, s := range cold.Smoke {
			status := "✅"
			if !s.OK {
				status = "❌"
			}
			p("- %s %s: %s (init %.0f ms under emulation, not comparable)", status, s.Name, s.Detail, s.InitMs)
		}
	}
	p("")

	p("### The issue's rule on this run (adopt only if ≥ %s over aws-jwt-verify, init regression ≤ %.0f ms, arm64 ≤ %d MiB, glibc ≤ %s)", ratioText(r.minRatio), r.maxInitMs, r.maxArm64>>20, r.glibc)
	p("")
	adopt := ""
	ratio := median(ratioBoring)
	for _, b := range []string{buildStatic, buildDynamic} {
		arm, ok := byName["arm64/"+b]
		if !ok {
			continue
		}
		var fails []string
		if ratio < r.minRatio {
			fails = append(fails, fmt.Sprintf("first-seen is %s aws-jwt-verify's speed, below %s", ratioText(ratio), ratioText(r.minRatio)))
		}
		if v, ok := coldBy[b]; ok && haveBase {
			if d := median(v.InitMs) - median(base.InitMs); d > r.maxInitMs {
				fails = append(fails, fmt.Sprintf("init +%.2f ms > %.0f ms", d, r.maxInitMs))
			}
		} else {
			fails = append(fails, "cold start not measured")
		}
		if arm.Bytes > r.maxArm64 {
			fails = append(fails, fmt.Sprintf("arm64 %s > %d MiB", mib(arm.Bytes), r.maxArm64>>20))
		}
		if len(arm.TooNew) > 0 {
			fails = append(fails, fmt.Sprintf("needs a glibc newer than %s (%s)", r.glibc, strings.Join(arm.TooNew, ", ")))
		}
		headroom := fmt.Sprintf("arm64 headroom %.0f KiB", float64(r.maxArm64-arm.Bytes)/1024)
		if len(fails) == 0 {
			p("- %s: every condition met (%s).", b, headroom)
			if adopt == "" {
				adopt = b
			}
		} else {
			p("- %s: fails: %s (%s).", b, strings.Join(fails, "; "), headroom)
		}
	}
	// How close the call is: one run's median can land either side of the threshold.
	met := 0
	for _, x := range ratioBoring {
		if x >= r.minRatio {
			met++
		}
	}
	p("- Rounds in which boringcrypto's first-seen reached %s: %d of %d.", ratioText(r.minRatio), met, len(ratioBoring))
	if m.PathRounds > 0 {
		var parts []string
		for _, b := range []struct{ bench, label string }{
			{"Authorizer/handler-api-key-cache-hit", "API key (lookup cached)"},
			{"Authorizer/handler-api-key-cache-miss", "API key (lookup missed)"},
			{"Authorizer/handler-repeated", "repeated token"},
		} {
			var s, o []float64
			for _, x := range m.Paths[variantStandard][b.bench] {
				s = append(s, x.NsOp)
			}
			for _, x := range m.Paths[variantBoring][b.bench] {
				o = append(o, x.NsOp)
			}
			if len(s) > 0 && len(o) > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", b.label, ratioText(median(o)/median(s))))
			}
		}
		p("- What it costs elsewhere (boringcrypto ÷ standard, every SHA-256 and HMAC goes through cgo): %s.", strings.Join(parts, ", "))
	}
	p("")
	if adopt != "" {
		p("**By the rule, this run says: adopt** the %s build for AuthorizerFunction only. One run is not enough on a shared machine: compare several (ROUNDS, several invocations) before changing the build.", adopt)
	} else {
		p("**By the rule, this run says: keep today's build** (CGO_ENABLED=0, Go's crypto/rsa).")
	}
}

// perRound divides a[i] by b[i] for the rounds both have.
func perRound(a, b []float64) []float64 {
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// nsCell is "median unit [min–max]".
func nsCell(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	if len(xs) == 1 {
		return nsText(xs[0])
	}
	lo, hi := spread(xs)
	unit, scale := " ns", 1.0
	if median(xs) >= 1000 {
		unit, scale = " µs", 1000
	}
	return fmt.Sprintf("%s%s [%s–%s]", sig3(median(xs)/scale), unit, sig3(lo/scale), sig3(hi/scale))
}

// bestRatio is min(num) ÷ min(den).
func bestRatio(num, den []float64) string {
	if len(num) == 0 || len(den) == 0 {
		return "—"
	}
	a, _ := spread(num)
	b, _ := spread(den)
	return ratioText(a / b)
}

func nsText(ns float64) string {
	if ns >= 1000 {
		return sig3(ns/1000) + " µs"
	}
	return sig3(ns) + " ns"
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratioText(v float64) string { return fmt.Sprintf("%.2f×", v) }

func spreadRatio(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	lo, hi := spread(xs)
	return fmt.Sprintf("%s [%.2f–%.2f]", ratioText(median(xs)), lo, hi)
}

func mib(n int64) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f MiB (%d B)", float64(n)/(1<<20), n)
}

func linking(e ELFInfo) string {
	switch {
	case e.Bytes == 0:
		return "—"
	case e.Static:
		return "static"
	}
	var vs []string
	for v, n := range e.Glibc {
		vs = append(vs, fmt.Sprintf("%s ×%d", strings.TrimPrefix(v, "GLIBC_"), n))
	}
	sortVersions(vs)
	s := fmt.Sprintf("dynamic, %s (%s)", strings.Join(e.Needed, " "), strings.Join(vs, ", "))
	if len(e.TooNew) > 0 {
		s += "; too new: " + strings.Join(e.TooNew, ", ")
	}
	return s
}

// sortVersions orders "2.17 ×85" style entries by version.
func sortVersions(vs []string) {
	key := func(s string) [2]int {
		v, _, _ := strings.Cut(s, " ")
		k, _ := glibcVersion("GLIBC_" + v)
		return k
	}
	slices.SortFunc(vs, func(a, b string) int { return cmpVersion(key(a), key(b)) })
}
