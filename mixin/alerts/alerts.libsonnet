// The alerts, with the recording rules they read.
//
// Recording rules and the alerts that read them share a group, records first: rules of one
// group run in order with the same timestamp, so an alert sees this evaluation's records, not
// the previous one's (groups run independently). So the records an alert reads are here, in
// prometheusAlerts; prometheusRules holds the records meant for dashboards and queries only.
//
// Naming
//   Alerts about the tokens themselves are called OktaApiToken*, alerts about the exporter's
//   ability to watch them are called OktaExporter*. Recording rules follow Prometheus'
//   `level:metric:operation` convention; the level names the labels that are kept (the
//   cluster label, _config.clusterLabel, is kept by every rule and not named).
//
// Severity
//   _config.criticalSeverity -> pages: a token is about to break an integration (or just did),
//               or nothing watches an org's tokens any more.
//   _config.warningSeverity  -> ticket/chat: days of notice, or the monitoring is degraded but
//               still working.
//
// High availability
//   Run two exporter replicas and Prometheus scrapes every token twice, once per `instance`
//   (and `pod`, `job`, ... depending on your relabelling). Every alert therefore works on an
//   aggregate that keeps only the labels naming the thing alerted on (cluster, org, token,
//   endpoint), so two replicas yield ONE alert. The only exception is OktaExporterTargetDown,
//   which is about one replica and keeps `instance` on purpose.
//
//   No alert reads a counter across replicas: each replica counts only what it saw since its
//   own start, so a replaced replica would look like a counter reset. Removals are read per
//   token from okta_api_token_removed_timestamp_seconds (the time a replica saw the token gone,
//   the same on every replica to within a poll interval, kept with --storage.path), and the
//   earliest of the replicas counts. A replica started after a removal with empty storage never
//   exports it; the others (or the last hour of the replaced one's series) still do.
//
// Restarts, scrape gaps and Okta outages
//   A failed scrape makes EVERY series of the target stale at once, so an alert that reads a
//   series only at the evaluation instant resolves at one missed scrape and fires again after
//   its `for`: a flapping page. So:
//   - The per-token recording rules carry each token's last known values forward (they read
//     their own previous result) for as long as no replica has an authoritative token list for
//     the org, that is until a replica exports a successful poll
//     (okta_last_successful_poll_timestamp_seconds > 0), for up to the warning threshold (7
//     days) after the org was last scraped: any token alerting when the outage began has
//     lapsed by then. Once a replica polls the org successfully again, its token list wins: a
//     token it no longer lists stops alerting at once (used, revoked, or lapsed, in which case
//     OktaApiTokenLapsed fires at the same evaluation). This is what `keep_firing_for` would
//     do, without keeping a page open for a token somebody just used. The expiry, owner and
//     suspicious-use alerts read these carried series.
//   - Per-org and per-endpoint gauges are read with last_over_time(...[10m]) (the last value
//     scraped in the last 10 minutes): a gap of up to 10 minutes changes nothing, and a fresh
//     value wins at once. Removals are read over the hour their alerts last, and 429 times over
//     the 15 minutes theirs does.
//   Limits: Prometheus itself down for more than an hour breaks the carried series (they read
//   their own last hour), and a removal whose whole hour passes while Prometheus is down or
//   cannot scrape any replica never pages.
//
// Time to expiry
//   Tokens with a window over the warning threshold (Okta's default window is 30 days):
//   `expiry timestamp - time()`, exact at evaluation time whatever the scrape interval, so an
//   Okta outage still counts down; two replicas agree on it, and `max` over them is the
//   freshest expiry either has seen (using a token only ever moves expiry forward).
//   Tokens with a window of the warning threshold or less (down to PT5M): the time to expiry AS
//   OF THE ORG'S LAST SUCCESSFUL POLL, the freshest expiry any replica has seen minus the newest
//   successful poll of any replica. Between polls a short window's stored expiry runs out
//   although the token is in fact being renewed; judged at the poll, a token used within half a
//   window before each poll never alerts, however short the window and whatever the poll
//   interval. An idle one pages at the first poll that finds less than a quarter of its window
//   left, or, if no poll falls into that last quarter, lapses before the next poll, which pages
//   OktaApiTokenLapsed. During an Okta outage this value does not count down (the data is as
//   old as the last poll); OktaExporterOrgDataStale pages instead.
local util = import '../lib/util.libsonnet';

