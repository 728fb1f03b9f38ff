package importer

import "testing"

// productCode takes only canonical decimal codes, so that the dense
// table never merges keys the map would keep apart ("012/WIN", "12/WIN").
func TestProductCode(t *testing.T) {
	for _, c := range []struct {
		id   string
		code int
		os   string
		ok   bool
	}{
		{"12/WIN", 12, "WIN", true},
		{"0/189", 0, "189", true},
		{"7/", 7, "", true},
		{"012/WIN", 0, "", false},
		{"00/WIN", 0, "", false},
		{"/WIN", 0, "", false},
		{"12", 0, "", false},
		{"1a/WIN", 0, "", false},
		{"1048575/WIN", 1048575, "WIN", true},
		{"1048576/WIN", 0, "", false},
		{"99999999999999999999/WIN", 0, "", false},
	} {
		code, os, ok := productCode([]byte(c.id))
		if code != c.code || string(os) != c.os || ok != c.ok {
			t.Errorf("productCode(%q) = %d, %q, %v; want %d, %q, %v", c.id, code, os, ok, c.code, c.os, c.ok)
		}
	}
}
