package config

// Example is a configuration file that sets every key, with what it does.
// `outflow` users can start from it; the tests parse it and check that it
// names every key the decoder knows.
const Example = `# outflow configuration (--config FILE). Every key is optional: what is
# left out keeps its default, shown here unless said otherwise.
# Sizes: 1024, "100MB" (10^6), "1.5GiB" (2^30). Durations: "90s", "10m", "1h".

# Networks that are "inside". Destinations outside them are egress. When
# given, this list replaces the default set (RFC 1918, RFC 6598, loopback,
# link-local, ULA, multicast).
internal_networks:
  - 10.0.0.0/8
  - 172.16.0.0/12
  - 192.168.0.0/16
  - fd00::/8

# One alert per rule, entity and destination within this window; later ones
# are written only when they escalate.
dedup_window: 1h

detectors:
  # Uploads over file-transfer protocols.
  file_transfer:
    enabled: true
    min_bytes: 1                   # smallest transfer reported (file data; listings excluded)
    standard_ports:                # a protocol elsewhere is "non-standard port";
      ftp: [21]                    # protocols named here replace their defaults
      tftp: [69]
      smb: [445, 139]
      nfs: [2049]
      rsync: [873]

  # Bytes sent out per entity and window.
  egress_volume:
    enabled: true
    threshold_bytes: 100MB         # alert above this in one window, always
    window: 10m
    baseline_factor: 5             # ... or above 5x the entity's baseline
    baseline_floor: 20MB           # ... but never below this
    baseline_windows: 6            # windows averaged into the baseline

  # Command-and-control beaconing.
  beacon:
    enabled: true
    threshold: 0.6                 # score 0..1 at which a series alerts (plus a significance test)
    min_checkins: 6                # check-ins before a series can alert (>= 3)
    ring: 64                       # recent check-ins kept per series
    max_series: 100000             # tracked series (memory bound)
    min_period: 1s                 # periods that can alert
    max_period: 24h
    strobe_interval: 1s            # faster series are strobes, reported once
    series_idle: 10m               # drop idle series after this
    resolvers: [10.0.0.53, 10.0.0.54]      # DNS resolvers: not scored (default none)
    ignore_destination_cidr: [10.9.0.0/24] # e.g. NTP, metrics (default none)
    ignore_domain_suffix: [.time.example]  # by name (default none)
    egress_only: false             # score only destinations outside the internal networks (default false)
    proxies: [10.0.0.8]            # with egress_only: internal egress proxies, still scored (default none)

  # Egress to countries / autonomous systems (needs --geoip databases).
  egress_geo:
    enabled: true
    allow_countries: [DE, FR, NL]  # non-empty: anything else alerts (default none)
    deny_countries: [KP]           # always alerts; deny wins (default none)
    allow_asns: [16509, 15169]     # a destination any allow list admits is allowed
    deny_asns: [64496]
    alert_unknown: false           # with allow lists: alert when the database has no answer

  # Egress from containers in the host's network namespace (--network=host).
  # Legitimate host-network services: suppress by image, name or label.
  host_network_egress:
    enabled: true
    min_bytes: 0                   # alert once a flow has moved this much (0: at its first packet)

  # Connections from outside accepted by a container: a published port
  # (-p 1234:80) or a listener of a host-network container.
  exposed_port_inbound:
    enabled: true
    ignore_ports: [80, 443]        # meant to be public (default none)
    min_sources: 1                 # distinct outside sources before alerting

  # Privileged containers, host root or runtime socket mounted, host PID:
  # one alert at their first egress, and their other alerts carry
  # outflow.container.risk with one severity level more.
  risky_container:
    enabled: true
    min_risk: 0.5                  # container risk score 0..1

  # Destinations a workload (image, or Kubernetes workload) did not use
  # while its baseline was learned (kept in sense --state-dir).
  unexpected_destination:
    enabled: true
    learning_period: 24h           # of observed activity per workload
    max_destinations: 256          # per workload; more: too varied, never alerts

  # Containers that start, connect out and exit within minutes, more than
  # the host's own baseline.
  container_churn:
    enabled: true
    window: 10m                    # sliding count; also the baseline's unit
    max_lifetime: 5m               # short-lived: exits within this of its start
    min_containers: 5              # never alert below this many in a window
    baseline_factor: 3             # ... nor below 3x the host's mean per window
    baseline_windows: 12           # windows in that mean
    ignore_image: ["registry.example/ci-runner:*"]   # not counted (default none)
    ignore_label: {"com.example.ci": "true"}         # not counted (default none)

# Suppression: an alert is dropped when it matches every condition of any
# rule. Lists match when any element does; globs use path.Match syntax
# ("*" does not cross "/"). Each rule needs at least one condition.
suppress:
  - rule: file-transfer                   # glob on rule.name
    container_name: "backup-*"            # glob(s) on container.name
    container_image: "registry.example/backup:*"
    container_label: {"com.example.role": "backup"}   # all must match (value globs)
    destination_cidr: [10.20.0.0/16]      # the backup server's network
    destination_port: [873]
    comment: nightly backup job to the internal backup server
  - container_image: ["registry.example/ci-runner:*", "registry.example/ci/*"]
    destination_domain_suffix: [.corp.example, artifacts.example.com]
    comment: CI runners fetch from internal mirrors
  - rule: [beacon, "egress-*"]
    source_cidr: [10.1.2.0/24]
    destination_cidr: [10.0.5.10/32]
    comment: load balancer health checks
`
