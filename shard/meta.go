package shard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The zarr.json documents this package writes are encoding/json's
// MarshalIndent of maps (keys sorted, two-space indent) followed by a
// newline: exactly the documents the zarrita interop checker accepts.

// Metadata returns the array's zarr.json, as CreateArray writes it:
//
//	{
//	  "attributes": {},
//	  "chunk_grid": {"configuration": {"chunk_shape": SHARD_SHAPE}, "name": "regular"},
//	  "chunk_key_encoding": {"configuration": {"separator": "/"}, "name": "default"},
//	  "codecs": [{"configuration": {
//	      "chunk_shape": CHUNK_SHAPE,
//	      "codecs": [{"configuration": {"endian": "little"}, "name": "bytes"}
//	                 (+ {"name": "crc32c"} | + {"configuration": {"level": 5}, "name": "gzip"})],
//	      "index_codecs": [{"configuration": {"endian": "little"}, "name": "bytes"}, {"name": "crc32c"}],
//	      "index_location": "end" | "start"},
//	    "name": "sharding_indexed"}],
//	  "data_type": DTYPE,
//	  "fill_value": NUMBER | "NaN" | "Infinity" | "-Infinity",
//	  "node_type": "array",
//	  "shape": SHAPE,
//	  "zarr_format": 3
//	}
//
// (indented one key per line). An invalid array is ErrInvalidArray.
func (a Array) Metadata() ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	bytesCodec := map[string]any{"name": "bytes", "configuration": map[string]any{"endian": "little"}}
	inner := []any{bytesCodec}
	switch {
	case a.ChunkCRC:
		inner = append(inner, map[string]any{"name": "crc32c"})
	case a.Gzip:
		inner = append(inner, map[string]any{"name": "gzip", "configuration": map[string]any{"level": GzipLevel}})
	}
	location := "end"
	if a.IndexAtStart {
		location = "start"
	}
	m := map[string]any{
		"zarr_format": 3,
		"node_type":   "array",
		"shape":       nonNil(a.Shape),
		"data_type":   string(a.DType),
		"chunk_grid": map[string]any{
			"name":          "regular",
			"configuration": map[string]any{"chunk_shape": nonNil(a.ShardShape)},
		},
		"chunk_key_encoding": map[string]any{
			"name":          "default",
			"configuration": map[string]any{"separator": "/"},
		},
		"fill_value": fillJSON(a.DType, a.Fill),
		"codecs": []any{map[string]any{
			"name": "sharding_indexed",
			"configuration": map[string]any{
				"chunk_shape": nonNil(a.ChunkShape),
				"codecs":      inner,
				"index_codecs": []any{
					bytesCodec,
					map[string]any{"name": "crc32c"},
				},
				"index_location": location,
			},
		}},
		"attributes": map[string]any{},
	}
	return marshalDoc(m)
}

// groupMetadata is the zarr.json of a group with no attributes.
func groupMetadata() []byte {
	b, err := marshalDoc(map[string]any{"zarr_format": 3, "node_type": "group", "attributes": map[string]any{}})
	if err != nil {
		panic(err)
	}
	return b
}

