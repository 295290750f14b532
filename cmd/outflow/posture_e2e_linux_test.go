//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"outflow/detect/statefile"
)

// The end-to-end tests of the posture detectors and the containment
// response (issue 8), against the real Docker engine: labelled scenarios
// with their benign twins, watched by `outflow sense`, then `outflow
// isolate` / `release` and `sense --respond isolate`. The lab namespace
// (10.234.0.2) stands for the outside world; the host's end of the lab
// link (10.234.0.1) is the host's own address. Run with `make e2e`.

// postureConfig is the sensor configuration of these tests: the documented
// silencing (README, "Container posture") applied to the test's images and
// labels, and a learning period short enough for a test.
const postureConfig = `internal_networks: [172.16.0.0/12, 127.0.0.0/8, fe80::/10, 224.0.0.0/4, ff00::/8, 10.234.0.1/32]
detectors:
  unexpected_destination:
    learning_period: 4s
  exposed_port_inbound:
    ignore_ports: [443]
  container_churn:
    min_containers: 5
    ignore_label: {"com.example.ci": "true"}
suppress:
  - rule: host-network-egress
    container_image: ["of-e2e-hostagent:*"]
    comment: a monitoring agent that runs with host networking
  - rule: unexpected-destination
    container_image: ["outflow-e2e-busybox:*"]
    comment: test only; the scenarios share this image, the baseline test has its own
`

// pePrereqs skips (or fails under OUTFLOW_E2E_REQUIRE=1) when the Docker
// lab cannot run.
func pePrereqs(t *testing.T) {
	t.Helper()
	if os.Getenv("OUTFLOW_E2E") == "" {
		t.Skip("the Docker end-to-end tests run with `make e2e` (OUTFLOW_E2E=1)")
	}
	if os.Geteuid() != 0 {
		e2eSkip(t, "needs root")
	}
	for _, tool := range []string{"docker", "ip", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			e2eSkip(t, "%s is not installed", tool)
		}
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		e2eSkip(t, "no Docker engine answers (start dockerd --iptables=false --storage-driver=vfs): %v", err)
	}
}

// peLab is the lab with its servers (HTTP on 8080, a sink on 9000).
func peLab(t *testing.T) *e2eLab {
	lab := newE2ELab(t)
	exe, _ := os.Executable()
	lab.start(t, []string{e2eServerEnv + "=" + lab.srvIP.String(), "GORACE=atexit_sleep_ms=0"}, exe, "-test.run=^TestE2EHelperServer$")
	for _, port := range []string{"8080", "9000"} {
		waitTCP(t, net.JoinHostPort(lab.srvIP.String(), port))
	}
	return lab
}

// peDockerRun starts a container (removed when the test ends, paused or not)
// and returns its ID.
func peDockerRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	t.Cleanup(func() {
		exec.Command("docker", "unpause", name).Run()
		exec.Command("docker", "rm", "-f", name).Run()
	})
	return e2eRun(t, "docker", append([]string{"run", "-d", "--name", name}, args...)...)
}

// peDockerTag gives image another name (a separate workload), removed at the end.
func peDockerTag(t *testing.T, image, tag string) string {
	t.Helper()
	e2eRun(t, "docker", "tag", image, tag)
	t.Cleanup(func() { exec.Command("docker", "rmi", tag).Run() })
	return tag
}

// peWaitLogs waits until a container's output contains want.
func peWaitLogs(t *testing.T, name, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("docker", "logs", name).CombinedOutput()
		if bytes.Contains(out, []byte(want)) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := exec.Command("docker", "logs", name).CombinedOutput()
	t.Fatalf("container %s did not print %q within %v:\n%s", name, want, within, out)
}

