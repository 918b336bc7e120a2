package lock

import "testing"

func TestMemoryMarkersFreed(t *testing.T) {
	m := NewMemory()
	for _, key := range []string{"a", "b"} {
		if err := m.SetMarker(key, "j"); err != nil {
			t.Fatal(err)
		}
		if err := m.SetMarker(key, ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.markers) != 0 {
		t.Fatalf("%d cleared markers still stored", len(m.markers))
	}
}