{
  local cfg = self._config,
  local cluster = cfg.clusterLabel,
  // Substitutions for the rule texts: %(org)s and so on.
  local v = {
    // The exporter's series.
    e: cfg.exporterSelector,
    // The tokens that may alert.
    t: cfg.tokenSelector,
    org: util.labels([cluster, 'org']),
    token: util.labels([cluster, 'org', 'token_id', 'token_name', 'user_id']),
    reason: util.labels([cluster, 'org', 'token_id', 'token_name', 'user_id', 'reason']),
    status: util.labels([cluster, 'org', 'token_id', 'token_name', 'user_id', 'status']),
    owner: util.labels([cluster, 'org', 'token_id', 'token_name', 'user_id', 'owner_login', 'owner_status']),
    endpoint: util.labels([cluster, 'org', 'endpoint']),
    eventType: util.labels([cluster, 'org', 'event_type']),
    tokenId: util.labels([cluster, 'org', 'token_id']),
    created: util.labels([cluster, 'org', 'token_id', 'token_name', 'user_id', 'creator', 'owner_login', 'owner_role', 'network_connection']),
    warn: util.secondsExpr(cfg.warningThresholdSeconds),
    crit: util.secondsExpr(cfg.criticalThresholdSeconds),
    stale: cfg.staleAfterPollIntervals,
    hung: cfg.hungAfterPollIntervals,
    // Template queries of the descriptions: the alert's own cluster and org.
    q: '%s, %s=%%q, org=%%q' % [cfg.exporterSelector, cluster],
    ql: '$labels.%s $labels.org' % cluster,
  },

  local runbook(alert) = std.format(cfg.runbookURLPattern, std.asciiLower(alert)),
  local alert(name, severity, rule) = {
    alert: name,
    labels: { severity: severity },
  } + rule + {
    annotations+: { runbook_url: runbook(name) },
  },
  local warning(name, rule) = alert(name, cfg.warningSeverity, rule),
  local critical(name, rule) = alert(name, cfg.criticalSeverity, rule),

  // A removed token's owner login, when the exporter knew it, for a description.
  local ownerLogin = |||
    {{- with printf `topk(1, last_over_time(okta_api_token_removed_timestamp_seconds{%(q)s, token_id=%%q, owner_login!=""}[1h]))` %(ql)s $labels.token_id | query }} ({{ . | first | label "owner_login" }}){{ end }}
  ||| % v,
  // The poll errors of the alert's org in the last hour, for a description.
  local pollErrors = |||
    {{- with printf `max by (reason) (increase(okta_poll_errors_total{%(q)s}[1h])) > 0` %(ql)s | query | sortByLabel "reason" }}
    Errors in the last hour:{{ range . }} {{ .Labels.reason }}{{ end }}.
    {{- end }}
  ||| % v,

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'okta-api-tokens',
        rules: [
          // The newest successful poll of the org by any replica; 0 while no replica has polled
          // it successfully since it started (and has no stored state to serve).
          {
            record: 'org:okta_last_successful_poll_timestamp_seconds:max',
            expr: |||
              max by (%(org)s) (okta_last_successful_poll_timestamp_seconds{%(e)s})
            ||| % v,
          },
          // When Prometheus last scraped any replica's view of the org, kept for the warning
          // threshold (7 days) after that: the horizon of every carried series below. It carries
          // itself (it reads its own last hour), so the horizon is read once, here, as one sample
          // per evaluation, instead of last_over_time(okta_up[7d]) reading every sample of 7 days
          // of every replica in each rule that needs the horizon.
          {
            record: 'org:okta_up_last_scrape_timestamp_seconds:max',
            expr: |||
              max by (%(org)s) (timestamp(okta_up{%(e)s}))
              or
              last_over_time(org:okta_up_last_scrape_timestamp_seconds:max[1h]) > time() - %(warn)s
            ||| % v,
          },
          // One series per token, whatever the number of replicas, carried over restarts, scrape
          // gaps and Okta outages (see "Restarts, scrape gaps and Okta outages" above). Token
          // name and owner are labels of every per-token metric, so no join with
          // okta_api_token_info is needed to name them.
          {
            record: 'org_token:okta_api_token_expiry_timestamp_seconds:max',
            expr: |||
              max by (%(token)s) (okta_api_token_expiry_timestamp_seconds{%(e)s})
              or
              (
                last_over_time(org_token:okta_api_token_expiry_timestamp_seconds:max[1h])
                unless on (%(org)s) (org:okta_last_successful_poll_timestamp_seconds:max > 0)
                and on (%(org)s) org:okta_up_last_scrape_timestamp_seconds:max
              )
            ||| % v,
          },
          // Each token's tokenWindow, carried the same way. A token Okta lists without an expiry
          // (an Okta-managed agent token) has neither series, and no expiry alert.
          {
            record: 'org_token:okta_api_token_window_seconds:max',
            expr: |||
              max by (%(token)s) (okta_api_token_window_seconds{%(e)s})
              or
              (
                last_over_time(org_token:okta_api_token_window_seconds:max[1h])
                unless on (%(org)s) (org:okta_last_successful_poll_timestamp_seconds:max > 0)
                and on (%(org)s) org:okta_up_last_scrape_timestamp_seconds:max
              )
            ||| % v,
          },
          // Seconds until the token lapses, at evaluation time; negative once past.
          {
            record: 'org_token:okta_api_token_time_to_expiry_seconds:max',
            expr: |||
              org_token:okta_api_token_expiry_timestamp_seconds:max - time()
            |||,
          },
          // Tokens with a window of the warning threshold or less only: seconds from the org's
          // last successful poll to the token's expiry, the time to expiry as that poll saw it
          // (see "Time to expiry" above). The freshest expiry of any replica minus the newest
          // successful poll of any replica, not each replica's own: a replica whose polls fail
          // keeps an old view, which would either hide an idle token (max) or page for one used
          // since (min). Carried like the expiry.
          {
            record: 'org_token:okta_api_token_time_to_expiry_at_last_poll_seconds:max',
            expr: |||
              (
                max by (%(token)s) (okta_api_token_expiry_timestamp_seconds{%(e)s})
                - on (%(org)s) group_left
                org:okta_last_successful_poll_timestamp_seconds:max
                and on (%(token)s)
                org_token:okta_api_token_window_seconds:max <= %(warn)s
              )
              or
              (
                last_over_time(org_token:okta_api_token_time_to_expiry_at_last_poll_seconds:max[1h])
                unless on (%(org)s) (org:okta_last_successful_poll_timestamp_seconds:max > 0)
                and on (%(org)s) org:okta_up_last_scrape_timestamp_seconds:max
              )
            ||| % v,
          },
          // Each token's last use as last known: expiry minus window (Okta has no last-used
          // field). Carried with the two series it is made of.
          {
            record: 'org_token:okta_api_token_last_used_timestamp_seconds:max',
            expr: |||
              org_token:okta_api_token_expiry_timestamp_seconds:max
              - on (%(token)s)
              org_token:okta_api_token_window_seconds:max
            ||| % v,
          },
          // Each token that left an org's list, per reason (expired, revoked,
          // owner_deactivated): the earliest time any replica saw it gone. min_over_time over the
          // hour the removal alerts last keeps it through scrape gaps, a replica replaced by one
          // with empty storage, and a restarted Prometheus. A replica may re-label a `revoked`
          // removal `owner_deactivated` a poll later (the System Log published the deactivation
          // late); the removal time stays.
          {
            record: 'org_token_reason:okta_api_token_removed_timestamp_seconds:min',
            expr: |||
              min by (%(reason)s) (
                min_over_time(okta_api_token_removed_timestamp_seconds{%(e)s}[1h])
              )
            ||| % v,
          },
          // Removed tokens that were in use when they went (1): Green at the last poll that
          // listed them on any replica, or used within the 3 days before they went by their last
          // known use (read back over 2 hours). The second half matters for windows under 10
          // days: a token in constant use is then both Green and Red, and the console shows Red.
          {
            record: 'org_token:okta_api_token_removed_in_use:max',
            expr: |||
              max by (%(token)s) (
                last_over_time(okta_api_token_removed_timestamp_seconds{%(e)s, last_status="green"}[1h])
              ) * 0 + 1
              or on (%(token)s)
              (
                (
                  min by (%(token)s) (org_token_reason:okta_api_token_removed_timestamp_seconds:min)
                  - on (%(token)s)
                  last_over_time(org_token:okta_api_token_last_used_timestamp_seconds:max[2h])
                ) <= 3 * 24 * 3600
              ) * 0 + 1
            ||| % v,
          },

          // Okta's admin console turns a token Red seven days before it expires. Warn at the
          // warning threshold, by default that same moment: a week is enough to find the
          // integration behind it and use or rotate the token during working hours. No `for`:
          // expiry is a countdown, not a noisy signal, and a `for` would only delay the alert.
          // `> 0` hands an expired token over to the page.
          //
          // Short windows: a token whose tokenWindow is the warning threshold or less (Okta
          // allows PT5M) is always within the threshold of expiry, so a fixed threshold would
          // keep it firing for ever. For such a token the thresholds scale with its window, and
          // are judged as of the last poll (see "Time to expiry" above): warn when the last poll
          // found half of the window or less left. A token used within half a window before each
          // poll never alerts; one left idle alerts until the next poll, which sees it used
          // (resolved) or gone (OktaApiTokenLapsed, which resolves an hour later): nothing fires
          // for ever, and nothing resolves before the poll that knows. The value is the time to
          // expiry now, as for every token.
          warning('OktaApiTokenExpiresWithin7Days', {
            expr: |||
              (
                org_token:okta_api_token_time_to_expiry_seconds:max{%(t)s} > 0
                and
                org_token:okta_api_token_time_to_expiry_seconds:max <= %(warn)s
                and on (%(token)s)
                org_token:okta_api_token_window_seconds:max > %(warn)s
              )
              or
              (
                org_token:okta_api_token_time_to_expiry_seconds:max{%(t)s}
                and on (%(token)s)
                (
                  org_token:okta_api_token_time_to_expiry_at_last_poll_seconds:max
                    <= on (%(token)s)
                  org_token:okta_api_token_window_seconds:max / 2
                )
              )
            ||| % v,
            annotations: {
              summary: 'Okta API token expires within %s%s' % [
                util.humanize(cfg.warningThresholdSeconds),
                if cfg.warningThresholdSeconds == 7 * 24 * 3600 then ' (Red in the admin console)' else '',
              ],
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }}, owned by user {{ $labels.user_id }},
                {{ if gt $value 0.0 }}expires in {{ $value | humanizeDuration }} unless it is used{{ else }}has reached its last known expiry time: it lapses unless it was used since the last poll{{ end }}.
                Use it once to slide its expiry, or rotate it.
              |||),
            },
          }),

          // The page: if the warning above was missed. 24 hours (the default) leaves a whole
          // working day (in every time zone) to use or rotate the token; a short window pages at
          // a quarter of it (as of the last poll), never earlier than the threshold.
          // Alertmanager inhibits the warning for the same token while this one fires. No lower
          // bound: the page stays firing through the expiry for as long as the token is known
          // (still listed, or carried over an outage), and stops at the evaluation at which a
          // successful poll drops the token, which is the evaluation at which OktaApiTokenLapsed
          // starts firing: no gap, no early RESOLVED.
          critical('OktaApiTokenExpiresWithin24Hours', {
            expr: |||
              org_token:okta_api_token_time_to_expiry_seconds:max{%(t)s}
              and on (%(token)s)
              (
                (
                  org_token:okta_api_token_time_to_expiry_seconds:max <= %(crit)s
                  and on (%(token)s)
                  org_token:okta_api_token_window_seconds:max > %(warn)s
                )
                or
                org_token:okta_api_token_time_to_expiry_at_last_poll_seconds:max
                  <= on (%(token)s)
                clamp_max(org_token:okta_api_token_window_seconds:max / 4, %(crit)s)
              )
            ||| % v,
            annotations: {
              summary: 'Okta API token expires within %s' % util.humanize(cfg.criticalThresholdSeconds),
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }}, owned by user {{ $labels.user_id }},
                {{ if gt $value 0.0 }}expires in {{ $value | humanizeDuration }}{{ else }}has reached its expiry time{{ end }}.
                Once expired it is revoked for good and every integration using it fails with
                HTTP 401. Use it now to slide its expiry, or rotate it.
              |||),
            },
          }),

          // A token went unused for its whole window and Okta deleted it. Per token, named:
          // fires for the hour after the first replica saw it gone (the poll after its expiry,
          // or the first poll after a restart with --storage.path when it lapsed while the
          // exporter was down), then resolves; resolution does not mean the token is back.
          // Replica churn and counter resets cannot fake it: it reads removal times, not
          // counters. Another replica's other reason wins over `expired`: a replica that knows a
          // later expiry, or the deactivation of the owner, knows better
          // (OktaApiTokenDeletedWithOwner covers the latter).
          // Limits: a replica started after the removal with empty storage never sees it, and a
          // removal whose whole hour passes unscraped never pages.
          critical('OktaApiTokenLapsed', {
            expr: |||
              time() - org_token_reason:okta_api_token_removed_timestamp_seconds:min{%(t)s, reason="expired"} < 3600
              unless on (%(token)s)
              org_token_reason:okta_api_token_removed_timestamp_seconds:min{reason!="expired"}
            ||| % v,
            annotations: {
              summary: 'Okta API token lapsed',
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }}, owned by user {{ $labels.user_id }}
                %(ownerLogin)s,
                went unused for its whole window and Okta revoked it for good
                {{- with printf `time() - max(last_over_time(org_token:okta_api_token_expiry_timestamp_seconds:max{%(cluster)s=%%q, org=%%q, token_id=%%q}[2h]))` %(ql)s $labels.token_id | query }}: it expired {{ . | first | value | humanizeDuration }} ago{{ end }}.
                The exporter found it gone {{ $value | humanizeDuration }} ago; integrations still
                using it fail with HTTP 401. Create a new token and update the integration.
              ||| % (v { ownerLogin: util.fold(ownerLogin), cluster: cluster })),
            },
          }),

          // Okta deletes every token of a user when the user is deactivated, at once: the token
          // vanishes, usually before the exporter sees the owner's new status, so
          // OktaApiTokenOwnerNotActive cannot fire for it. The exporter tells the reason from the
          // System Log (user.lifecycle.deactivate) or the owner's DEPROVISIONED status. Page when
          // the token was in use (an integration just broke), open a ticket otherwise; both fire
          // for the hour after the first replica saw the token gone, like OktaApiTokenLapsed,
          // with the same limits. The description names the owner's login when the exporter
          // knew it.
          critical('OktaApiTokenDeletedWithOwner', {
            expr: |||
              time() - org_token_reason:okta_api_token_removed_timestamp_seconds:min{%(t)s, reason="owner_deactivated"} < 3600
              and on (%(token)s)
              org_token:okta_api_token_removed_in_use:max
            ||| % v,
            annotations: {
              summary: 'An Okta API token in use was deleted with its deactivated owner',
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }} was deleted by Okta when its owner, user {{ $labels.user_id }}
                %(ownerLogin)s,
                was deactivated; the exporter saw it gone {{ $value | humanizeDuration }} ago. It
                was in use: the integration using it now fails with HTTP 401. Create a token under
                an active service account and update the integration, or reactivate the owner
                and create a new token as that user.
              ||| % { ownerLogin: util.fold(ownerLogin) }),
            },
          }),
          warning('OktaApiTokenDeletedWithOwner', {
            expr: |||
              time() - org_token_reason:okta_api_token_removed_timestamp_seconds:min{%(t)s, reason="owner_deactivated"} < 3600
              unless on (%(token)s)
              org_token:okta_api_token_removed_in_use:max
            ||| % v,
            annotations: {
              summary: 'An idle Okta API token was deleted with its deactivated owner',
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }} was deleted by Okta when its owner, user {{ $labels.user_id }}
                %(ownerLogin)s,
                was deactivated; the exporter saw it gone {{ $value | humanizeDuration }} ago. It
                had not been used for 3 days or more, so nothing may break; if something still
                needs it, create a token under an active service account.
              ||| % { ownerLogin: util.fold(ownerLogin) }),
            },
          }),

          // Keep-alive (opt-in, `keepalive:` in the exporter's config): once an idle token is
          // within `when_expires_within` of expiry, the exporter calls Okta with the token's own
          // secret. The call failed when Okta refused it (result `rejected`: HTTP 401, or 403
          // from outside the token's network zones) or accepted it but the token's expiry did
          // not move (`not_refreshed`: the file holds another token). Either way the token will
          // turn Red and lapse like any idle token, so warn now; the expiry warning and page
          // still fire later if nothing is done. Errors (timeouts, 5xx, 429), retried at the
          // next poll, and skips (an inactive owner: OktaApiTokenOwnerNotActive) do not fire it.
          //
          // 26 hours: after a failure the exporter waits 24 hours before it tries that token
          // again, and tries at the next poll after that (poll intervals vary by ±10%); a
          // `not_refreshed` may be counted one poll after its call. So failures of a token that
          // stays broken come 24 hours plus up to about two poll intervals apart, and 26 hours
          // keeps ONE alert open across them, with time to spare for poll intervals up to about
          // 50 minutes. It resolves 26 hours after the last failure, which is about two hours
          // after a retry that succeeds.
          //
          // Restarts: the counters start at 0 in every exporter process and are not stored.
          // increase() ignores the reset, so a restart alone does not fire. But a restarted
          // exporter may try a failing token again at its first poll, and a `rejected` then is
          // often counted before the first scrape: the series starts at 1 and increase() sees
          // no step. The second term catches that: any failure counted by a process started less
          // than 26 hours ago happened within the window. The time to expiry on the left names
          // the token and carries it over restarts and scrape gaps like the other token alerts;
          // a token Okta no longer lists (revoked, or lapsed: OktaApiTokenLapsed) stops the
          // alert.
          warning('OktaApiTokenKeepAliveFailing', {
            expr: |||
              org_token:okta_api_token_time_to_expiry_seconds:max{%(t)s}
              and on (%(tokenId)s)
              (
                increase(okta_api_token_keepalive_total{%(e)s, result=~"rejected|not_refreshed"}[26h]) > 0
                or
                (
                  okta_api_token_keepalive_total{%(e)s, result=~"rejected|not_refreshed"} > 0
                  and ignoring (org, token_id, result)
                  (time() - process_start_time_seconds{%(e)s} < 26 * 3600)
                )
              )
            ||| % v,
            annotations: {
              summary: 'Keeping an idle Okta API token alive failed',
              description: util.fold(|||
                The exporter's keep-alive of API token "{{ $labels.token_name }}"
                ({{ $labels.token_id }}) of org {{ $labels.org }}, owned by user
                {{ $labels.user_id }}, failed in the last 26 hours.
                {{- range printf `max by (result) (increase(okta_api_token_keepalive_total{%(q)s, token_id=%%q, result=~"rejected|not_refreshed"}[26h]) > 0 or (okta_api_token_keepalive_total{%(q)s, token_id=%%q, result=~"rejected|not_refreshed"} > 0 and ignoring (org, token_id, result) (time() - process_start_time_seconds{%(e)s} < 26 * 3600)))` %(ql)s $labels.token_id %(ql)s $labels.token_id | query | sortByLabel "result" }}
                {{- if eq .Labels.result "rejected" }} Okta refused the call with the secret in its
                keep-alive file (HTTP 401 or 403).{{ else }} Okta accepted the call but the token's expiry did not move: the
                keep-alive file holds another token's secret.{{ end }}
                {{- end }} The token {{ if gt $value 0.0 }}expires in {{ $value | humanizeDuration }}{{ else }}has reached its expiry time{{ end }}
                unless it is used; the exporter tries again once a day. Put the token's own secret
                into the file, or use the token once by hand.
              ||| % v),
            },
          }),
        ],
      },
      {
        name: 'okta-token-exporter',
        rules: [
          // The exporter's poll interval per org (--okta.poll-interval or poll_interval), the
          // longest any replica exported in the last 10 minutes. The staleness thresholds below
          // are multiples of it, so they are right for any interval. An exporter too old to
          // export it is taken to poll every 5 minutes (its default) rather than silencing the
          // alerts.
          {
            record: 'org:okta_poll_interval_seconds:max',
            expr: |||
              max by (%(org)s) (last_over_time(okta_poll_interval_seconds{%(e)s}[10m]))
              or
              max by (%(org)s) (last_over_time(okta_up{%(e)s}[10m])) * 0 + 300
            ||| % v,
          },
          // Age of the freshest successful poll of the org by any replica, as last scraped in
          // the last 10 minutes (a missed scrape changes nothing). Absent while no replica has
          // polled the org successfully since it started: OktaExporterOrgNeverPolled covers that.
          {
            record: 'org:okta_last_successful_poll_age_seconds:min',
            expr: |||
              time() - (max by (%(org)s) (last_over_time(okta_last_successful_poll_timestamp_seconds{%(e)s}[10m])) > 0)
            ||| % v,
          },
          // The most polls of the org that failed in a row on any replica (since its last
          // successful poll, or its start), as last scraped in the last 10 minutes.
          {
            record: 'org:okta_poll_consecutive_failures:max',
            expr: |||
              max by (%(org)s) (last_over_time(okta_poll_consecutive_failures{%(e)s}[10m]))
            ||| % v,
          },

          // Degraded: at least two polls of the org in a row failed on a replica. The exporter
          // counts them (okta_poll_consecutive_failures), so one failed poll never fires it,
          // however long its retries took or however the next poll's jitter fell, and a second
          // failed poll always does, whatever the interval. The org is still watched if another
          // replica succeeds, hence a warning; when no replica succeeds,
          // OktaExporterOrgDataStale or OktaExporterOrgNeverPolled pages and Alertmanager
          // inhibits this one. Read over the last 10 minutes, so a missed scrape does not
          // resolve it; a successful poll (0) does at once.
          warning('OktaExporterOrgPollFailing', {
            expr: |||
              org:okta_poll_consecutive_failures:max >= 2
            |||,
            annotations: {
              summary: 'okta-token-exporter cannot poll an Okta org',
              description: util.fold(|||
                The last {{ $value }} polls of Okta org {{ $labels.org }} failed in a row on at
                least one exporter replica.
              |||) + ' ' + util.fold(pollErrors),
            },
          }),

          // Blind: no replica has polled the org successfully for more than
          // staleAfterPollIntervals (3) poll intervals, so the token alerts above work on stale
          // data and a token could lapse unnoticed. One failed poll never pages: the polls of a
          // replica that failed at least twice in a row must say so (a single failed poll with
          // long retries and the next poll's jitter can leave a success more than three
          // intervals old). After hungAfterPollIntervals (4) intervals it pages whatever the
          // failure count: a hung poller never finishes a poll, so it counts no failure and
          // never sets okta_up to 0; so does an exporter restarted with --storage.path that
          // serves its stored state while its first polls wait. No `for`: the thresholds already
          // rule out a blip.
          critical('OktaExporterOrgDataStale', {
            expr: |||
              org:okta_last_successful_poll_age_seconds:min > on (%(org)s) %(stale)s * org:okta_poll_interval_seconds:max
              and on (%(org)s)
              (
                org:okta_poll_consecutive_failures:max >= 2
                or
                org:okta_last_successful_poll_age_seconds:min > on (%(org)s) %(hung)s * org:okta_poll_interval_seconds:max
              )
            ||| % v,
            annotations: {
              summary: 'No fresh Okta API token data for an org',
              description: util.fold(|||
                No exporter replica has polled Okta org {{ $labels.org }} successfully for
                {{ $value | humanizeDuration }}; token expiry alerts for this org are based on
                stale data.
              |||),
            },
          }),

          // Never accepted: every replica exports a last-success time of 0, so none has polled
          // the org successfully since it started (and none had stored state to serve). Usually
          // a wrong org URL or credential from the start: the exporter serves no token for the
          // org, so no token alert can fire. It waits for two failed polls in a row on a replica
          // (one failed first poll, retried, is not enough), or, for a first poll that never
          // ends, for hungAfterPollIntervals (4) poll intervals after the replicas started.
          critical('OktaExporterOrgNeverPolled', {
            expr: |||
              max by (%(org)s) (last_over_time(okta_last_successful_poll_timestamp_seconds{%(e)s}[10m])) == 0
              and on (%(org)s)
              (
                org:okta_poll_consecutive_failures:max >= 2
                or
                min by (%(org)s) (
                  time()
                  - (
                      0 * last_over_time(okta_last_successful_poll_timestamp_seconds{%(e)s}[10m])
                      + ignoring (org) group_left
                      last_over_time(process_start_time_seconds{%(e)s}[10m])
                    )
                ) > on (%(org)s) %(hung)s * org:okta_poll_interval_seconds:max
              )
            ||| % v,
            annotations: {
              summary: 'An Okta org has never been polled successfully',
              description: util.fold(|||
                No exporter replica has polled Okta org {{ $labels.org }} successfully since it
                started; no token of this org is watched.
              |||) + ' ' + util.fold(pollErrors),
            },
          }),

          // Okta answers 429 once an endpoint's per-minute budget is used up, for every client
          // of the org (or of the token) alike. Below 10% a burst from any integration can
          // exhaust it. The exporter learns the remaining budget only when it calls the
          // endpoint, and the figure is Okta's for the window that was open then (about a
          // minute): it says nothing once the window has reset. So each replica's share counts
          // only while THAT replica's window is still open (its own
          // okta_rate_limit_reset_timestamp_seconds in the future), before the replicas are
          // aggregated: one replica's open window cannot keep another's stale low reading alive.
          // keep_firing_for keeps one notification open across the polls in between instead of
          // a flapping one (and across scrape gaps). It needs Prometheus 2.42 or later.
          warning('OktaExporterRateLimitLow', {
            expr: |||
              min by (%(endpoint)s) (
                okta_rate_limit_remaining{%(e)s} / okta_rate_limit_limit{%(e)s}
                and
                okta_rate_limit_reset_timestamp_seconds{%(e)s} > time()
              ) < 0.10
            ||| % v,
            keep_firing_for: '15m',
            annotations: {
              summary: 'Okta rate limit nearly used up',
              description: util.fold(|||
                Only {{ $value | humanizePercentage }} of the rate limit of {{ $labels.endpoint }}
                in Okta org {{ $labels.org }} was left in the current rate-limit window; calls
                from every integration will soon get HTTP 429.
              |||),
            },
          }),

          // Okta refused the exporter's calls with HTTP 429 (rate limit exceeded). The exporter
          // waits for the reset and retries, but the budget is shared: other integrations got
          // 429s too. Fires while the last 429 of any replica is less than 15 minutes old, from
          // the time the exporter recorded (okta_rate_limit_exceeded_last_timestamp_seconds,
          // kept across restarts with --storage.path), not from a counter: a scrape gap, a
          // restarted exporter or a restarted Prometheus cannot make an old 429 look new. The
          // value is how long ago.
          warning('OktaExporterRateLimited', {
            expr: |||
              time()
              - max by (%(endpoint)s) (
                  max_over_time(okta_rate_limit_exceeded_last_timestamp_seconds{%(e)s}[15m])
                )
              < 15 * 60
            ||| % v,
            annotations: {
              summary: 'Okta answered HTTP 429 (rate limit exceeded)',
              description: util.fold(|||
                Okta refused a call of the exporter to {{ $labels.endpoint }} in org
                {{ $labels.org }} with HTTP 429 {{ $value | humanizeDuration }} ago: the
                endpoint's rate limit was used up, for every integration sharing it.
              |||),
            },
          }),

          // The System Log is the only source of suspicious use (Yellow) and of the
          // deactivations that explain deleted tokens. A replica whose System Log reads failed
          // in the last hour and none succeeded (no 2xx answer from /api/v1/logs: counted in the
          // hour, or counted at all by a process started less than an hour ago) has stopped
          // reading it; 30 minutes of that is not a blip. The exporter reads on from where it
          // stopped once a read succeeds, so nothing is lost if it recovers within the System
          // Log's 90-day retention, but meanwhile no token turns Yellow. A 403 is not counted
          // here: it turns the read off (okta_enrichment_enabled 0).
          warning('OktaExporterSystemLogFailing', {
            expr: |||
              max by (%(org)s) (
                increase(okta_enrichment_errors_total{%(e)s, kind="system_log"}[1h]) > 0
                unless ignoring (kind, endpoint, code)
                (
                  increase(okta_api_requests_total{%(e)s, endpoint="/api/v1/logs", code=~"2.."}[1h]) > 0
                  or
                  (
                    okta_api_requests_total{%(e)s, endpoint="/api/v1/logs", code=~"2.."} > 0
                    and ignoring (org, endpoint, code)
                    (time() - process_start_time_seconds{%(e)s} < 3600)
                  )
                )
              )
            ||| % v,
            'for': '15m',
            annotations: {
              summary: "okta-token-exporter cannot read an org's System Log",
              description: util.fold(|||
                Every System Log read of Okta org {{ $labels.org }} by at least one exporter replica
                failed for the last 15 minutes or more, and none succeeded in the last hour: no token
                turns Yellow on suspicious use, and tokens deleted with a deactivated owner are
                reported as revoked, which does not page.
              |||),
            },
          }),

          // System Log events of the types that must name an API token (a revocation, a call
          // from outside the token's network zones) named none: Okta's event shape may have
          // changed, and the exporter cannot mark the token (no Yellow). Open a ticket for a day
          // after the last such event. The counter starts at 0 for both types in every process,
          // so increase() sees the first one.
          warning('OktaExporterSystemLogEventsUnattributed', {
            expr: |||
              max by (%(eventType)s) (
                increase(okta_system_log_events_unattributed_total{%(e)s}[24h])
              ) > 0
            ||| % v,
            annotations: {
              summary: 'System Log events about API tokens name no token',
              description: util.fold(|||
                {{ printf "%.0f" $value }} System Log event(s) of type {{ $labels.event_type }} in
                Okta org {{ $labels.org }} named no API token in the last 24 hours; the exporter
                cannot tell which token they concern, so it marks none Yellow. Okta may have changed
                the event's shape.
              |||),
            },
          }),

          // One replica cannot be scraped. With two replicas the other keeps watching: a
          // warning. 5 minutes rides over a rolling restart.
          warning('OktaExporterTargetDown', {
            expr: |||
              up{%(e)s} == 0
            ||| % v,
            'for': '5m',
            annotations: {
              summary: 'okta-token-exporter target down',
              description: util.fold(|||
                Prometheus cannot scrape okta-token-exporter at {{ $labels.instance }} (job
                {{ $labels.job }}) for 5 minutes.
              |||),
            },
          }),

          // No replica is up: either none is discovered any more (absent) or all are down.
          // Nothing watches the tokens, so page; the token alerts cannot fire.
          // `absent(up{...} == 1)` covers both cases, where `absent(up{...})` alone would miss
          // "all replicas down". absent() of a comparison carries no labels, hence the labels of
          // the selector's equality matchers (`job`, by default) set explicitly.
          critical('OktaExporterAbsent', {
            local selected = util.equalityLabels(cfg.exporterSelector),
            expr: |||
              absent(up{%(e)s} == 1)
            ||| % v,
            'for': '15m',
            labels+: selected,
            annotations: {
              summary: 'No okta-token-exporter is running',
              description: util.fold(|||
                No okta-token-exporter target (%s) has been up for 15 minutes;
                Okta API tokens are not watched and may lapse without warning.
              |||) % (
                if std.length(selected) > 0
                then std.join(', ', ['%s %s' % [k, selected[k]] for k in std.objectFields(selected)])
                else cfg.exporterSelector
              ),
            },
          }),
        ],
      },
      // Owners and suspicious use: from the exporter's enrichment (owner lookups and the System
      // Log). Both need read access to users and to the System Log; without it the series are
      // absent and these alerts stay silent (okta_enrichment_enabled says so). The carried
      // series below decide whether to carry from the raw metrics, not from the records of the
      // group above: groups are evaluated independently, and a record of another group may
      // still show the previous evaluation.
      {
        name: 'okta-api-token-owners',
        rules: [
          // The tokens whose owner is SUSPENDED or DEPROVISIONED, with the owner's login and
          // status, one series per token (topk(1) when two replicas briefly disagree on the
          // status), carried like the token series of the first group: a missed scrape, a
          // restart or an Okta outage does not resolve OktaApiTokenOwnerNotActive, nor restart
          // its `for`.
          {
            record: 'org_token_owner:okta_api_token_info:not_active',
            expr: |||
              topk by (%(token)s) (1,
                max by (%(owner)s) (
                  okta_api_token_info{%(e)s, owner_status=~"SUSPENDED|DEPROVISIONED"}
                )
              )
              or on (%(token)s)
              (
                last_over_time(org_token_owner:okta_api_token_info:not_active[1h])
                unless on (%(org)s) (max by (%(org)s) (okta_last_successful_poll_timestamp_seconds{%(e)s}) > 0)
                and on (%(org)s) org:okta_up_last_scrape_timestamp_seconds:max
              )
            ||| % v,
          },
          // Yellow tokens (1 while the exporter's System Log lookback shows a call from outside
          // the token's network zones), carried the same way. Only yellow tokens, and only
          // `status="yellow"`: the one status an alert reads.
          {
            record: 'org_token_status:okta_api_token_status:max',
            expr: |||
              max by (%(status)s) (okta_api_token_status{%(e)s, status="yellow"} == 1)
              or
              (
                last_over_time(org_token_status:okta_api_token_status:max[1h])
                unless on (%(org)s) (max by (%(org)s) (okta_last_successful_poll_timestamp_seconds{%(e)s}) > 0)
                and on (%(org)s) org:okta_up_last_scrape_timestamp_seconds:max
              )
            ||| % v,
          },

          // The token's owner is SUSPENDED (Okta rejects the token now) or DEPROVISIONED (Okta
          // revokes it): the integration using it breaks now or at the next deprovisioning
          // step, so page. `for: 5m` rides out a replica that looked the owner up in the middle
          // of an admin's deactivate-and-reactivate. Once Okta deletes the token (a deactivated
          // owner's tokens go at once) a successful poll no longer lists it: this alert stops
          // and OktaApiTokenDeletedWithOwner takes over.
          critical('OktaApiTokenOwnerNotActive', {
            expr: |||
              org_token_owner:okta_api_token_info:not_active{%(t)s}
            ||| % v,
            'for': '5m',
            annotations: {
              summary: 'The owner of an Okta API token is suspended or deactivated',
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }} belongs to {{ $labels.owner_login }} ({{ $labels.user_id }}),
                who is {{ $labels.owner_status }}. Okta rejects a suspended owner's tokens and
                revokes a deactivated owner's, so every integration using this token fails.
                Reactivate the owner, or create a token under an active service account and rotate.
              |||),
            },
          }),

          // Yellow: the System Log shows a call with the token from outside its allowed network
          // zones within the exporter's lookback (24h by default). No `for`: the state lasts the
          // whole lookback, and a human should look the same day. Carried over scrape gaps like
          // the expiry alerts, so a missed scrape does not resolve and re-open the ticket.
          warning('OktaApiTokenSuspicious', {
            expr: |||
              max by (%(token)s) (
                org_token_status:okta_api_token_status:max{%(t)s, status="yellow"}
              ) == 1
            ||| % v,
            annotations: {
              summary: 'An Okta API token was used from outside its allowed network zones',
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }}, owned by user {{ $labels.user_id }}, was used from outside its
                allowed network zones (System Log event system.api_token.request_outside_allowed_range).
                If that call was not expected, revoke the token and rotate it.
              |||),
            },
          }),
        ],
      },
      {
        name: 'okta-api-token-posture',
        rules: [
          // A token was just made whose owner is a Super Admin or an Org Admin: the most
          // dangerous secret an Okta org has (a token acts with its owner's permissions), and
          // the one an intruder holding an admin session would make first. The exporter exports
          // each token made within the last day (System Log event system.api_token.create) once
          // Okta lists it, with the event's actor, the owner's login and highest admin role, and
          // the token's network restriction; the alert names them. It lasts while the exporter
          // exports the token's creation (a day), read over 10 minutes so that a missed scrape
          // does not resolve and re-open it; replicas give one alert (max over them). An owner
          // whose roles cannot be read (UNKNOWN) does not fire it: okta_owner_roles_forbidden
          // and okta_owner_roles_lookups_enabled show that. Severity: _config.newAdminTokenSeverity.
          alert('OktaApiTokenCreatedForAdmin', cfg.newAdminTokenSeverity, {
            expr: |||
              max by (%(created)s) (
                last_over_time(okta_api_token_created_recently{%(e)s, %(t)s, owner_role=~"SUPER_ADMIN|ORG_ADMIN"}[10m])
              )
            ||| % v,
            annotations: {
              summary: 'A new Okta API token belongs to a Super Admin or an Org Admin',
              description: util.fold(|||
                API token "{{ $labels.token_name }}" ({{ $labels.token_id }}) of org
                {{ $labels.org }} was created by {{ $labels.creator }} at
                {{ $value | humanizeTimestamp }}; its owner
                {{ with $labels.owner_login }}{{ . }}{{ else }}{{ $labels.user_id }}{{ end }} is
                {{ $labels.owner_role }}, and it is usable from
                {{ if eq $labels.network_connection "ZONE" }}its network zones only{{ else }}any IP{{ end }}.
                If nobody expected this token, revoke it and find out who made it; if it is
                wanted, restrict it to network zones and consider a narrower role or an OAuth 2.0
                service app.
              |||),
            },
          }),
        ],
      },
    ],
  },
}
