// Recording rules for dashboards, federation, long-term storage and ad-hoc queries: no alert
// reads them. The records the alerts read are in alerts/alerts.libsonnet, in the alerts' own
// groups (see there why).
local util = import '../lib/util.libsonnet';

{
  local cfg = self._config,
  local v = {
    e: cfg.exporterSelector,
    org: util.labels([cfg.clusterLabel, 'org']),
    status: util.labels([cfg.clusterLabel, 'org', 'status']),
    endpoint: util.labels([cfg.clusterLabel, 'org', 'endpoint']),
    token: util.labels([cfg.clusterLabel, 'org', 'token_id', 'token_name', 'user_id']),
  },

  prometheusRules+:: {
    groups+: [
      {
        name: 'okta-token-exporter-records',
        rules: [
          // Tokens per org and console colour, one series per (org, status) whatever the number
          // of replicas.
          {
            record: 'org_status:okta_api_tokens:max',
            expr: |||
              max by (%(status)s) (okta_api_tokens{%(e)s})
            ||| % v,
          },
          // 0 when at least one replica failed its last poll of the org (min), 1 when all
          // succeeded.
          {
            record: 'org:okta_up:min',
            expr: |||
              min by (%(org)s) (okta_up{%(e)s})
            ||| % v,
          },
          // Share of the rate limit left per org and endpoint, the lowest any replica saw
          // (replicas using the same token draw from the same budget), whether or not its
          // rate-limit window is still open. OktaExporterRateLimitLow reads each replica's share
          // only while that replica's window is open. (Exporters before the
          // okta_rate_limit_exceeded_last_timestamp_seconds release exported a limit of 0 after
          // a concurrency 429; it is dropped rather than divided by.)
          {
            record: 'org_endpoint:okta_rate_limit_remaining_ratio:min',
            expr: |||
              min by (%(endpoint)s) (okta_rate_limit_remaining{%(e)s} / (okta_rate_limit_limit{%(e)s} > 0))
            ||| % v,
          },
          // One series per token: 0 as soon as any replica saw the owner suspended or
          // deactivated.
          {
            record: 'org_token:okta_api_token_owner_active:min',
            expr: |||
              min by (%(token)s) (okta_api_token_owner_active{%(e)s})
            ||| % v,
          },
        ],
      },
    ],
  },
}