// peFromLab runs an HTTP request from the lab namespace (the outside).
func peFromLab(t *testing.T, l *e2eLab, addr string, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns, "/bin/busybox", "sh", "-c",
		fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | /bin/busybox nc -w 3 %s %d`, addr, port))
	if out, err := cmd.CombinedOutput(); err != nil || len(out) == 0 {
		t.Errorf("request from the lab to %s:%d: %v %q", addr, port, err, out)
	}
}

// peSensor is `outflow sense` running in the test process.
type peSensor struct {
	out    string
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	t0     time.Time
}

func peStartSensor(t *testing.T, out string, args ...string) *peSensor {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &peSensor{out: out, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1), t0: time.Now()}
	go func() {
		s.done <- runSense(ctx, append([]string{"-o", out, "--log-level", "debug", "--ring-blocks", "32"}, args...), io.Discard, s.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.stderr.String(), "sensor running") {
		if time.Now().After(deadline) {
			t.Fatalf("sensor did not start:\n%s", s.stderr.String())
		}
		select {
		case err := <-s.done:
			t.Fatalf("sensor exited: %v\n%s", err, s.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return s
}

// stop ends the sensor and returns everything it wrote.
func (s *peSensor) stop(t *testing.T) []map[string]any {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("sensor: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sensor did not stop:\n%s", s.stderr.String())
	}
	s.done <- nil // for the cleanup
	return peRecords(t, s.out)
}

func peRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

func peAlerts(recs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if str(r, "event.kind") == "alert" {
			out = append(out, r)
		}
	}
	return out
}

// peLatency is event.created minus @timestamp.
func peLatency(t *testing.T, a map[string]any) time.Duration {
	ts, err1 := time.Parse(time.RFC3339Nano, str(a, "@timestamp"))
	created, err2 := time.Parse(time.RFC3339Nano, str(a, "event.created"))
	if err1 != nil || err2 != nil {
		t.Errorf("alert times: %v %v", err1, err2)
	}
	return created.Sub(ts)
}

var postureRules = []string{"host-network-egress", "exposed-port-inbound", "risky-container", "unexpected-destination", "container-churn"}

func TestE2EPosture(t *testing.T) {
	pePrereqs(t)
	image := busyboxImage(t)
	lab := peLab(t)
	dir := t.TempDir()
	pid := os.Getpid()
	srv := lab.srvIP.String()
	name := func(role string) string { return fmt.Sprintf("of-e2e-%s-%d", role, pid) }
	cfg := filepath.Join(dir, "outflow.yaml")
	os.WriteFile(cfg, []byte(postureConfig), 0o644)
	state := filepath.Join(dir, "state")
	out := filepath.Join(dir, "records.ndjson")
	sensor := peStartSensor(t, out, "--config", cfg, "--host-ifaces", lab.hostIf, "--state-dir", state, "--flows")

	// Containers that do their part, print "done" and stay up: only the
	// churn bursts exit while the sensor watches.
	get := func(host string, n int, pause string) string {
		return fmt.Sprintf(`i=0; while [ $i -lt %d ]; do printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' | nc -w 3 %s 8080 >/dev/null; sleep %s; i=$((i+1)); done`, n, host, srv, pause)
	}
	stay := "; echo done; sleep 600"
	agentImage := peDockerTag(t, image, fmt.Sprintf("of-e2e-hostagent:%d", pid))
	learnImage := peDockerTag(t, image, fmt.Sprintf("of-e2e-learner:%d", pid))
	www := "/bin/busybox httpd -p 80 -h /tmp; "
	plainVol := t.TempDir()

	// Phase A, all at once.
	ids := map[string]string{}
	run := func(role string, args ...string) { ids[name(role)] = peDockerRun(t, name(role), args...) }
	// Host-network flows are attributed by socket at their first packet,
	// with /proc walks spaced 250 ms apart: the two call out in turn.
	run("hostnet", "--network=host", image, "sh", "-c", "sleep 2; "+get("api.lab.example", 5, "0.6")+stay)
	run("hostagent", "--network=host", agentImage, "sh", "-c", "sleep 2.3; "+get("metrics.lab.example", 5, "0.6")+stay)
	run("exposed", "-p", "18080:80", image, "sh", "-c", www+"echo done; sleep 600")
	run("exposedtwin", "-p", "18443:443", image, "sh", "-c", "/bin/busybox httpd -p 443 -h /tmp; echo done; sleep 600")
	run("hostlisten", "--network=host", image, "sh", "-c", "/bin/busybox httpd -p 10.234.0.1:18090 -h /tmp; echo done; sleep 600")
	// A privileged container with the host's / mounted. Where the test
	// itself lacks capabilities to hand out (a sandbox without
	// CAP_SYS_RESOURCE cannot start --privileged), it runs with / mounted
	// and the host's PID namespace instead: still risky, by two reasons.
	privCmd := []string{image, "sh", "-c", www + "sleep 2; " + get("api.lab.example", 2, "0.5") + stay}
	privReasons := "[privileged host-root-mount]"
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name("priv")).Run() })
	privOut, err := exec.Command("docker", append([]string{"run", "-d", "--name", name("priv"), "--privileged", "-v", "/:/host", "-p", "18082:80"}, privCmd...)...).CombinedOutput()
	if err != nil {
		if !bytes.Contains(privOut, []byte("caps")) {
			t.Fatalf("docker run --privileged: %v\n%s", err, privOut)
		}
		t.Logf("this host cannot start privileged containers (%s); the risky container runs with / mounted and --pid=host", bytes.TrimSpace(privOut[bytes.LastIndex(privOut, []byte("unable")):]))
		exec.Command("docker", "rm", "-f", name("priv")).Run()
		run("priv", append([]string{"--pid=host", "-v", "/:/host", "-p", "18082:80"}, privCmd...)...)
		privReasons = "[host-root-mount host-pid]"
	} else {
		ids[name("priv")] = strings.TrimSpace(string(privOut))
	}
	run("plain", "-v", plainVol+":/data", image, "sh", "-c", "sleep 2; "+get("api.lab.example", 2, "0.5")+stay)
	run("learner", learnImage, "sh", "-c", "sleep 2; "+get("api.lab.example", 5, "1.1")+stay)
	for _, role := range []string{"exposed", "exposedtwin", "hostlisten", "priv"} {
		peWaitLogs(t, name(role), "done", 30*time.Second)
	}
	time.Sleep(3 * time.Second) // the veths are watched
	for _, port := range []int{18080, 18443, 18082} {
		peFromLab(t, lab, lab.hostIP.String(), port)
	}
	// A host-network listener's connections are attributed by the socket
	// that holds them, looked up at the first packet; a lab exchange is
	// over in a fraction of a millisecond and may be gone by then (see the
	// README), so the outside calls it a few times, as a client would.
	for range 3 {
		peFromLab(t, lab, lab.hostIP.String(), 18090)
		time.Sleep(400 * time.Millisecond)
	}
	for _, role := range []string{"hostnet", "hostagent", "plain", "learner", "priv"} {
		peWaitLogs(t, name(role), "done", 60*time.Second)
	}
	if !strings.Contains(sensor.stderr.String(), "baseline learned") {
		t.Errorf("the learner's baseline was not learned:\n%s", peTail(sensor.stderr.String(), 40))
	}

	// Phase B: the learned workload again (benign twin), then somewhere new.
	run("learnerok", learnImage, "sh", "-c", "sleep 2; "+get("api.lab.example", 2, "0.5")+stay)
	peWaitLogs(t, name("learnerok"), "done", 30*time.Second)
	run("learnernew", learnImage, "sh", "-c", fmt.Sprintf("sleep 2; printf 'exfil' | nc -w 3 %s 9000"+stay, srv))
	peWaitLogs(t, name("learnernew"), "done", 30*time.Second)

	// Churn: six CI jobs (labelled, silenced), then six unlabelled ones.
	burst := func(prefix string, labels ...string) []string {
		var names []string
		for i := range 6 {
			n := name(fmt.Sprintf("%s%d", prefix, i))
			args := append(slices.Clone(labels), image, "sh", "-c", fmt.Sprintf("sleep 3; printf job | nc -w 3 %s 9000", srv))
			peDockerRun(t, n, args...)
			names = append(names, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, n := range names {
			exec.CommandContext(ctx, "docker", "wait", n).Run()
		}
		return names
	}
	burst("ci", "--label", "com.example.ci=true")
	time.Sleep(2 * time.Second)
	bad := burst("churn")
	time.Sleep(3 * time.Second) // the exits are seen

	recs := sensor.stop(t)
	alerts := peAlerts(recs)
	byName := map[string][]map[string]any{}
	var churn []map[string]any
	var worst time.Duration
	for _, a := range alerts {
		lat := peLatency(t, a)
		worst = max(worst, lat)
		t.Logf("alert %-22s sev %v after %5v: %s", str(a, "rule.name"), field(a, "event.severity"), lat.Round(time.Millisecond), str(a, "message"))
		if str(a, "rule.name") == "container-churn" {
			if field(a, "outflow.alert_update") == nil {
				churn = append(churn, a)
			}
			continue
		}
		byName[str(a, "container.name")] = append(byName[str(a, "container.name")], a)
	}
	find := func(role, rule string) map[string]any {
		for _, a := range byName[name(role)] {
			if str(a, "rule.name") == rule && str(a, "container.id") == ids[name(role)] {
				return a
			}
		}
		return nil
	}
	scenarios := 0
	expect := func(role, rule, technique string) map[string]any {
		scenarios++
		a := find(role, rule)
		if a == nil {
			t.Errorf("scenario %s: no %s alert", role, rule)
			return nil
		}
		if ids := field(a, "threat.technique.id"); fmt.Sprint(ids) != "["+technique+"]" {
			t.Errorf("scenario %s: technique %v, want %s", role, ids, technique)
		}
		if lat := peLatency(t, a); lat > time.Second {
			t.Errorf("scenario %s: %s written %v after its evidence (want < 1 s)", role, rule, lat)
		}
		return a
	}
	expect("hostnet", "host-network-egress", "T1599")
	if a := expect("exposed", "exposed-port-inbound", "T1133"); a != nil {
		if str(a, "source.ip") != srv || num(a, "outflow.exposed_port_inbound.host_port") != 18080 || num(a, "outflow.exposed_port_inbound.container_port") != 80 {
			t.Errorf("exposed: %v", a)
		}
	}
	if a := expect("hostlisten", "exposed-port-inbound", "T1133"); a != nil && field(a, "outflow.exposed_port_inbound.host_network") != true {
		t.Errorf("hostlisten: %v", a)
	}
	if a := expect("priv", "risky-container", "T1611"); a != nil {
		if num(a, "event.severity") != 1 || fmt.Sprint(field(a, "outflow.risky_container.reasons")) != privReasons {
			t.Errorf("risky-container alert: %v", a)
		}
	}
	if a := expect("priv", "exposed-port-inbound", "T1133"); a != nil {
		// The privileged container's other alerts carry the risk, one
		// level higher.
		if num(a, "event.severity") != 3 || fmt.Sprint(field(a, "outflow.container.risk")) != privReasons {
			t.Errorf("risk not carried by the privileged container's other alert: severity %v, risk %v", field(a, "event.severity"), field(a, "outflow.container.risk"))
		}
	}
	if a := expect("learnernew", "unexpected-destination", "T1071"); a != nil && num(a, "destination.port") != 9000 {
		t.Errorf("unexpected-destination: %v", a)
	}
	scenarios++
	if len(churn) != 1 {
		t.Errorf("scenario churn: %d container-churn alerts, want 1", len(churn))
	} else {
		got := field(churn[0], "outflow.container_churn.container_names")
		for _, n := range got.([]any) {
			if !slices.Contains(bad, n.(string)) {
				t.Errorf("churn alert counts %v, which is not of the unlabelled burst", n)
			}
		}
	}
	// Benign twins: seen (their flows carry their name), and no posture
	// alert at all.
	seen := map[string]int{}
	for _, r := range recs {
		if str(r, "event.dataset") == "outflow.flow" {
			seen[str(r, "container.name")]++
		}
	}
	for _, role := range []string{"hostagent", "exposedtwin", "plain", "learner", "learnerok"} {
		if seen[name(role)] == 0 {
			t.Errorf("benign twin %s: no flow of it was attributed, so its silence proves nothing", role)
		}
		for _, a := range byName[name(role)] {
			if slices.Contains(postureRules, str(a, "rule.name")) {
				t.Errorf("benign twin %s raised %s: %s", role, str(a, "rule.name"), str(a, "message"))
			}
		}
	}
	t.Logf("%d posture scenarios and 6 benign twins (flows attributed to the twins: hostagent %d, exposedtwin %d, plain %d, learner %d, learnerok %d; CI jobs left out of the churn count: %s); worst alert latency %v",
		scenarios, seen[name("hostagent")], seen[name("exposedtwin")], seen[name("plain")], seen[name("learner")], seen[name("learnerok")],
		peValueOf(sensor.stderr.String(), "short_lived_ignored"), worst.Round(time.Millisecond))
	summary := sensor.stderr.String()
	if i := strings.LastIndex(summary, "sensor stopped"); i >= 0 {
		t.Logf("sensor summary: %s", strings.TrimSpace(summary[i:]))
	}

	// The baseline is on disk, and a restarted sensor alerts at once on
	// the new destination: nothing is relearned.
	body, err := statefile.Read(filepath.Join(state, "unexpected-destination.state"), "unexpected-destination", 1)
	if err != nil || !bytes.Contains(body, []byte(`"image:of-e2e-learner"`)) {
		t.Fatalf("saved baseline: %v\n%s", err, body)
	}
	out2 := filepath.Join(dir, "records2.ndjson")
	sensor2 := peStartSensor(t, out2, "--config", cfg, "--host-ifaces", lab.hostIf, "--state-dir", state)
	if !strings.Contains(sensor2.stderr.String(), "baseline loaded") {
		t.Errorf("restarted sensor did not load the baseline:\n%s", peTail(sensor2.stderr.String(), 20))
	}
	run("learnernew2", learnImage, "sh", "-c", fmt.Sprintf("sleep 2; printf 'exfil' | nc -w 3 %s 9000"+stay, srv))
	peWaitLogs(t, name("learnernew2"), "done", 30*time.Second)
	time.Sleep(time.Second)
	found := false
	for _, a := range peAlerts(sensor2.stop(t)) {
		if str(a, "rule.name") == "unexpected-destination" && str(a, "container.name") == name("learnernew2") {
			found = true
		}
	}
	if !found {
		t.Errorf("after a restart: no unexpected-destination alert; the baseline did not survive")
	}
}

// peValueOf finds key=value in the sensor's last summary line.
func peValueOf(log, key string) string {
	i := strings.LastIndex(log, " "+key+"=")
	if i < 0 {
		return "?"
	}
	v := log[i+len(key)+2:]
	if j := strings.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	return v
}

func peTail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// peReaches reports whether a container can fetch from the lab server.
func peReaches(name, srv string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "exec", name, "sh", "-c",
		fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 %s 8080`, srv)).CombinedOutput()
	return err == nil && bytes.Contains(out, []byte("200 OK"))
}

// peReachable waits (bounded) until the container's reach is want: a link
// set up again takes a moment to forward, and a request in flight to fail.
func peReachable(name, srv string, want bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := peReaches(name, srv)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// peRespond runs outflow isolate or release in the test process and
// returns its event.
func peRespond(t *testing.T, action string, args ...string) (map[string]any, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var err error
	if action == "isolate" {
		err = runIsolate(context.Background(), args, &stdout, &stderr)
	} else {
		err = runRelease(context.Background(), args, &stdout, &stderr)
	}
	var ev map[string]any
	if jerr := json.Unmarshal(stdout.Bytes(), &ev); jerr != nil {
		t.Fatalf("%s %v: event %q: %v (stderr %s)", action, args, stdout.String(), jerr, stderr.String())
	}
	if err != nil {
		t.Logf("%s %v: %v", action, args[len(args)-1], err)
	} else {
		t.Logf("%s: %s", action, strings.TrimSpace(stderr.String()))
	}
	return ev, err
}

func pePaused(t *testing.T, name string) bool {
	return e2eRun(t, "docker", "inspect", "-f", "{{.State.Paused}}", name) == "true"
}

func TestE2ERespond(t *testing.T) {
	pePrereqs(t)
	image := busyboxImage(t)
	lab := peLab(t)
	pid := os.Getpid()
	srv := lab.srvIP.String()
	name := func(role string) string { return fmt.Sprintf("of-e2e-%s-%d", role, pid) }
	state := t.TempDir()
	target, neighbour, hostc := name("target"), name("neighbour"), name("hostpause")
	peDockerRun(t, target, image, "sleep", "600")
	peDockerRun(t, neighbour, image, "sleep", "600")
	peDockerRun(t, hostc, "--network=host", image, "sh", "-c", "while true; do sleep 1; done")
	// Whatever happens, nothing stays cut off or paused (the containers'
	// removal takes their veths; this covers a failure before that).
	t.Cleanup(func() {
		for _, n := range []string{target, hostc, name("auto")} {
			runRelease(context.Background(), []string{"--state-dir", state, n}, io.Discard, io.Discard)
		}
	})

	if !peReaches(target, srv) || !peReaches(neighbour, srv) {
		t.Fatal("the containers cannot reach the lab server before any isolation")
	}
	t0 := time.Now()
	ev, err := peRespond(t, "isolate", "--state-dir", state, "--alert-id", "0123abcd", target)
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	if str(ev, "event.kind") != "event" || fmt.Sprint(field(ev, "event.category")) != "[network]" || fmt.Sprint(field(ev, "event.type")) != "[denied]" ||
		str(ev, "container.name") != target || str(ev, "outflow.response.alert_id") != "0123abcd" || field(ev, "outflow.response.changed") != true ||
		str(ev, "outflow.response.method") != "link-down" {
		t.Errorf("isolate event: %v", ev)
	}
	if peReachable(target, srv, false) {
		t.Error("the isolated container still peReaches the lab server")
	}
	if !peReaches(neighbour, srv) {
		t.Error("the neighbour lost its network with the isolation")
	}
	if ev, err := peRespond(t, "isolate", "--state-dir", state, target); err != nil || field(ev, "outflow.response.changed") != false {
		t.Errorf("second isolate: %v %v", err, ev)
	}
	ev, err = peRespond(t, "release", "--state-dir", state, target)
	if err != nil || fmt.Sprint(field(ev, "event.type")) != "[allowed]" || field(ev, "outflow.response.changed") != true || str(ev, "outflow.response.alert_id") != "0123abcd" {
		t.Errorf("release: %v %v", err, ev)
	}
	if !peReachable(target, srv, true) {
		t.Error("the released container cannot reach the lab server")
	}
	if ev, err := peRespond(t, "release", "--state-dir", state, target); err != nil || field(ev, "outflow.response.changed") != false {
		t.Errorf("second release: %v %v", err, ev)
	}
	t.Logf("isolate took %v (discovery included)", took.Round(time.Millisecond))

	// Host network: paused, and the output says so.
	ev, err = peRespond(t, "isolate", "--state-dir", state, hostc)
	if err != nil || str(ev, "outflow.response.method") != "pause" || !strings.Contains(str(ev, "message"), "pausing") || !pePaused(t, hostc) {
		t.Errorf("isolate host-network: %v %v (paused %v)", err, ev, pePaused(t, hostc))
	}
	if _, err := peRespond(t, "release", "--state-dir", state, hostc); err != nil || pePaused(t, hostc) {
		t.Errorf("release host-network: %v (paused %v)", err, pePaused(t, hostc))
	}

	// Refusals: nothing identified with certainty, nothing done.
	for _, q := range []string{"of-e2e", "no-such-container", "0"} {
		ev, err := peRespond(t, "isolate", "--state-dir", state, q)
		if err == nil || str(ev, "event.outcome") != "failure" {
			t.Errorf("isolate %q: %v, %v", q, err, ev)
		}
	}
	if !peReachable(target, srv, true) || !peReaches(neighbour, srv) {
		t.Error("a refused isolation cut something")
	}

	// sense --respond isolate: an alert of the configured severity cuts
	// its container off, and writes the event next to the alert.
	cfg := filepath.Join(state, "outflow.yaml")
	os.WriteFile(cfg, []byte(postureConfig), 0o644)
	out := filepath.Join(state, "records.ndjson")
	auto := name("auto")
	peDockerRun(t, auto, "-p", "18085:80", image, "sh", "-c", "/bin/busybox httpd -p 80 -h /tmp; echo done; sleep 600")
	peWaitLogs(t, auto, "done", 30*time.Second)
	sensor := peStartSensor(t, out, "--config", cfg, "--host-ifaces", lab.hostIf, "--state-dir", state,
		"--respond", "isolate", "--respond-min-severity", "2")
	time.Sleep(2 * time.Second)
	if !peReaches(auto, srv) {
		t.Fatal("the auto container cannot reach the lab server before the alert")
	}
	peFromLab(t, lab, lab.hostIP.String(), 18085)
	cut := !peReachable(auto, srv, false)
	recs := sensor.stop(t)
	var alertID string
	var resp map[string]any
	for _, r := range recs {
		switch {
		case str(r, "event.kind") == "alert" && str(r, "container.name") == auto && str(r, "rule.name") == "exposed-port-inbound":
			alertID = str(r, "outflow.alert_id")
		case str(r, "event.dataset") == "outflow.response":
			resp = r
		}
	}
	if alertID == "" || resp == nil {
		t.Fatalf("sense --respond: alert %q, response event %v\n%s", alertID, resp, peTail(sensor.stderr.String(), 30))
	}
	if str(resp, "outflow.response.alert_id") != alertID || str(resp, "container.name") != auto || str(resp, "event.outcome") != "success" ||
		str(resp, "rule.name") != "exposed-port-inbound" {
		t.Errorf("response event: %v", resp)
	}
	if !cut {
		t.Error("sense --respond did not cut the container off")
	}
	if _, err := peRespond(t, "release", "--state-dir", state, auto); err != nil || !peReachable(auto, srv, true) {
		t.Errorf("release after sense --respond: %v", err)
	}
}
