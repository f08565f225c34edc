// The okta-token-exporter monitoring mixin: Prometheus alerts and recording rules and a Grafana
// dashboard, configured through _config (config.libsonnet). mixin/README.md says how to use it.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
