// The knobs of the okta-token-exporter mixin. Override any of them with
//   (import 'mixin.libsonnet') + { _config+:: { warningThresholdSeconds: 14 * 24 * 3600 } }
// The defaults render alerts/okta-api-tokens.rules.yml and dashboards/okta-api-tokens.json as
// shipped; mixin/README.md shows examples.
{
  _config+:: {
    // Selectors are inserted between {} in PromQL, as matchers separated by commas.

    // The exporter's series: every okta_* metric and `up` of its targets. Scraped under another
    // job name (a PodMonitor, a hand-written scrape config), change it here, or select by
    // another label, e.g. 'namespace="okta", service="okta-token-exporter"'; it must not be
    // empty. Its equality matchers (name="value") also become the labels of OktaExporterAbsent,
    // which has no series to take them from.
    exporterSelector: 'job="okta-token-exporter"',

    // Tokens to leave out of every alert, as matchers on the token labels (org, token_id,
    // token_name, user_id) that a token must match to be alerted on. The default matches every
    // token. For an abandoned token everyone agreed to let lapse: 'token_id!="00T1a2b3c4d5e6f7g8"',
    // or a whole family: 'token_name!~"sandbox-.*"'. The recording rules and the dashboard still
    // show such tokens.
    tokenSelector: 'token_id!=""',

    // A token warns this long before it expires. Okta's admin console turns a token Red 7 days
    // before its expiry, hence the default. Tokens whose window (tokenWindow) is this long or
    // shorter are always this close to expiry: for them both thresholds scale with the window
    // instead (warning at half the window left, page at a quarter), as of the org's last poll.
    // It is also how long the per-token series are carried over an outage: any token alerting
    // when the outage began has expired by then.
    warningThresholdSeconds: 7 * 24 * 3600,
    // A token pages this long before it expires (and a short window's quarter never pages
    // earlier than this). 24 hours leaves a working day in every time zone.
    criticalThresholdSeconds: 24 * 3600,

    // Staleness, in multiples of the org's poll interval (okta_poll_interval_seconds):
    // OktaExporterOrgDataStale pages when no replica has polled an org successfully for more
    // than `staleAfterPollIntervals` intervals and a replica failed two polls in a row, or for
    // more than `hungAfterPollIntervals` intervals whatever the failures (a hung poller).
    // OktaExporterOrgNeverPolled waits `hungAfterPollIntervals` intervals for a first poll
    // that never ends. The dashboard draws the first as its threshold line.
    staleAfterPollIntervals: 3,
    hungAfterPollIntervals: 4,

    // The `severity` label of the alerts that page and of those that open a ticket.
    criticalSeverity: 'critical',
    warningSeverity: 'warning',
    // The `severity` label of OktaApiTokenCreatedForAdmin: a token was just made whose owner is
    // a Super Admin or an Org Admin. A security team that wants it paged (or routed to its own
    // receiver) sets it apart from the other warnings; by default it is one of them.
    newAdminTokenSeverity: self.warningSeverity,

    // Every alert's runbook_url: %s is the alert's name in lower case, the anchor of its
    // section in docs/runbooks.md. The default is that file's path in this repository, right
    // but not clickable in a notification: point it at your copy, e.g.
    // 'https://git.example.com/ops/okta-token-exporter/blob/main/docs/runbooks.md#%s'. An
    // absolute URL (with ://) also becomes the dashboard's link to the runbooks.
    runbookURLPattern: 'docs/runbooks.md#%s',

    // The label that tells deployments apart (several clusters, or several exporter
    // deployments, feeding one Prometheus or Thanos): the rules keep it in every aggregation,
    // so two deployments watching orgs of the same name are never merged. A series without
    // the label is one deployment, as before.
    clusterLabel: 'cluster',
    // Whether the dashboard shows the cluster: a variable to pick it, and the label in the
    // legends and tables. Off, the variable is hidden and selects everything.
    showMultiCluster: false,

    // The dashboard. Keep the uid stable: links to the dashboard use it.
    dashboardUID: 'okta-api-tokens',
    dashboardTitle: 'Okta API tokens',
    dashboardTags: ['okta', 'okta-token-exporter'],
    // How often the dashboard reloads ('' for never).
    dashboardRefresh: '1m',
    // 'browser', 'utc' or an IANA zone such as 'Europe/Berlin'.
    dashboardTimezone: 'browser',
  },
}
