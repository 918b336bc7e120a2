package bench

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH          = 760, 480
	padL, padR, padT, padB  = 80, 170, 50, 60
	plotW, plotH            = chartW - padL - padR, chartH - padT - padB
	legendX, legendLineStep = chartW - padR + 20, 22
)

// chartColors are the series' colours, in order.
var chartColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// LatencyChart draws the p50 latency of each contender in results against
// x(result) as an SVG line chart with logarithmic axes (base 2 for sizes,
// base 10 for latency), one line per contender, a legend and axis labels.
// Results that did not measure anything are left out.
func LatencyChart(title, xLabel string, results []Result, x func(Result) int64) []byte {
	type point struct {
		x int64
		y time.Duration
	}
	var names []string
	series := map[string][]point{}
	var xs []int64
	var ys []time.Duration
	for _, r := range results {
		if !r.OK() || r.P50 <= 0 || x(r) <= 0 {
			continue
		}
		if _, ok := series[r.Contender]; !ok {
			names = append(names, r.Contender)
		}
		series[r.Contender] = append(series[r.Contender], point{x(r), r.P50})
		xs, ys = append(xs, x(r)), append(ys, r.P50)
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	text(&b, chartW/2, 24, "middle", 15, title)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", padL, padT, plotW, plotH)
	text(&b, padL+plotW/2, chartH-15, "middle", 13, xLabel+" (log scale)")
	fmt.Fprintf(&b, `<text transform="translate(20 %d) rotate(-90)" text-anchor="middle" font-size="13">p50 latency (log scale)</text>`+"\n", padT+plotH/2)
	if len(xs) == 0 {
		text(&b, padL+plotW/2, padT+plotH/2, "middle", 13, "no data")
		b.WriteString("</svg>\n")
		return b.Bytes()
	}

	// x: base-2 logarithm over the sizes measured; y: whole decades
	// around the latencies measured.
	x0, x1 := math.Log2(float64(slices.Min(xs))), math.Log2(float64(slices.Max(xs)))
	x0, x1 = x0-0.3, x1+0.3 // keep the end points off the frame
	y0 := math.Floor(math.Log10(float64(slices.Min(ys))))
	y1 := math.Ceil(math.Log10(float64(slices.Max(ys))))
	if y1 <= y0 {
		y1 = y0 + 1
	}
	px := func(v int64) float64 { return padL + (math.Log2(float64(v))-x0)/(x1-x0)*plotW }
	py := func(d time.Duration) float64 { return padT + plotH - (math.Log10(float64(d))-y0)/(y1-y0)*plotH }

	slices.Sort(xs)
	for _, v := range slices.Compact(xs) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", px(v), padT, px(v), padT+plotH)
		text(&b, int(px(v)), padT+plotH+18, "middle", 11, Size(v))
	}
	for e := y0; e <= y1; e++ {
		d := time.Duration(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", padL, py(d), padL+plotW, py(d))
		text(&b, padL-6, int(py(d))+4, "end", 11, Duration(d))
	}
	for i, name := range slices.Backward(names) { // the first on top
		color := chartColors[i%len(chartColors)]
		pts := series[name]
		slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.x, b.x) })
		var poly bytes.Buffer
		for _, p := range pts {
			fmt.Fprintf(&poly, "%.1f,%.1f ", px(p.x), py(p.y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, bytes.TrimSpace(poly.Bytes()))
		for _, p := range pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.x), py(p.y), color)
		}
		ly := padT + 10 + i*legendLineStep
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", legendX, ly, legendX+24, ly, color)
		text(&b, legendX+30, ly+4, "start", 12, name)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// text writes an SVG text element with s escaped.
func text(b *bytes.Buffer, x, y int, anchor string, size int, s string) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="%s" font-size="%d">`, x, y, anchor, size)
	xml.EscapeText(b, []byte(s))
	b.WriteString("</text>\n")
}
