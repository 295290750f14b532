package container

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestConvertInspect(t *testing.T) {
	id := testID("c")
	tests := []struct {
		name string
		in   string
		want dockerInfo
	}{
		{
			name: "bridge with ports",
			in: `{"Id":"` + id + `","Name":"/web","Image":"sha256:abc",
				"State":{"Running":true,"Pid":42,"StartedAt":"2024-05-01T10:00:00.123456789Z","FinishedAt":"0001-01-01T00:00:00Z"},
				"Config":{"Image":"nginx:1.25","Labels":{"io.kubernetes.pod.name":"p"}},
				"HostConfig":{"NetworkMode":"default","Privileged":true,"PidMode":"host"},
				"Mounts":[{"Source":"/srv","Destination":"/data","RW":false},{"Source":"/tmp","Destination":"/tmp","RW":true}],
				"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],"443/tcp":null,"bad/tcp":[{"HostPort":"1"}],"22/tcp":[{"HostIp":"","HostPort":"x"}]},
					"Networks":{"bridge":{"IPAddress":"172.17.0.2","GlobalIPv6Address":"2001:db8::2"},"other":{"IPAddress":"10.0.0.5","GlobalIPv6Address":""}}}}`,
			want: dockerInfo{
				name: "web", image: "nginx:1.25", networkMode: "bridge", pidMode: "host",
				labels: map[string]string{"io.kubernetes.pod.name": "p"}, privileged: true, running: true, pid: 42,
				started: time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC),
				ports: []PublishedPort{
					{netip.MustParseAddr("0.0.0.0"), 8080, 80, "tcp"},
					{netip.MustParseAddr("::"), 8080, 80, "tcp"},
					{netip.MustParseAddr("127.0.0.1"), 5353, 53, "udp"},
				},
				mounts: []Mount{{"/srv", "/data", false}, {"/tmp", "/tmp", true}},
				addrs:  []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("2001:db8::2")},
			},
		},
		{
			name: "exited host network",
			in: `{"Id":"` + id + `","Name":"/h","Image":"sha256:def",
				"State":{"Running":false,"Pid":0,"StartedAt":"2024-05-01T10:00:00Z","FinishedAt":"2024-05-01T11:00:00Z"},
				"Config":{"Image":""},"HostConfig":{"NetworkMode":"host"},
				"NetworkSettings":{"Networks":{"host":{"IPAddress":""}}}}`,
			want: dockerInfo{
				name: "h", image: "sha256:def", networkMode: "host",
				started:  time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
				finished: time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC),
			},
		},
		{
			name: "stale pid of a stopped container, garbage times",
			in: `{"Id":"` + id + `","Name":"n","State":{"Running":false,"Pid":77,"StartedAt":"yesterday"},
				"HostConfig":{"NetworkMode":"container:` + testID("d") + `"}}`,
			want: dockerInfo{name: "n", networkMode: "container:" + testID("d")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in dockerInspect
			if err := json.Unmarshal([]byte(tt.in), &in); err != nil {
				t.Fatal(err)
			}
			got := convertInspect(&in)
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("convertInspect =\n%+v\nwant\n%+v", *got, tt.want)
			}
		})
	}
}

func FuzzConvertInspect(f *testing.F) {
	f.Add([]byte(`{"Id":"x","Name":"/a","State":{"Running":true,"Pid":1},"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"::","HostPort":"80"}]},"Networks":{"b":{"IPAddress":"1.2.3.4"}}}}`))
	f.Add([]byte(`{"NetworkSettings":{"Ports":{"99999/tcp":[{"HostPort":"-1"}],"/":null}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var in dockerInspect
		if json.Unmarshal(b, &in) != nil {
			return
		}
		di := convertInspect(&in)
		if strings.HasPrefix(di.name, "/") {
			t.Fatalf("name %q keeps its slash", di.name)
		}
		if !di.running && di.pid != 0 {
			t.Fatalf("pid %d for a stopped container", di.pid)
		}
		for _, a := range di.addrs {
			if !a.IsValid() || a.Is4In6() {
				t.Fatalf("address %v", a)
			}
		}
	})
}

func FuzzDockerEvent(f *testing.F) {
	f.Add([]byte(`{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"x"}},"timeNano":1}`))
	f.Add([]byte(`{"Type":"network","Action":"connect","Actor":{"ID":"n","Attributes":{"container":"abc"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev dockerEvent
		if json.Unmarshal(b, &ev) != nil {
			return
		}
		// handle must not touch Docker for anything but a well-formed ID.
		c := newCollection(config{log: discardLogger(), now: time.Now, grace: time.Minute})
		ds := &dockerSource{c: c, client: newDockerClient("/nonexistent/docker.sock")}
		c.cancel() // any request fails at once
		ds.handle(ev)
	})
}
