package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry (px).
const (
	chartWidth = 900
	labelWidth = 260 // left column: bar labels
	barHeight  = 18
	barGap     = 8
	panelGap   = 44
	valueRoom  = 250 // right of the longest bar: its value label
)

// WriteSVG draws the results as a standalone SVG (no external fonts, scripts or links):
//
//   - per-request cost of each in-process benchmark on a log scale (the authorizer's rows next
//     to the bare RSA verify, golang-jwt and aws-jwt-verify baselines);
//   - each performance target (report.go) as its headroom (target beaten by ×N; the line at 1× is the
//     target itself), green when met, red when missed;
//   - the cost model's cost per million requests (model.go) next to Cognito M2M's token price.
func (r *Results) WriteSVG(w io.Writer) error {
	var body strings.Builder
	y := 62.0

	// Panel 1: micro benchmarks.
	type bar struct {
		label, value string
		v            float64
		kind         string // "base", "keygate", "other"
	}
	var micro []bar
	for _, m := range microRows {
		s, ok := r.Micro[m.name]
		if !ok || s.NsOp <= 0 {
			continue
		}
		kind := "keygate"
		switch m.name {
		case mBare, mGolangJWT, mAWS:
			kind = "base"
		}
		micro = append(micro, bar{m.short, formatNs(s.NsOp), s.NsOp, kind})
	}
	plotW := float64(chartWidth - labelWidth - valueRoom)
	if len(micro) > 0 {
		title(&body, y, fmt.Sprintf("Per request, in process (log scale; median of %d runs)", r.Count))
		y += 16
		lo, hi := math.Inf(1), 0.0
		for _, b := range micro {
			lo, hi = math.Min(lo, b.v), math.Max(hi, b.v)
		}
		lo = math.Pow(10, math.Floor(math.Log10(lo/2))) // a decade at least half below the fastest
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		x := func(v float64) float64 {
			return labelWidth + plotW*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
		}
		top := y
		h := float64(len(micro))*(barHeight+barGap) - barGap
		for d := lo; d <= hi*1.0001; d *= 10 { // decade grid
			fmt.Fprintf(&body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`+"\n", x(d), top, x(d), top+h)
			fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" class="axis">%s</text>`+"\n", x(d), top+h+14, esc(formatNs(d)))
		}
		for _, b := range micro {
			fmt.Fprintf(&body, `<text x="%d" y="%.1f" class="label">%s</text>`+"\n", labelWidth-8, y+barHeight-5, esc(b.label))
			fmt.Fprintf(&body, `<rect x="%d" y="%.1f" width="%.1f" height="%d" class="%s"/>`+"\n", labelWidth, y, math.Max(1, x(b.v)-labelWidth), barHeight, b.kind)
			fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" class="value">%s</text>`+"\n", x(b.v)+6, y+barHeight-5, esc(b.value))
			y += barHeight + barGap
		}
		y += panelGap
	}

	// Panel 2: targets as headroom.
	checks := r.Checks()
	if len(checks) > 0 {
		title(&body, y, "Targets: how many times each is beaten (≥ 1× met)")
		y += 16
		maxH := 2.0
		for _, c := range checks {
			maxH = math.Max(maxH, c.Headroom())
		}
		maxH = math.Min(maxH, 100) // a 1000× win would flatten every other bar
		logMax := math.Log10(maxH)
		lo := 0.1
		x := func(v float64) float64 {
			v = math.Max(lo, math.Min(v, maxH))
			return labelWidth + plotW*(math.Log10(v)-math.Log10(lo))/(logMax-math.Log10(lo))
		}
		top := y
		h := float64(len(checks))*(barHeight+barGap) - barGap
		fmt.Fprintf(&body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="target"/>`+"\n", x(1), top-4, x(1), top+h+4)
		fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" class="axis">1× = target</text>`+"\n", x(1), top+h+14)
		for _, c := range checks {
			kind := "met"
			if !c.Met() {
				kind = "missed"
			}
			fmt.Fprintf(&body, `<text x="%d" y="%.1f" class="label">%s</text>`+"\n", labelWidth-8, y+barHeight-5, esc(c.Short))
			x0, x1 := x(1), x(c.Headroom())
			if x1 < x0 {
				x0, x1 = x1, x0
			}
			fmt.Fprintf(&body, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" class="%s"/>`+"\n", x0, y, math.Max(1, x1-x0), barHeight, kind)
			verdict := "met"
			if !c.Met() {
				verdict = "missed"
			}
			value := fmt.Sprintf("%s (target %s: %s, %s×)", formatUnit(c.Measured, c.Unit), c.targetText(), verdict, sig3(c.Headroom()))
			fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" class="value">%s</text>`+"\n", math.Max(x(1), x(c.Headroom()))+6, y+barHeight-5, esc(value))
			y += barHeight + barGap
		}
		y += 24
	}

	// Panel 3: cost per million requests, keygate's lines next to Cognito M2M's token price.
	if costs := r.Costs(); len(costs) > 0 {
		title(&body, y, fmt.Sprintf("Cost per million requests (log scale; %s list prices, %s; at the recommended memory sizes)", prices.Region, prices.AsOf))
		y += 16
		type bar struct {
			label, value string
			v            float64
			kind         string
		}
		var bars []bar
		for _, l := range costs {
			bars = append(bars, bar{l.Short, fmt.Sprintf("%s (API Gateway %s, Lambda %s, DynamoDB %s)", formatUSD(l.Total()), formatUSD(l.APIGateway),
				formatUSD(l.LambdaRequests+l.LambdaDuration), formatUSD(l.DynamoDBRead+l.DynamoDBWrite)), l.Total(), "keygate"})
		}
		cognito := prices.CognitoM2MPerThousandTokens * 1000
		bars = append(bars, bar{"Cognito M2M token requests", formatUSD(cognito) + " (the token requests alone)", cognito, "base"})
		lo, hi := math.Inf(1), 0.0
		for _, b := range bars {
			if b.v > 0 {
				lo, hi = math.Min(lo, b.v), math.Max(hi, b.v)
			}
		}
		lo = math.Pow(10, math.Floor(math.Log10(lo/2)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		x := func(v float64) float64 {
			v = math.Max(v, lo)
			return labelWidth + plotW*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
		}
		top := y
		h := float64(len(bars))*(barHeight+barGap) - barGap
		for d := lo; d <= hi*1.0001; d *= 10 {
			fmt.Fprintf(&body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`+"\n", x(d), top, x(d), top+h)
			fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" class="axis">%s</text>`+"\n", x(d), top+h+14, esc(axisUSD(d)))
		}
		for _, b := range bars {
			fmt.Fprintf(&body, `<text x="%d" y="%.1f" class="label">%s</text>`+"\n", labelWidth-8, y+barHeight-5, esc(b.label))
			fmt.Fprintf(&body, `<rect x="%d" y="%.1f" width="%.1f" height="%d" class="%s"/>`+"\n", labelWidth, y, math.Max(1, x(b.v)-labelWidth), barHeight, b.kind)
			fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" class="value">%s</text>`+"\n", x(b.v)+6, y+barHeight-5, esc(b.value))
			y += barHeight + barGap
		}
		y += panelGap
	}

	height := y + 8
	_, err := fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">
<style>
.bg{fill:#fff}.head{font-size:16px;font-weight:700;fill:#111}.title{font-size:14px;font-weight:600;fill:#111}.label{text-anchor:end;fill:#222}
.value{fill:#222}.axis{text-anchor:middle;fill:#666;font-size:11px}.grid{stroke:#e3e3e3}
.target{stroke:#111;stroke-dasharray:4 3}.base{fill:#9aa4b1}.keygate{fill:#2f6fdb}.other{fill:#9aa4b1}
.met{fill:#2e9e5b}.missed{fill:#d1453b}.note{fill:#666;font-size:11px}
</style>
<rect class="bg" width="100%%" height="100%%"/>
<text x="12" y="24" class="head">%s</text>
%s<text x="12" y="%.0f" class="note">%s</text>
</svg>
`, chartWidth, height+14, chartWidth, height+14, esc("keygate make bench — "+r.Machine), body.String(), height+6,
		esc(fmt.Sprintf("%s · %s · %s · grey = baselines, blue = keygate", r.Date.UTC().Format("2006-01-02"), r.Go, r.Node)))
	return err
}

// axisUSD labels a decade of dollars: "$0.1", "$1", "$1,000".
func axisUSD(v float64) string {
	if v >= 1000 {
		return formatUSD(v)
	}
	return "$" + strconv.FormatFloat(v, 'f', -1, 64)
}

func title(b *strings.Builder, y float64, s string) {
	fmt.Fprintf(b, `<text x="12" y="%.1f" class="title">%s</text>`+"\n", y, esc(s))
}

func esc(s string) string { return html.EscapeString(s) }
