package inventory

import "testing"

// FuzzParse: any bytes parse or fail cleanly, and what parses is
// consistent: every indexed address belongs to a non-host-network entry
// that lists it, and the counters add up.
func FuzzParse(f *testing.F) {
	// Small seeds of each format (the testdata files are too large for the
	// fuzzer to minimise what it finds in reasonable time).
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"kind":"Pod","metadata":{"name":"web-1","namespace":"shop","uid":"u1",` +
		`"labels":{"app":"web"},"annotations":{"kubectl.kubernetes.io/default-container":"web"}},"spec":{"nodeName":"n1","containers":[` +
		`{"name":"proxy","image":"proxy:1"},{"name":"web","image":"web:2","ports":[{"containerPort":80,"hostPort":8080,"protocol":"TCP"}],` +
		`"securityContext":{"privileged":true},"volumeMounts":[{"name":"v","mountPath":"/h","readOnly":true}]}],"volumes":[{"name":"v","hostPath":{"path":"/"}}]},` +
		`"status":{"phase":"Running","podIP":"10.244.1.12","podIPs":[{"ip":"10.244.1.12"},{"ip":"fd00::c"}],` +
		`"containerStatuses":[{"name":"web","image":"web:2","containerID":"containerd://4b7c"}]}},` +
		`{"kind":"Pod","metadata":{"name":"old","uid":"u2"},"spec":{"containers":[{"name":"c"}]},"status":{"phase":"Succeeded","podIP":"10.244.1.12"}}]}`))
	f.Add([]byte(`[{"Id":"5a1d","Name":"/web","State":{"Running":true},"Config":{"Image":"nginx:1.25","Labels":{"a":"b"}},` +
		`"HostConfig":{"NetworkMode":"default","Privileged":true,"PidMode":"host","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},` +
		`"Mounts":[{"Source":"/srv","Destination":"/data","RW":true}],` +
		`"NetworkSettings":{"IPAddress":"172.17.0.2","Ports":{"443/udp":[{"HostIp":"::","HostPort":"8443"}]},"Networks":{"bridge":{"IPAddress":"172.17.0.2","GlobalIPv6Address":"fd00::2"}}}},` +
		`{"Id":"0f9e","Name":"/agent","HostConfig":{"NetworkMode":"host"}}]`))
	f.Add([]byte(`[{"Id":"aa","Name":"/a","State":{"Running":true},"HostConfig":{"NetworkMode":"container:bb"},"NetworkSettings":{"Networks":{"x":{"IPAddress":"10.0.0.1"}}}},{"Id":"bb","Config":{"Labels":{"io.kubernetes.pod.uid":"u"}},"NetworkSettings":{"IPAddress":"10.0.0.1","GlobalIPv6Address":"fe80::1%eth0"}}]`))
	f.Add([]byte(`{"kind":"Pod","metadata":{"uid":"u"},"spec":{"hostNetwork":true},"status":{"podIP":"10.0.0.1","podIPs":[{"ip":"::ffff:10.0.0.1"}]}}{"items":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		if s.Stats.Pods+s.Stats.Containers != len(s.Entries) {
			t.Fatalf("stats %+v for %d entries", s.Stats, len(s.Entries))
		}
		if s.Stats.Addresses != len(s.byIP) {
			t.Fatalf("stats say %d addresses, index has %d", s.Stats.Addresses, len(s.byIP))
		}
		for a, i := range s.byIP {
			if i < 0 || i >= len(s.Entries) {
				t.Fatalf("%v: index %d of %d", a, i, len(s.Entries))
			}
			e := &s.Entries[i]
			if e.HostNetwork {
				t.Fatalf("%v attributed to a host-network entry", a)
			}
			if a != a.Unmap() || a.Zone() != "" {
				t.Fatalf("address %v not canonical", a)
			}
			if got, ok := s.Lookup(a); !ok || got != e {
				t.Fatalf("Lookup(%v) disagrees with the index", a)
			}
		}
	})
}
