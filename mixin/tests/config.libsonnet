// Every knob of _config turned away from its default, for the promtool tests in this
// directory (mixin/render.sh renders okta-api-tokens.rules.yml here with it) and the dashboard
// checks of tests/it/mixin.rs.
{
  _config+:: {
    // A PodMonitor's job in another namespace: OktaExporterAbsent gets both labels.
    exporterSelector: 'job="identity/okta", namespace="identity"',
    // The token everyone agreed to let lapse.
    tokenSelector: 'token_id!="00Tabandoned"',
    warningThresholdSeconds: 14 * 24 * 3600,
    criticalThresholdSeconds: 48 * 3600,
    staleAfterPollIntervals: 5,
    hungAfterPollIntervals: 8,
    criticalSeverity: 'page',
    warningSeverity: 'ticket',
    newAdminTokenSeverity: 'security',
    runbookURLPattern: 'https://runbooks.example.com/okta/%s.md',
    clusterLabel: 'k8s_cluster',
    showMultiCluster: true,
    dashboardUID: 'okta-tokens-eu',
    dashboardTitle: 'Okta API tokens (EU)',
    dashboardTags: ['identity', 'okta'],
    dashboardRefresh: '5m',
    dashboardTimezone: 'utc',
  },
}
