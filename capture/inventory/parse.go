// Package inventory attributes flows to containers without a container
// runtime to ask: from a file holding the output of
//
//	kubectl get pods -A -o json
//	docker inspect $(docker ps -q)
//
// as those commands print it (either, or both one after the other; the
// format of each document is detected), it maps every pod and container
// address to the pod's or container's metadata. An Inventory watches the
// file and reloads it when it changes, and is the flows.Attributor,
// detect.Attributor, flows.Enricher and detect.AlertEnricher that give
// records the same container.* and orchestrator.* fields as the sensor.
//
// Attribution is by address only, so what an address cannot tell apart is
// left unattributed, and counted: host-network pods and containers (they
// share the node's addresses), and addresses that two unrelated entries
// claim (inventories of several Docker hosts reuse 172.17.0.x). A pod is
// one network identity: its flows go to its default container (the
// kubectl.kubernetes.io/default-container annotation, else the first).
package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"outflow/capture/container"
)

// Limits on what one inventory may hold.
const (
	MaxFileSize     = 256 << 20 // bytes read from the file
	MaxEntries      = 1 << 20   // pods plus containers
	maxAddrsPerItem = 64
	maxDepth        = 4 // nesting of lists in lists
)

// Sources of entries.
const (
	SourceKubernetes = "kubernetes"
	SourceDocker     = "docker"
)

// Entry is one pod or container of the inventory. The embedded Container
// holds the same metadata the sensor's discovery produces (ID, Name,
// Image, Runtime, Labels, Pod, HostNetwork, NetworkMode, Privileged,
// Mounts, Ports, Addrs).
type Entry struct {
	container.Container
	Source string // SourceKubernetes or SourceDocker
	Node   string // the pod's node (spec.nodeName)
	// Live is false for pods that have completed (phase Succeeded or
	// Failed) and containers that are not running: their addresses may
	// already belong to someone else.
	Live bool

	group  string // network identity: entries sharing one are one stack
	labels []byte // Labels as JSON, encoded once
}

// Stats describes one parsed inventory.
type Stats struct {
	Pods        int // pods read (kubectl)
	Containers  int // containers read (docker inspect)
	Ignored     int // other objects in lists (services, ...)
	Addresses   int // addresses attributed
	HostNetwork int // pods and containers on the host's network: not attributed by address
	Ambiguous   int // addresses claimed by unrelated entries: not attributed
}

// Snapshot is one parsed inventory: immutable, safe for concurrent use.
type Snapshot struct {
	Entries []Entry
	Stats   Stats
	byIP    map[netip.Addr]int // index into Entries
}

// Lookup returns the entry that owns address a.
func (s *Snapshot) Lookup(a netip.Addr) (*Entry, bool) {
	i, ok := s.byIP[a.Unmap()]
	if !ok {
		return nil, false
	}
	return &s.Entries[i], true
}

// ErrEmpty is returned for an input without any JSON document.
var ErrEmpty = errors.New("inventory: no JSON document (empty file?)")

// Parse reads a stream of JSON documents: kubectl output (a List of pods,
// or one Pod) and docker inspect output (an array of containers), in any
// number and order.
func Parse(data []byte) (*Snapshot, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("inventory: %d bytes: larger than %d", len(data), MaxFileSize)
	}
	p := &parser{}
	dec := json.NewDecoder(bytes.NewReader(data))
	docs := 0
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("inventory: document %d: %w", docs+1, err)
		}
		docs++
		if err := p.value(raw, 0, true); err != nil {
			return nil, fmt.Errorf("inventory: document %d: %w", docs, err)
		}
	}
	if docs == 0 {
		return nil, ErrEmpty
	}
	return p.build(), nil
}

type parser struct {
	entries []Entry
	stats   Stats
}

// value takes one JSON value: an array of objects or an object. At the top
// level an unknown object is an error (the wrong file); inside lists it is
// skipped and counted.
func (p *parser) value(raw json.RawMessage, depth int, top bool) error {
	if depth > maxDepth {
		return errors.New("lists nested too deeply")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return errors.New("empty value")
	}
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		for i, it := range items {
			if err := p.object(it, depth+1, false); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		return nil
	case '{':
		return p.object(raw, depth, top)
	}
	return errors.New("not kubectl or docker inspect JSON (expected an object or an array)")
}

