package respond

import (
	"errors"
	"fmt"
	"strings"

	"outflow/flows/ecs"
)

// Event fills d with the ECS event of the action: event.kind "event",
// event.category ["network"], event.type ["denied"] for an isolation and
// ["allowed"] for a release (the network category's counterpart of denied;
// ECS does not list "change" as a type of that category), event.action,
// event.outcome, the container, the method and what changed, and the alert
// that triggered it. host is host.name.
func (res *Result) Event(d *ecs.Doc, host string) {
	d.Time("@timestamp", res.Time.UnixNano())
	d.Str("event.kind", "event")
	d.Str("event.module", "outflow")
	d.Str("event.dataset", "outflow.response")
	d.Raw("event.category", []byte(`["network"]`))
	if res.Action == ActionIsolate {
		d.Raw("event.type", []byte(`["denied"]`))
	} else {
		d.Raw("event.type", []byte(`["allowed"]`))
	}
	d.Str("event.action", res.Action)
	outcome := "success"
	if res.Err != nil {
		outcome = "failure"
		d.Str("error.message", res.Err.Error())
		if errors.Is(res.Err, ErrRefused) {
			d.Str("error.type", "refused")
		}
	}
	d.Str("event.outcome", outcome)
	d.Str("message", res.Message())
	d.Str("host.name", host)
	if c := res.Container; c != nil {
		d.Str("container.id", c.ID)
		d.Str("container.name", c.Name)
		d.Str("container.image.name", c.Image)
		d.Str("container.runtime", c.Runtime)
		mode := c.NetworkMode
		if c.HostNetwork {
			mode = "host"
		}
		d.Str("outflow.container.network_mode", mode)
	}
	d.Str("outflow.response.method", res.Method)
	d.Bool("outflow.response.changed", res.Changed)
	d.Strs("outflow.response.interfaces", res.Links)
	d.Str("outflow.response.note", res.Note)
	d.Strs("outflow.response.also_affected", res.AlsoAffected)
	d.Str("outflow.response.alert_id", res.AlertID)
	d.Str("outflow.response.target", res.Target)
	d.Str("rule.name", res.Rule)
}

// Message is one readable sentence about the action.
func (res *Result) Message() string {
	name := "container"
	switch {
	case res.Container != nil:
		name = "container " + displayName(res.Container)
	case res.Target != "":
		name = "container " + res.Target
	}
	var b strings.Builder
	switch {
	case res.Err != nil:
		fmt.Fprintf(&b, "%s of %s failed: %v", res.Action, name, res.Err)
	case res.Action == ActionIsolate && res.Method == MethodPause && res.Changed:
		fmt.Fprintf(&b, "isolated %s by pausing it: it shares the host's network, which cannot be cut without cutting the host", name)
	case res.Action == ActionIsolate && res.Changed:
		fmt.Fprintf(&b, "isolated %s: set its host-side veth %s down", name, strings.Join(res.Links, ", "))
	case res.Action == ActionRelease && res.Method == MethodPause && res.Changed:
		fmt.Fprintf(&b, "released %s: resumed it", name)
	case res.Action == ActionRelease && res.Changed:
		fmt.Fprintf(&b, "released %s: set its host-side veth %s up", name, strings.Join(res.Links, ", "))
	default:
		fmt.Fprintf(&b, "%s of %s: nothing changed", res.Action, name)
	}
	if res.Note != "" && (res.Err == nil) && !(res.Changed && res.Method == MethodPause && res.Action == ActionIsolate) {
		fmt.Fprintf(&b, " (%s)", res.Note)
	}
	if len(res.AlsoAffected) > 0 {
		fmt.Fprintf(&b, "; it shares its network namespace with %s, affected too", strings.Join(res.AlsoAffected, ", "))
	}
	if res.AlertID != "" {
		fmt.Fprintf(&b, "; alert %s", res.AlertID)
	}
	return b.String()
}