func marshalDoc(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// fillJSON is the fill_value of f: a JSON number (an integer for the
// integer types), or for the non-finite values the strings the Zarr v3 spec
// gives them.
func fillJSON(d DType, f float64) any {
	switch {
	case !d.isFloat():
		return int64(f) // integral: Validate checked; never "-0"
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// ParseMetadata parses a zarr.json document as OpenArray does: it must
// describe an array this package writes (see ErrNotArray), though keys are
// matched the way encoding/json matches them and unknown keys (such as
// dimension_names) are ignored. Also accepted: a bytes codec without
// configuration, a crc32c codec with an empty configuration, a gzip level
// other than 5 (chunks this package writes still use level 5), and no
// index_location (meaning "end"). Anything else is ErrNotArray.
func ParseMetadata(doc []byte) (Array, error) {
	var m struct {
		ZarrFormat *int   `json:"zarr_format"`
		NodeType   string `json:"node_type"`
		Shape      []int  `json:"shape"`
		DataType   string `json:"data_type"`
		ChunkGrid  struct {
			Name          string `json:"name"`
			Configuration struct {
				ChunkShape []int `json:"chunk_shape"`
			} `json:"configuration"`
		} `json:"chunk_grid"`
		ChunkKeyEncoding struct {
			Name          string `json:"name"`
			Configuration *struct {
				Separator *string `json:"separator"`
			} `json:"configuration"`
		} `json:"chunk_key_encoding"`
		FillValue           json.RawMessage   `json:"fill_value"`
		Codecs              []codecJSON       `json:"codecs"`
		StorageTransformers []json.RawMessage `json:"storage_transformers"`
	}
	bad := func(format string, args ...any) (Array, error) {
		return Array{}, fmt.Errorf("%w: %s", ErrNotArray, fmt.Sprintf(format, args...))
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		return bad("zarr.json: %v", err)
	}
	switch {
	case m.ZarrFormat == nil || *m.ZarrFormat != 3:
		return bad("zarr_format is not 3")
	case m.NodeType != "array":
		return bad("node_type is %q, not \"array\"", m.NodeType)
	case m.Shape == nil:
		return bad("no shape")
	case m.ChunkGrid.Name != "regular" || m.ChunkGrid.Configuration.ChunkShape == nil:
		return bad("chunk_grid is not regular with a chunk_shape")
	case m.ChunkKeyEncoding.Name != "default":
		return bad("chunk_key_encoding is %q, not \"default\"", m.ChunkKeyEncoding.Name)
	case m.ChunkKeyEncoding.Configuration != nil && m.ChunkKeyEncoding.Configuration.Separator != nil &&
		*m.ChunkKeyEncoding.Configuration.Separator != "/":
		return bad("chunk key separator is %q, not \"/\"", *m.ChunkKeyEncoding.Configuration.Separator)
	case len(m.StorageTransformers) != 0:
		return bad("storage transformers are not supported")
	case len(m.Codecs) != 1 || m.Codecs[0].Name != "sharding_indexed":
		return bad("codecs are not a single sharding_indexed codec")
	}
	d, err := ParseDType(m.DataType)
	if err != nil {
		return bad("%v", err)
	}
	a := Array{Shape: m.Shape, DType: d, ShardShape: m.ChunkGrid.Configuration.ChunkShape}
	if a.Fill, err = parseFill(d, m.FillValue); err != nil {
		return bad("%v", err)
	}

	var sh struct {
		ChunkShape    []int       `json:"chunk_shape"`
		Codecs        []codecJSON `json:"codecs"`
		IndexCodecs   []codecJSON `json:"index_codecs"`
		IndexLocation *string     `json:"index_location"`
	}
	if err := json.Unmarshal(m.Codecs[0].Configuration, &sh); err != nil {
		return bad("sharding_indexed configuration: %v", err)
	}
	if sh.ChunkShape == nil {
		return bad("sharding_indexed has no chunk_shape")
	}
	a.ChunkShape = sh.ChunkShape
	if sh.IndexLocation != nil {
		switch *sh.IndexLocation {
		case "end":
		case "start":
			a.IndexAtStart = true
		default:
			return bad("index_location %q", *sh.IndexLocation)
		}
	}
	if len(sh.IndexCodecs) != 2 || !sh.IndexCodecs[0].isBytesLE() || !sh.IndexCodecs[1].isCRC32C() {
		return bad("index_codecs are not [bytes (little endian), crc32c]")
	}
	switch {
	case len(sh.Codecs) == 1 && sh.Codecs[0].isBytesLE():
	case len(sh.Codecs) == 2 && sh.Codecs[0].isBytesLE() && sh.Codecs[1].isCRC32C():
		a.ChunkCRC = true
	case len(sh.Codecs) == 2 && sh.Codecs[0].isBytesLE() && sh.Codecs[1].isGzip():
		a.Gzip = true
	default:
		return bad("inner codecs are not bytes (little endian), optionally followed by crc32c or gzip")
	}
	if err := a.Validate(); err != nil {
		return Array{}, fmt.Errorf("%w: %w", ErrNotArray, err)
	}
	return a, nil
}

// codecJSON is one entry of a codec list.
type codecJSON struct {
	Name          string          `json:"name"`
	Configuration json.RawMessage `json:"configuration"`
}

// config decodes the configuration into v; an absent one leaves v as is.
func (c codecJSON) config(v any) bool {
	if len(c.Configuration) == 0 || bytes.Equal(c.Configuration, []byte("null")) {
		return true
	}
	return json.Unmarshal(c.Configuration, v) == nil
}

func (c codecJSON) isBytesLE() bool {
	var cfg struct {
		Endian *string `json:"endian"`
	}
	return c.Name == "bytes" && c.config(&cfg) && (cfg.Endian == nil || *cfg.Endian == "little")
}

func (c codecJSON) isCRC32C() bool {
	var cfg map[string]json.RawMessage
	return c.Name == "crc32c" && c.config(&cfg) && len(cfg) == 0
}

func (c codecJSON) isGzip() bool {
	var cfg struct {
		Level *int `json:"level"`
	}
	return c.Name == "gzip" && c.config(&cfg) && cfg.Level != nil && *cfg.Level >= 0 && *cfg.Level <= 9
}

// parseFill parses a fill_value: a JSON number, or for floats "NaN",
// "Infinity" or "-Infinity". Range and integrality are checked by Validate.
func parseFill(d DType, raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, fmt.Errorf("no fill_value")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("fill_value: %v", err)
		}
		if d.isFloat() {
			switch s {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
		return 0, fmt.Errorf("fill_value %q is not supported for %s", s, d)
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, fmt.Errorf("fill_value %s is not a number", raw)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, fmt.Errorf("fill_value %s: %v", raw, err)
	}
	return f, nil
}