func (p *parser) object(raw json.RawMessage, depth int, top bool) error {
	var probe struct {
		ID       string          `json:"Id"`
		Kind     string          `json:"kind"`
		Items    json.RawMessage `json:"items"`
		Metadata json.RawMessage `json:"metadata"`
		Spec     json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return err
	}
	if len(p.entries) >= MaxEntries {
		return fmt.Errorf("more than %d pods and containers", MaxEntries)
	}
	switch {
	case probe.ID != "":
		return p.docker(raw)
	case probe.Kind == "Pod" || probe.Kind == "" && probe.Metadata != nil && probe.Spec != nil:
		return p.pod(raw)
	case probe.Items != nil && !bytes.Equal(bytes.TrimSpace(probe.Items), []byte("null")):
		return p.value(probe.Items, depth+1, false)
	case probe.Kind == "List" || strings.HasSuffix(probe.Kind, "List"):
		return nil // an empty list: kubectl prints "items": [] for no pods
	case top:
		if probe.Kind != "" {
			return fmt.Errorf("kind %q: not pods", probe.Kind)
		}
		return errors.New("not kubectl or docker inspect JSON")
	}
	p.stats.Ignored++
	return nil
}

// k8sPod is the part of a Pod object used here.
type k8sPod struct {
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		UID         string            `json:"uid"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		NodeName    string `json:"nodeName"`
		HostNetwork bool   `json:"hostNetwork"`
		Containers  []struct {
			Name  string `json:"name"`
			Image string `json:"image"`
			Ports []struct {
				ContainerPort int    `json:"containerPort"`
				HostPort      int    `json:"hostPort"`
				HostIP        string `json:"hostIP"`
				Protocol      string `json:"protocol"`
			} `json:"ports"`
			SecurityContext struct {
				Privileged bool `json:"privileged"`
			} `json:"securityContext"`
			VolumeMounts []struct {
				Name      string `json:"name"`
				MountPath string `json:"mountPath"`
				ReadOnly  bool   `json:"readOnly"`
			} `json:"volumeMounts"`
		} `json:"containers"`
		Volumes []struct {
			Name     string `json:"name"`
			HostPath *struct {
				Path string `json:"path"`
			} `json:"hostPath"`
		} `json:"volumes"`
	} `json:"spec"`
	Status struct {
		Phase  string `json:"phase"`
		PodIP  string `json:"podIP"`
		PodIPs []struct {
			IP string `json:"ip"`
		} `json:"podIPs"`
		ContainerStatuses []struct {
			Name        string `json:"name"`
			Image       string `json:"image"`
			ContainerID string `json:"containerID"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

func (p *parser) pod(raw json.RawMessage) error {
	var in k8sPod
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("pod: %w", err)
	}
	md := &in.Metadata
	e := Entry{Source: SourceKubernetes, Node: in.Spec.NodeName}
	e.Pod = container.Pod{Name: md.Name, Namespace: md.Namespace, UID: md.UID}
	e.Labels = md.Labels
	e.HostNetwork = in.Spec.HostNetwork
	e.Live = in.Status.Phase != "Succeeded" && in.Status.Phase != "Failed"
	e.group = "pod/" + md.UID
	if md.UID == "" {
		e.group = "pod/" + md.Namespace + "/" + md.Name
	}
	// The pod's default container speaks for it.
	ci := 0
	if want := md.Annotations[defaultContainerAnnotation]; want != "" {
		for i, c := range in.Spec.Containers {
			if c.Name == want {
				ci = i
				break
			}
		}
	}
	if ci < len(in.Spec.Containers) {
		c := &in.Spec.Containers[ci]
		e.Name, e.Image = c.Name, c.Image
		e.Privileged = c.SecurityContext.Privileged
		for _, pt := range c.Ports {
			if pt.HostPort <= 0 || pt.HostPort > 65535 || pt.ContainerPort <= 0 || pt.ContainerPort > 65535 {
				continue
			}
			hip, _ := netip.ParseAddr(pt.HostIP)
			e.Ports = append(e.Ports, container.PublishedPort{HostIP: hip.Unmap(), HostPort: uint16(pt.HostPort),
				ContainerPort: uint16(pt.ContainerPort), Proto: strings.ToLower(cmpOr(pt.Protocol, "TCP"))})
		}
		// Host paths mounted into the container matter to posture checks.
		for _, vm := range c.VolumeMounts {
			for _, v := range in.Spec.Volumes {
				if v.Name == vm.Name && v.HostPath != nil {
					e.Mounts = append(e.Mounts, container.Mount{Source: v.HostPath.Path, Destination: vm.MountPath, RW: !vm.ReadOnly})
				}
			}
		}
		for _, st := range in.Status.ContainerStatuses {
			if st.Name != c.Name {
				continue
			}
			e.Runtime, e.ID = splitContainerID(st.ContainerID)
			if e.Image == "" {
				e.Image = st.Image
			}
		}
	}
	if e.HostNetwork {
		e.NetworkMode = "host"
	}
	ips := []string{in.Status.PodIP}
	for _, a := range in.Status.PodIPs {
		ips = append(ips, a.IP)
	}
	e.Addrs = parseAddrs(ips)
	p.stats.Pods++
	p.add(e)
	return nil
}

