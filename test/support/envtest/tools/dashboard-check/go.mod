// dashboard-check (built by ../../install-tools.sh dashboard-check): Grafana dashboards checked
// against the schema of the Grafana foundation SDK, the one the dashboard is written with.
module flotilla.test/envtest/tools/dashboard-check

go 1.26.0

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
