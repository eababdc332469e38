package main

import "testing"

func TestRequireLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8082": true, "[::1]:8082": true, "localhost:0": true,
		"0.0.0.0:8082": false, ":8082": false, "10.0.0.1:8082": false, "example.com:80": false, "nonsense": false,
	} {
		if err := requireLoopback(addr); (err == nil) != ok {
			t.Errorf("requireLoopback(%q) = %v, want allowed=%v", addr, err, ok)
		}
	}
}