// splitContainerID splits a pod status containerID, "containerd://<id>",
// into the runtime and the ID.
func splitContainerID(s string) (runtime, id string) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", s
	}
	switch scheme {
	case "containerd":
		runtime = container.RuntimeContainerd
	case "cri-o":
		runtime = container.RuntimeCRIO
	case "docker":
		runtime = container.RuntimeDocker
	default:
		runtime = scheme
	}
	return runtime, rest
}

// dockerContainer is the part of docker inspect output used here.
type dockerContainer struct {
	ID        string `json:"Id"`
	Name      string
	Image     string
	ImageName string // podman
	State     struct {
		Running bool
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
	HostConfig struct {
		NetworkMode  string
		Privileged   bool
		PidMode      string
		PortBindings map[string][]container.DockerPortBinding
	}
	Mounts []struct {
		Source      string
		Destination string
		RW          bool
	}
	NetworkSettings struct {
		IPAddress         string
		GlobalIPv6Address string
		Ports             map[string][]container.DockerPortBinding
		Networks          map[string]struct {
			IPAddress         string
			GlobalIPv6Address string
		}
	}
}

// Kubernetes labels the runtime puts on a pod's containers.
const (
	labelPodName      = "io.kubernetes.pod.name"
	labelPodNamespace = "io.kubernetes.pod.namespace"
	labelPodUID       = "io.kubernetes.pod.uid"
	labelDockerType   = "io.kubernetes.docker.type" // "podsandbox" for the pause container
)

func (p *parser) docker(raw json.RawMessage) error {
	var in dockerContainer
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("docker container: %w", err)
	}
	e := Entry{Source: SourceDocker, Live: in.State.Running}
	e.ID = in.ID
	e.Name = strings.TrimPrefix(in.Name, "/")
	e.Image = cmpOr(in.Config.Image, in.ImageName, in.Image)
	e.Runtime = container.RuntimeDocker
	if in.ImageName != "" {
		e.Runtime = container.RuntimePodman
	}
	e.Labels = in.Config.Labels
	e.Privileged = in.HostConfig.Privileged
	e.PidMode = in.HostConfig.PidMode
	e.NetworkMode = in.HostConfig.NetworkMode
	if e.NetworkMode == "default" {
		e.NetworkMode = "bridge" // Docker's name for its default network on Linux
	}
	e.HostNetwork = e.NetworkMode == "host"
	e.Pod = container.Pod{Name: e.Labels[labelPodName], Namespace: e.Labels[labelPodNamespace], UID: e.Labels[labelPodUID]}
	// The network identity: the pod, the container whose stack this one
	// joined (--network container:ID), or its own.
	switch {
	case e.Pod.UID != "":
		e.group = "pod/" + e.Pod.UID
	case strings.HasPrefix(e.NetworkMode, "container:"):
		e.group = "docker/" + strings.TrimPrefix(e.NetworkMode, "container:")
	default:
		e.group = "docker/" + e.ID
	}
	bindings := in.HostConfig.PortBindings
	if len(bindings) == 0 {
		bindings = in.NetworkSettings.Ports
	}
	e.Ports = container.PublishedPorts(bindings)
	for _, m := range in.Mounts {
		e.Mounts = append(e.Mounts, container.Mount{Source: m.Source, Destination: m.Destination, RW: m.RW})
	}
	ips := []string{in.NetworkSettings.IPAddress, in.NetworkSettings.GlobalIPv6Address}
	for _, n := range in.NetworkSettings.Networks {
		ips = append(ips, n.IPAddress, n.GlobalIPv6Address)
	}
	e.Addrs = parseAddrs(ips)
	p.stats.Containers++
	p.add(e)
	return nil
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseAddrs parses, sorts and deduplicates addresses, skipping empty and
// invalid ones and those that cannot name a container.
func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		a = a.Unmap().WithZone("")
		if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	out = slices.Compact(out)
	if len(out) > maxAddrsPerItem {
		out = out[:maxAddrsPerItem]
	}
	return out
}

