package container

import (
	"bytes"
	"strings"
)

// CgroupInfo is what a process's cgroup path says about its container.
type CgroupInfo struct {
	ID      string // 64 hex digits
	Runtime string // one of the Runtime constants, or "" when the path does not say
	PodUID  string // Kubernetes pod UID when the path is under kubepods
}

// Bounds on what ParseCgroup looks at: /proc/PID/cgroup has one line per
// hierarchy (about a dozen on cgroup v1) and paths are a few hundred bytes.
const (
	maxCgroupLines = 64
	maxCgroupParts = 64
)

// ParseCgroup reads the content of /proc/PID/cgroup, one
// "hierarchy-ID:controllers:path" line per hierarchy (v1), or the single
// "0::path" line (v2), and returns the container the first line with a
// container path names. Lines whose path names no container (the host's
// "/", a systemd service) are skipped: on hybrid hosts the unified line may
// be "/" while the v1 lines hold the container's path.
func ParseCgroup(content []byte) (CgroupInfo, bool) {
	for n := 0; len(content) > 0 && n < maxCgroupLines; n++ {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		// The path is after the second colon; it may itself contain colons.
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := bytes.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		if info, ok := ParseCgroupPath(string(line[i+1+j+1:])); ok {
			return info, true
		}
	}
	return CgroupInfo{}, false
}

// ParseCgroupPath finds the container in one cgroup path. The innermost
// component that names a container wins (Docker in Docker nests
// /docker/<outer>/docker/<inner>). Forms recognised:
//
//	/docker/<id>                                  Docker, cgroupfs driver
//	/system.slice/docker-<id>.scope               Docker, systemd driver
//	/kubepods/<qos>/pod<uid>/<id>                 Kubernetes, cgroupfs driver
//	/kubepods.slice/.../cri-containerd-<id>.scope containerd CRI, systemd
//	/kubepods.slice/.../crio-<id>.scope           CRI-O
//	/machine.slice/libpod-<id>.scope[/container]  Podman (also rootless, under user@UID.service)
//	/libpod_parent/libpod-<id>                    Podman, cgroupfs driver
//	/system.slice/nerdctl-<id>.scope              nerdctl (containerd)
//
// The conmon monitors of CRI-O and Podman (crio-conmon-<id>.scope,
// libpod-conmon-<id>.scope) are host processes, not the container. A bare
// 64-hex component elsewhere is a container of an unknown runtime, named by
// its parents when they say (docker, ecs, kubepods).
func ParseCgroupPath(p string) (CgroupInfo, bool) {
	p = strings.TrimSuffix(strings.TrimSpace(p), " (deleted)")
	var parts [maxCgroupParts]string
	n := 0
	for rest := p; rest != "" && n < maxCgroupParts; {
		var part string
		part, rest, _ = strings.Cut(rest, "/")
		if part != "" {
			parts[n] = part
			n++
		}
	}
	var info CgroupInfo
	found := false
	for i := n - 1; i >= 0 && !found; i-- {
		id, runtime, conmon := cgroupComponent(parts[i])
		if conmon {
			return CgroupInfo{}, false
		}
		if id == "" {
			continue
		}
		if runtime == "" {
			runtime = runtimeFromParents(parts[:i])
		}
		info.ID, info.Runtime, found = id, runtime, true
	}
	if !found {
		return CgroupInfo{}, false
	}
	for i := 0; i < n; i++ {
		if uid := podUID(parts[i]); uid != "" {
			info.PodUID = uid
		}
	}
	return info, true
}

// scopePrefixes are the systemd scope (or cgroupfs directory) names that
// carry a container ID after a runtime prefix.
var scopePrefixes = [...]struct{ prefix, runtime string }{
	{"docker-", RuntimeDocker},
	{"cri-containerd-", RuntimeContainerd},
	{"nerdctl-", RuntimeContainerd},
	{"crio-", RuntimeCRIO},
	{"libpod-", RuntimePodman},
}

// cgroupComponent returns the container ID one path component names, and
// whether the component is a runtime's conmon monitor instead.
func cgroupComponent(part string) (id, runtime string, conmon bool) {
	name := strings.TrimSuffix(part, ".scope")
	if isContainerID(name) {
		return name, "", false
	}
	for _, sp := range scopePrefixes {
		rest, ok := strings.CutPrefix(name, sp.prefix)
		if !ok {
			continue
		}
		if strings.HasPrefix(rest, "conmon-") {
			return "", "", true
		}
		if isContainerID(rest) {
			return rest, sp.runtime, false
		}
	}
	return "", "", false
}

// runtimeFromParents names the runtime of a bare-ID component from the
// components above it, nearest first.
func runtimeFromParents(parents []string) string {
	for i := len(parents) - 1; i >= 0; i-- {
		p := parents[i]
		switch {
		case p == "docker" || strings.HasPrefix(p, "docker."), p == "ecs", p == "actions_job":
			return RuntimeDocker
		case p == "libpod_parent":
			return RuntimePodman
		case strings.HasPrefix(p, "kubepods"):
			// The kubelet's cgroupfs driver: containerd by far the most
			// common runtime; a Docker source corrects it for dockershim.
			return RuntimeContainerd
		}
	}
	return ""
}

// podUID returns the pod UID of a kubepods component: "pod<uid>" with the
// cgroupfs driver, "kubepods-<qos>-pod<uid_with_underscores>.slice" with
// the systemd driver.
func podUID(part string) string {
	if !strings.HasPrefix(part, "pod") && !strings.HasPrefix(part, "kubepods") {
		return ""
	}
	name := strings.TrimSuffix(part, ".slice")
	i := strings.LastIndex(name, "pod")
	if i < 0 {
		return ""
	}
	if i > 0 && name[i-1] != '-' {
		return ""
	}
	uid := name[i+3:]
	if len(uid) != 36 {
		return ""
	}
	b := []byte(uid)
	for k, c := range b {
		switch {
		case k == 8 || k == 13 || k == 18 || k == 23:
			if c != '-' && c != '_' {
				return ""
			}
			b[k] = '-'
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'):
		default:
			return ""
		}
	}
	return string(b)
}

// isContainerID reports whether s is 64 lower-case hex digits, the ID form
// of Docker, containerd's CRI, CRI-O and Podman.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
