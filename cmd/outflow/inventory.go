package main

import (
	"fmt"
	"log/slog"

	"outflow/capture/inventory"
	"outflow/detect"
	"outflow/flows"
)

// fileInventory is --inventory: attribution from kubectl / docker inspect
// output instead of a container runtime. A nil one attributes nothing.
type fileInventory struct{ inv *inventory.Inventory }

func openInventory(path string, log *slog.Logger) (*fileInventory, error) {
	if path == "" {
		return nil, nil
	}
	inv, err := inventory.Open(path, inventory.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--inventory: %w", err)
	}
	c := inv.Counters()
	log.Info("inventory loaded", "file", path, "pods", c.Pods, "containers", c.Containers, "ignored_objects", c.Ignored, "addresses", c.Addresses,
		"host_network_not_attributed", c.HostNetwork, "ambiguous_addresses", c.Ambiguous)
	return &fileInventory{inv}, nil
}

// attributor is the inventory for the detectors (nil interface when off).
func (fi *fileInventory) attributor() detect.Attributor {
	if fi == nil {
		return nil
	}
	return fi.inv
}

// flowAttributor is the inventory for the flow table.
func (fi *fileInventory) flowAttributor() flows.Attributor {
	if fi == nil {
		return nil
	}
	return fi.inv
}

// enrichers adds the container and orchestrator fields to flow records.
func (fi *fileInventory) enrichers() []flows.Enricher {
	if fi == nil {
		return nil
	}
	return []flows.Enricher{fi.inv}
}

// enrichAlerts adds labels and orchestrator fields to alerts.
func (fi *fileInventory) enrichAlerts(a *detect.Alerts) {
	if fi != nil && a != nil {
		a.AddEnricher(fi.inv)
	}
}

func (fi *fileInventory) close() {
	if fi != nil {
		fi.inv.Close()
	}
}

// summaryArgs are the inventory's counters for the run summary.
func (fi *fileInventory) summaryArgs() []any {
	if fi == nil {
		return nil
	}
	c := fi.inv.Counters()
	return []any{"inventory_attributed_flows", c.Attributed, "inventory_unattributed_flows", c.Unattributed,
		"inventory_reloads", c.Reloads, "inventory_reload_errors", c.ReloadErrors}
}