func (p *parser) add(e Entry) {
	if len(e.Labels) > 0 {
		e.labels, _ = json.Marshal(e.Labels)
	}
	p.entries = append(p.entries, e)
}

// rank orders the claims of one network identity on an address: the pod
// as kubectl describes it, then an application container, then a pod's
// sandbox (pause) container.
func (e *Entry) rank() int {
	switch {
	case e.Source == SourceKubernetes:
		return 0
	case e.Labels[labelDockerType] == "podsandbox" || strings.HasPrefix(e.Name, "k8s_POD_"):
		return 2
	}
	return 1
}

// build indexes the entries by address, resolving claims on one address:
// claims of one network identity go to its best entry; of several, to the
// only live one if there is one; otherwise the address is ambiguous.
func (p *parser) build() *Snapshot {
	s := &Snapshot{Entries: p.entries, Stats: p.stats, byIP: map[netip.Addr]int{}}
	claims := map[netip.Addr][]int{}
	for i := range s.Entries {
		e := &s.Entries[i]
		if e.HostNetwork {
			s.Stats.HostNetwork++
			continue
		}
		for _, a := range e.Addrs {
			claims[a] = append(claims[a], i)
		}
	}
	// Containers that joined another's stack own its addresses too.
	byGroup := map[string][]int{}
	for i := range s.Entries {
		if !s.Entries[i].HostNetwork {
			byGroup[s.Entries[i].group] = append(byGroup[s.Entries[i].group], i)
		}
	}
	for a, cs := range claims {
		seen := map[int]bool{}
		for _, i := range cs {
			seen[i] = true
		}
		for _, i := range cs {
			for _, j := range byGroup[s.Entries[i].group] {
				if !seen[j] {
					seen[j] = true
					claims[a] = append(claims[a], j)
				}
			}
		}
	}
	for a, cs := range claims {
		if best, ok := resolve(s.Entries, cs); ok {
			s.byIP[a] = best
		} else {
			s.Stats.Ambiguous++
		}
	}
	s.Stats.Addresses = len(s.byIP)
	return s
}

func resolve(es []Entry, cs []int) (int, bool) {
	best := func(cs []int) int {
		b := cs[0]
		for _, i := range cs[1:] {
			if r, rb := es[i].rank(), es[b].rank(); r < rb || r == rb && i < b {
				b = i
			}
		}
		return b
	}
	sameGroup := true
	for _, i := range cs[1:] {
		if es[i].group != es[cs[0]].group {
			sameGroup = false
			break
		}
	}
	if sameGroup {
		return best(cs), true
	}
	var live []int
	groups := map[string]bool{}
	for _, i := range cs {
		if es[i].Live {
			live = append(live, i)
			groups[es[i].group] = true
		}
	}
	if len(live) > 0 && len(groups) == 1 {
		return best(live), true
	}
	return 0, false
}
