package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
)

// runPool reads the micro.json of several runs (their -dir) and prints the first-seen ratio
// per run and over every round of all of them: one run's median on a shared machine can land
// either side of the threshold.
func runPool(args []string) error {
	fs := flag.NewFlagSet("pool", flag.ExitOnError)
	minRatio := fs.Float64("min-ratio", 1.3, "the issue's threshold for aws-jwt-verify ÷ keygate (first-seen)")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return fmt.Errorf("pool: the -dir of at least one run")
	}
	all := map[string][]float64{}
	fmt.Printf("| run | load average (start → end) | rounds | standard | boringcrypto |\n|---|---|---|---|---|\n")
	for _, dir := range fs.Args() {
		var m MicroResult
		if err := readJSON(dir, microFile, &m); err != nil {
			return err
		}
		node := m.series(variantNode, benchNode, nsOp)
		row := []string{}
		for _, v := range []string{variantStandard, variantBoring} {
			r := perRound(node, m.series(v, benchFirstSeen, nsOp))
			all[v] = append(all[v], r...)
			row = append(row, spreadRatio(r))
		}
		fmt.Printf("| %s | %s → %s | %d | %s | %s |\n", dir, m.LoadStart, m.LoadEnd, m.Rounds, row[0], row[1])
	}
	fmt.Println()
	for _, v := range []string{variantStandard, variantBoring} {
		r := all[v]
		lo, hi := medianCI(r)
		met := 0
		for _, x := range r {
			if x >= *minRatio {
				met++
			}
		}
		fmt.Fprintf(os.Stdout, "%s: aws-jwt-verify ÷ keygate first-seen over %d rounds: median %s (95%% bootstrap CI %.2f–%.2f), %d rounds ≥ %s\n",
			v, len(r), ratioText(median(r)), lo, hi, met, ratioText(*minRatio))
	}
	return nil
}

// medianCI is a percentile-bootstrap 95% confidence interval of the median (fixed seed: the
// same input prints the same interval).
func medianCI(xs []float64) (lo, hi float64) {
	if len(xs) < 2 {
		return median(xs), median(xs)
	}
	const n = 5000
	rng := rand.New(rand.NewPCG(22, 4))
	meds := make([]float64, n)
	buf := make([]float64, len(xs))
	for i := range meds {
		for j := range buf {
			buf[j] = xs[rng.IntN(len(xs))]
		}
		meds[i] = median(buf)
	}
	slices.Sort(meds)
	return meds[n*25/1000], meds[n*975/1000-1]
}
