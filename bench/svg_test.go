package bench

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"
)

// svgDoc is the part of an SVG chart the tests look at.
type svgDoc struct {
	XMLName   xml.Name `xml:"svg"`
	Width     int      `xml:"width,attr"`
	Height    int      `xml:"height,attr"`
	Texts     []string `xml:"text"`
	Polylines []struct {
		Points string `xml:"points,attr"`
		Stroke string `xml:"stroke,attr"`
	} `xml:"polyline"`
	Circles []struct{} `xml:"circle"`
}

func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	var doc svgDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("chart is not well-formed XML: %v\n%s", err, b)
	}
	return doc
}

func TestLatencyChart(t *testing.T) {
	var results []Result
	for i, c := range []string{"journal", "naive", "a<b&c"} {
		for _, ws := range []int64{4 * KiB, 64 * KiB, 1 * MiB} {
			results = append(results, Result{Contender: c, WriteSize: ws, Writes: 3,
				P50: time.Duration(int64(i+1)*ws/10) * time.Microsecond})
		}
	}
	results = append(results,
		Result{Contender: "bbolt", WriteSize: 4 * KiB, Skipped: "no"},      // left out
		Result{Contender: "sqlite", WriteSize: 4 * KiB, Error: "broke"},    // left out
		Result{Contender: "raw", WriteSize: 64 * KiB, Writes: 3, P50: 900}) // one point
	b := LatencyChart("Latency & size", "write size", results, func(r Result) int64 { return r.WriteSize })
	doc := parseSVG(t, b)
	if doc.Width != chartW || doc.Height != chartH {
		t.Errorf("size %dx%d", doc.Width, doc.Height)
	}
	if len(doc.Polylines) != 4 {
		t.Fatalf("%d lines, want 4 (one per contender that measured something)", len(doc.Polylines))
	}
	// Drawn last, so on top: the first contender, in the first colour.
	if l := doc.Polylines[len(doc.Polylines)-1]; l.Stroke != chartColors[0] || len(strings.Fields(l.Points)) != 3 {
		t.Errorf("last line drawn is %+v, want journal's 3 points in %s", l, chartColors[0])
	}
	if len(doc.Circles) != 10 {
		t.Errorf("%d markers, want 10", len(doc.Circles))
	}
	text := strings.Join(doc.Texts, "|")
	for _, want := range []string{"Latency & size", "write size (log scale)", "p50 latency (log scale)",
		"4 KiB", "64 KiB", "1 MiB", "journal", "naive", "a<b&c", "raw"} {
		if !strings.Contains(text, want) {
			t.Errorf("chart has no text %q; texts: %s", want, text)
		}
	}
	for _, absent := range []string{"bbolt", "sqlite"} {
		if strings.Contains(text, absent) {
			t.Errorf("chart shows %s, which measured nothing", absent)
		}
	}
	// Every point lies inside the plot area.
	for _, l := range doc.Polylines {
		for _, pt := range strings.Fields(l.Points) {
			var x, y float64
			if _, err := fmt.Sscanf(pt, "%g,%g", &x, &y); err != nil {
				t.Fatalf("point %q: %v", pt, err)
			}
			if x < padL || x > padL+plotW || y < padT || y > padT+plotH {
				t.Errorf("point %q outside the plot", pt)
			}
		}
	}
}

func TestLatencyChartEmpty(t *testing.T) {
	doc := parseSVG(t, LatencyChart("nothing", "value size", nil, func(r Result) int64 { return r.ValueSize }))
	if len(doc.Polylines) != 0 || !strings.Contains(strings.Join(doc.Texts, "|"), "no data") {
		t.Fatalf("empty chart: %+v", doc)
	}
}
