package apikey_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/keygate/keygate/shared/apikey"
)

// FuzzIPAllowed compares the allowlist check with the standard library's net.IPNet on every
// CIDR both parse: an address is allowed exactly when a listed network contains it, an
// IPv4-mapped IPv6 address counts as its IPv4 form, and anything unparsable allows nothing.
func FuzzIPAllowed(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.0/8", "10.1.2.3"}, {"10.0.0.0/8", "::ffff:10.1.2.3"}, {"2001:db8::/32", "2001:db8::1"},
		{"203.0.113.7/32", "203.0.113.8"}, {"0.0.0.0/0", "1.1.1.1"}, {"::/0", "::1"}, {"bad", "1.1.1.1"},
		{"10.0.0.0/8", ""}, {"::ffff:10.0.0.0/104", "10.0.0.1"}, {"10.0.0.1/8", "10.9.9.9"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cidr, addr string) {
		ip, _ := netip.ParseAddr(addr)
		got := apikey.IPAllowed([]string{cidr}, ip)
		if !ip.IsValid() {
			if got {
				t.Fatalf("an unparsable address %q is allowed by %q", addr, cidr)
			}
			return
		}
		p, perr := netip.ParsePrefix(cidr)
		_, n, nerr := net.ParseCIDR(cidr)
		if perr != nil {
			if got {
				t.Fatalf("an unparsable CIDR %q allows %q", cidr, addr)
			}
			return
		}
		u := ip.Unmap()
		if want := p.Contains(u); got != want {
			t.Fatalf("IPAllowed(%q, %q) = %v, want %v", cidr, addr, got, want)
		}
		// The standard library agrees for plain (non-mapped) prefixes and addresses.
		if nerr == nil && !p.Addr().Is4In6() && u.Zone() == "" && (p.Addr().Is4() == u.Is4()) {
			if want := n.Contains(net.IP(u.AsSlice())); got != want {
				t.Fatalf("IPAllowed(%q, %q) = %v, net.IPNet says %v", cidr, addr, got, want)
			}
		}
	})
}
