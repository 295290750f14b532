package live

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestConfigDefaultsAndLimits(t *testing.T) {
	page := os.Getpagesize()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" for a valid config
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", cfg: Config{Interface: "eth0"}, check: func(t *testing.T, c Config) {
			if c.BlockSize != DefaultBlockSize || c.Blocks != DefaultBlocks || c.BlockTimeout != DefaultBlockTimeout ||
				c.PollTimeout != DefaultPollTimeout || c.Snaplen != DefaultSnaplen {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{name: "snaplen follows small blocks", cfg: Config{Interface: "eth0", BlockSize: 16 * page},
			check: func(t *testing.T, c Config) {
				if want := 16*page - blockOverhead; c.Snaplen != want {
					t.Errorf("snaplen %d, want %d (what a block holds)", c.Snaplen, want)
				}
			}},
		{name: "explicit values kept", cfg: Config{Interface: "veth1", BlockSize: 4 * page, Blocks: 3,
			BlockTimeout: 2 * time.Millisecond, PollTimeout: 5 * time.Millisecond, Snaplen: 96,
			Fanout: &Fanout{Group: 7, Mode: FanoutCPU}},
			check: func(t *testing.T, c Config) {
				if c.BlockSize != 4*page || c.Blocks != 3 || c.BlockTimeout != 2*time.Millisecond ||
					c.PollTimeout != 5*time.Millisecond || c.Snaplen != 96 {
					t.Errorf("explicit values changed: %+v", c)
				}
			}},
		{name: "no interface", cfg: Config{}, wantErr: "no interface"},
		{name: "interface name too long", cfg: Config{Interface: "abcdefghijklmnop"}, wantErr: "not a valid interface name"},
		{name: "interface name with slash", cfg: Config{Interface: "a/b"}, wantErr: "not a valid interface name"},
		{name: "block not page multiple", cfg: Config{Interface: "eth0", BlockSize: page + 1}, wantErr: "multiple of the page size"},
		{name: "negative block size", cfg: Config{Interface: "eth0", BlockSize: -page}, wantErr: "multiple of the page size"},
		{name: "negative blocks", cfg: Config{Interface: "eth0", Blocks: -1}, wantErr: "need at least 1"},
		{name: "ring too large", cfg: Config{Interface: "eth0", BlockSize: 1 << 30, Blocks: 5}, wantErr: "limit"},
		{name: "block timeout under 1ms", cfg: Config{Interface: "eth0", BlockTimeout: time.Microsecond}, wantErr: "block timeout"},
		{name: "negative poll timeout", cfg: Config{Interface: "eth0", PollTimeout: -1}, wantErr: "poll timeout"},
		{name: "snaplen over block", cfg: Config{Interface: "eth0", BlockSize: page, Snaplen: page}, wantErr: "does not fit"},
		{name: "negative snaplen", cfg: Config{Interface: "eth0", Snaplen: -1}, wantErr: "negative snap length"},
		{name: "unknown fanout mode", cfg: Config{Interface: "eth0", Fanout: &Fanout{Mode: 9}}, wantErr: "fanout mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.cfg.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestPrivilegeErrorText(t *testing.T) {
	tests := []struct {
		err  PrivilegeError
		want string
	}{
		{PrivilegeError{Op: "open AF_PACKET socket", Interface: "veth0", Capability: "CAP_NET_RAW", Err: syscall.EPERM},
			"open AF_PACKET socket on veth0: operation not permitted (needs CAP_NET_RAW)"},
		{PrivilegeError{Op: "setns", Interface: "eth0", NetNS: "/proc/42/ns/net", Capability: "CAP_SYS_ADMIN", Err: syscall.EPERM},
			"setns on eth0 (network namespace /proc/42/ns/net): operation not permitted (needs CAP_SYS_ADMIN)"},
		{PrivilegeError{Op: "setns"}, "setns: permission denied"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if tc.err.Err != nil && !errors.Is(&tc.err, tc.err.Err) {
			t.Errorf("%q does not unwrap to %v", tc.err.Error(), tc.err.Err)
		}
	}
}

func TestFanoutModeNames(t *testing.T) {
	seen := map[string]bool{}
	for m := FanoutHash; m <= FanoutQueue; m++ {
		s := m.String()
		if seen[s] || strings.HasPrefix(s, "fanout-mode-") {
			t.Errorf("mode %d named %q", m, s)
		}
		seen[s] = true
	}
	if got := FanoutMode(200).String(); got != "fanout-mode-200" {
		t.Errorf("unknown mode named %q", got)
	}
}
