// The Grafana dashboard "Okta API tokens": the exporter's raw metrics only, so it works with or
// without the rules. dashboards/README.md describes the panels.
local util = import '../lib/util.libsonnet';

{
  local cfg = self._config,
  local multi = cfg.showMultiCluster,
  local cluster = cfg.clusterLabel,
  local datasource = { type: 'prometheus', uid: '${datasource}' },

  // The labels of a `by (...)`: the cluster first when the dashboard shows it.
  local by(labels) = util.labels((if multi then [cluster] else []) + labels),
  // Every query's selector: the exporter, then the variables, then the query's own matchers.
  local variables = ['%s=~"$cluster"' % cluster, 'job=~"$job"', 'instance=~"$instance"'],
  local sel(extra=[]) = std.join(', ', [cfg.exporterSelector] + variables + ['org=~"$org"'] + extra),
  // A legend with the cluster in front when the dashboard shows it.
  local legend(text) = (if multi then '{{%s}} ' % cluster else '') + text,

  local warn = cfg.warningThresholdSeconds,
  local crit = cfg.criticalThresholdSeconds,
  local red = if warn == 7 * 24 * 3600 then 'Red' else 'within %s' % util.humanize(warn),

  local target(refId, expr, legendFormat, instant=false) = {
    datasource: datasource,
    refId: refId,
    expr: expr,
    legendFormat: legendFormat,
    range: !instant,
    instant: instant,
    editorMode: 'code',
  },
  local tableTarget(refId, expr) = target(refId, expr, '__auto', instant=true) + { format: 'table' },

  local panel(id, type, title, description, gridPos, targets) = {
    id: id,
    type: type,
    title: title,
    description: description,
    datasource: datasource,
    gridPos: gridPos,
    targets: targets,
  },
  local pos(x, y, w, h) = { x: x, y: y, w: w, h: h },

  local timeseries(id, title, description, gridPos, targets, unit) =
    panel(id, 'timeseries', title, description, gridPos, targets) + {
      fieldConfig: {
        defaults: {
          unit: unit,
          color: { mode: 'palette-classic' },
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 0,
            showPoints: 'never',
            spanNulls: false,
            axisPlacement: 'auto',
            thresholdsStyle: { mode: 'off' },
          },
          thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] },
        },
        overrides: [],
      },
      options: {
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },
  local bars = {
    fieldConfig+: { defaults+: { custom+: { drawStyle: 'bars', fillOpacity: 80 } } },
  },

  local table(id, title, description, gridPos, targets) =
    panel(id, 'table', title, description, gridPos, targets) + {
      fieldConfig: {
        defaults: {
          custom: { align: 'auto', cellOptions: { type: 'auto' }, filterable: true },
        },
        overrides: [],
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], countRows: false, fields: '' },
      },
    },
  // Table columns: the cluster first when shown, then `columns` in order.
  local organize(columns, exclude) = {
    id: 'organize',
    options: {
      local all = (if multi then [[cluster, 'Cluster']] else []) + columns,
      excludeByName: { Time: true } + { [name]: true for name in exclude },
      indexByName: { [all[i][0]]: i for i in std.range(0, std.length(all) - 1) },
      renameByName: { [c[0]]: c[1] for c in all },
    },
  },
  local override(name, properties) = { matcher: { id: 'byName', options: name }, properties: properties },
  local colorText = { id: 'custom.cellOptions', value: { type: 'color-text' } },
  // Time to expiry, coloured by the alert thresholds.
  local timeToExpiry = override('Time to expiry', [
    { id: 'unit', value: 's' },
    { id: 'decimals', value: 1 },
    {
      id: 'thresholds',
      value: {
        mode: 'absolute',
        steps: [
          { color: 'dark-red', value: null },
          { color: 'red', value: crit },
          { color: 'text', value: warn },
        ],
      },
    },
    colorText,
  ]),
  local count(name, colour) = override(name, [
    { id: 'decimals', value: 0 },
    {
      id: 'thresholds',
      value: { mode: 'absolute', steps: [{ color: 'text', value: null }, { color: colour, value: 0.5 }] },
    },
    colorText,
  ]),

  local okta = {
    green: { text: 'Green', color: 'green' },
    gray: { text: 'Gray', color: '#8e8e8e' },
    red: { text: 'Red', color: 'red' },
    yellow: { text: 'Yellow', color: 'yellow' },
  },
  local statuses = ['green', 'gray', 'red', 'yellow'],

  local counted = 'Tokens in the selected orgs, counted once however many exporter replicas report them. "No data" means no exporter data at all (exporter down, wrong data source or org), not zero tokens.',
  // Tokens of one admin-console colour. Green is good news at any count; Gray, Red and Yellow
  // are green at 0 ("all good") and take their colour from 1 up.
  local stat(id, status, meaning, x) =
    panel(id, 'stat', okta[status].text, '%s: %s. %s' % [okta[status].text, meaning, counted], pos(x, 1, 6, 4), [
      target('A', 'sum(max by (%s) (okta_api_tokens{%s}))' % [by(['org']), sel(['status="%s"' % status])], status, instant=true),
    ]) + {
      fieldConfig: {
        defaults: {
          unit: 'none',
          decimals: 0,
          noValue: 'No data',
        } + (
          if status == 'green' then {
            color: { mode: 'fixed', fixedColor: okta.green.color },
            thresholds: { mode: 'absolute', steps: [{ color: okta.green.color, value: null }] },
          } else {
            color: { mode: 'thresholds' },
            thresholds: {
              mode: 'absolute',
              steps: [{ color: 'green', value: null }, { color: okta[status].color, value: 1 }],
            },
            mappings: [{ type: 'value', options: { '0': { text: '0 (all good)', color: 'green', index: 0 } } }],
          }
        ),
        overrides: [],
      },
      options: {
        colorMode: 'background',
        graphMode: 'none',
        justifyMode: 'center',
        textMode: 'value',
        orientation: 'auto',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      },
    },

  local row(id, title, y, collapsed=false, panels=[]) = {
    id: id,
    type: 'row',
    title: title,
    collapsed: collapsed,
    gridPos: pos(0, y, 24, 1),
    panels: panels,
  },

  local token = by(['org', 'token_id', 'token_name', 'user_id']),
  local tokenId = by(['org', 'token_id']),
  local tokenLegend = legend('{{token_name}} ({{org}}, {{token_id}})'),
  // The most tokens a per-token graph draws: readable with thousands of tokens.
  local shown = 20,

  local variable(name, label, labelName, selector) = {
    local query = 'label_values(okta_up{%s}, %s)' % [std.join(', ', [cfg.exporterSelector] + selector), labelName],
    name: name,
    label: label,
    type: 'query',
    datasource: datasource,
    definition: query,
    query: { qryType: 1, query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    current: { selected: true, text: ['All'], value: ['$__all'] },
    hide: 0,
    includeAll: true,
    // "All" selects every value, including those that appear after the page was loaded,
    // instead of a regex of the values Grafana knew then.
    allValue: '.*',
    multi: true,
    options: [],
    refresh: 2,
    regex: '',
    skipUrlSync: false,
    sort: 1,
  },

  // The runbooks' page: the pattern up to the alert's name.
  local runbooks = std.rstripChars(std.substr(cfg.runbookURLPattern, 0, std.findSubstr('%s', cfg.runbookURLPattern)[0]), '#'),

  grafanaDashboards+:: {
    'okta-api-tokens.json': {
      id: null,
      uid: cfg.dashboardUID,
      title: cfg.dashboardTitle,
      description: 'Okta API token expiry and okta-token-exporter health.',
      tags: cfg.dashboardTags,
      timezone: cfg.dashboardTimezone,
      editable: true,
      graphTooltip: 1,
      liveNow: false,
      refresh: cfg.dashboardRefresh,
      schemaVersion: 39,
      version: 1,
      weekStart: '',
      fiscalYearStartMonth: 0,
      time: { from: 'now-7d', to: 'now' },
      timepicker: {},
      annotations: { list: [] },
      // The runbooks, when the runbook URL pattern is an address a browser can open.
      links: if std.length(std.findSubstr('://', runbooks)) > 0 then [{
        title: 'Runbooks',
        type: 'link',
        icon: 'doc',
        targetBlank: true,
        tooltip: 'What each alert means and what to do',
        url: runbooks,
        asDropdown: false,
        includeVars: false,
        keepTime: false,
        tags: [],
      }] else [],
      templating: {
        list: [
          {
            name: 'datasource',
            label: 'Data source',
            type: 'datasource',
            query: 'prometheus',
            current: {},
            hide: 0,
            includeAll: false,
            multi: false,
            options: [],
            refresh: 1,
            regex: '',
            skipUrlSync: false,
          },
          // Hidden unless the dashboard shows the cluster; hidden, it selects everything.
          variable('cluster', 'Cluster', cluster, []) + { hide: if multi then 0 else 2 },
          variable('job', 'Job', 'job', [variables[0]]),
          variable('instance', 'Instance', 'instance', variables[0:2]),
          variable('org', 'Org', 'org', variables),
        ],
      },
      panels: [
        row(1, 'Tokens', 0),
        stat(2, 'green', 'used within 3 days', 0),
        stat(3, 'gray', 'unused for 3 days, expiry at least 7 days away', 6),
        stat(4, 'red', 'expires within 7 days', 12),
        stat(5, 'yellow', "used from outside its allowed network zones within the exporter's System Log lookback (24 hours by default); needs the System Log enrichment", 18),

        table(
          6,
          'Tokens by time to expiry',
          "Every API token of the selected orgs, the one closest to expiry first. Status is the admin console colour; last used is derived by Okta's sliding expiry (expiresAt - tokenWindow). Owner columns come from the owner lookups (empty until looked up, or when the credential may not read users); a yellow status comes from the System Log. One row per token, however many replicas report it, even while they disagree on its owner or status.",
          pos(0, 5, 24, 10),
          [
            tableTarget('A', 'max by (%s) (okta_api_token_time_to_expiry_seconds{%s})' % [token, sel()]),
            tableTarget('B', 'max by (%s) (okta_api_token_last_used_timestamp_seconds{%s}) * 1000' % [token, sel()]),
            tableTarget('C', 'topk by (%s) (1, max by (%s) (okta_api_token_status{%s}) == 1)' % [token, by(['org', 'token_id', 'token_name', 'user_id', 'status']), sel()]),
            tableTarget('D', 'topk by (%s) (1, max by (%s) (okta_api_token_info{%s}))' % [token, by(['org', 'token_id', 'token_name', 'user_id', 'owner_login', 'owner_status']), sel()]),
            tableTarget('E', 'min by (%s) (okta_api_token_owner_active{%s})' % [token, sel()]),
          ],
        ) + {
          transformations: [
            { id: 'merge', options: {} },
            { id: 'sortBy', options: { fields: {}, sort: [{ field: 'Value #A', desc: false }] } },
            organize([
              ['org', 'Org'],
              ['token_name', 'Name'],
              ['token_id', 'Token ID'],
              ['user_id', 'Owner (user ID)'],
              ['owner_login', 'Owner login'],
              ['owner_status', 'Owner status'],
              ['Value #E', 'Owner active'],
              ['status', 'Status'],
              ['Value #A', 'Time to expiry'],
              ['Value #B', 'Last used'],
            ], ['Value #C', 'Value #D']),
          ],
          fieldConfig+: {
            defaults+: { thresholds: { mode: 'absolute', steps: [{ color: 'text', value: null }] } },
            overrides: [
              override('Status', [
                {
                  id: 'mappings',
                  value: [{
                    type: 'value',
                    options: {
                      [statuses[i]]: okta[statuses[i]] { index: i }
                      for i in std.range(0, 3)
                    },
                  }],
                },
                { id: 'custom.cellOptions', value: { type: 'color-background', mode: 'basic' } },
                { id: 'custom.width', value: 100 },
              ]),
              timeToExpiry,
              override('Last used', [{ id: 'unit', value: 'dateTimeFromNow' }]),
              override('Owner active', [
                {
                  id: 'mappings',
                  value: [{
                    type: 'value',
                    options: {
                      '0': { text: 'no: token broken', color: 'red', index: 0 },
                      '1': { text: 'yes', color: 'green', index: 1 },
                    },
                  }],
                },
                colorText,
              ]),
            ],
          },
          options+: { sortBy: [{ displayName: 'Time to expiry', desc: false }] },
        },

        table(
          21,
          'Kept-alive tokens',
          "The tokens listed under `keepalive:` in the exporter's configuration, the one closest to expiry first: time to expiry, when an exporter last kept the token alive (the time of its last call that the next poll confirmed; empty until the first since it started), and the outcomes of the keep-alives over the dashboard's time range, every replica's together. Rejected and not refreshed calls fire OktaApiTokenKeepAliveFailing; skipped (owner inactive) counts at each poll while the owner is suspended or deactivated. A row without a name or expiry is a token id Okta does not list: check the id in the configuration. Empty when no token is kept alive. One row per token, however many replicas report it.",
          pos(0, 15, 24, 7),
          [
            tableTarget('A', 'max by (%s) (okta_api_token_time_to_expiry_seconds{%s}) and on (%s) okta_api_token_keepalive_total{%s}' % [token, sel(), tokenId, sel()]),
            tableTarget('B', 'max by (%s) (okta_api_token_keepalive_last_timestamp_seconds{%s}) * 1000' % [tokenId, sel()]),
          ] + [
            tableTarget(r[0], 'sum by (%s) (increase(okta_api_token_keepalive_total{%s}[$__range]))' % [tokenId, sel(['result="%s"' % r[1]])])
            for r in [['C', 'refreshed'], ['D', 'not_refreshed'], ['E', 'rejected'], ['F', 'skipped_owner_inactive'], ['G', 'error']]
          ],
        ) + {
          transformations: [
            { id: 'merge', options: {} },
            { id: 'sortBy', options: { fields: {}, sort: [{ field: 'Value #A', desc: false }] } },
            organize([
              ['org', 'Org'],
              ['token_name', 'Name'],
              ['token_id', 'Token ID'],
              ['Value #A', 'Time to expiry'],
              ['Value #B', 'Last kept alive'],
              ['Value #C', 'Refreshed'],
              ['Value #D', 'Not refreshed'],
              ['Value #E', 'Rejected'],
              ['Value #F', 'Skipped (owner inactive)'],
              ['Value #G', 'Errors'],
            ], ['user_id']),
          ],
          fieldConfig+: {
            defaults+: { thresholds: { mode: 'absolute', steps: [{ color: 'text', value: null }] } },
            overrides: [
              timeToExpiry,
              override('Last kept alive', [{ id: 'unit', value: 'dateTimeFromNow' }]),
              count('Refreshed', 'green'),
              count('Not refreshed', 'red'),
              count('Rejected', 'red'),
              count('Skipped (owner inactive)', 'orange'),
              count('Errors', 'orange'),
            ],
          },
          options+: { sortBy: [{ displayName: 'Time to expiry', desc: false }] },
        },

        timeseries(
          7,
          'Time to expiry (the %d %s tokens closest to expiry)' % [shown, red],
          'Seconds until each token with %s or less left lapses unless used, at most the %d closest to expiry at each moment, so the panel stays readable with thousands of tokens; the table above lists every token. Using a token resets it to its window (30 days by default). Shaded: below %s (warning alert) and below %s (critical alert).' % [util.humanize(warn), shown, util.humanize(warn), util.humanize(crit)],
          pos(0, 22, 24, 9),
          [target('A', 'bottomk(%d, max by (%s) (okta_api_token_time_to_expiry_seconds{%s}) <= %s)' % [shown, by(['org', 'token_id', 'token_name']), sel(), util.secondsExpr(warn)], tokenLegend)],
          's',
        ) + {
          fieldConfig+: {
            defaults+: {
              custom+: { thresholdsStyle: { mode: 'dashed+area' } },
              thresholds: {
                mode: 'absolute',
                steps: [
                  { color: 'dark-red', value: null },
                  { color: 'red', value: crit },
                  { color: 'transparent', value: warn },
                ],
              },
            },
          },
          options+: { legend+: { displayMode: 'table', calcs: ['lastNotNull', 'min'] } },
        },

        // The colour as a number (green 0 < gray 1 < red 2 < yellow 3): the highest of the
        // replicas' colours, and the worst tokens first when the panel limits itself.
        panel(
          19,
          'state-timeline',
          'Token status over time (the %d worst)' % shown,
          'The admin-console colour of the tokens of the selected orgs over time, one row per token, counted once however many replicas report it (the highest of their colours: yellow over red over gray over green). At most the %d tokens of the worst colours at each moment, so the panel stays readable with thousands of tokens; the table above lists every token.' % shown,
          pos(0, 31, 24, 9),
          [target('A', 'topk(%d, max by (%s) (%s))' % [shown, by(['org', 'token_id', 'token_name']), std.join(' or ', [
            '(okta_api_token_status{%s} == 1) * %d' % [sel(['status="%s"' % statuses[i]]), i]
            for i in std.range(0, 3)
          ])], tokenLegend)],
        ) + {
          fieldConfig: {
            defaults: {
              color: { mode: 'thresholds' },
              noValue: 'No data',
              mappings: [{
                type: 'value',
                options: { [std.toString(i)]: okta[statuses[i]] { index: i } for i in std.range(0, 3) },
              }],
              thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] },
              custom: { fillOpacity: 80, lineWidth: 0 },
            },
            overrides: [],
          },
          options: {
            showValue: 'never',
            mergeValues: true,
            rowHeight: 0.9,
            alignValue: 'left',
            legend: { showLegend: false },
            tooltip: { mode: 'single', sort: 'none' },
          },
        },

        row(8, 'Exporter health', 40),
        panel(
          9,
          'state-timeline',
          'Org polls (okta_up)',
          "Whether each replica's last poll of each org succeeded.",
          pos(0, 41, 8, 8),
          [target('A', 'okta_up{%s}' % sel(), legend('{{org}} @ {{instance}}'))],
        ) + {
          fieldConfig: {
            defaults: {
              color: { mode: 'thresholds' },
              mappings: [{
                type: 'value',
                options: {
                  '0': { text: 'failing', color: 'red', index: 0 },
                  '1': { text: 'ok', color: 'green', index: 1 },
                },
              }],
              thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] },
              custom: { fillOpacity: 80, lineWidth: 0 },
            },
            overrides: [],
          },
          options: {
            showValue: 'never',
            mergeValues: true,
            rowHeight: 0.9,
            alignValue: 'left',
            legend: { showLegend: false, displayMode: 'list', placement: 'bottom' },
            tooltip: { mode: 'single', sort: 'none' },
          },
        },
        timeseries(
          10,
          'Poll duration',
          "How long each replica's last poll of each org took.",
          pos(8, 41, 8, 8),
          [target('A', 'okta_poll_duration_seconds{%s}' % sel(), legend('{{org}} @ {{instance}}'))],
          's',
        ),
        // The thresholds are series, not fixed lines: they are multiples of each org's own poll
        // interval.
        timeseries(
          11,
          'Age of last successful poll',
          'Time since any replica last polled the org successfully (blank while none has since it started: OktaExporterOrgNeverPolled). The critical alert OktaExporterOrgDataStale fires above %d poll intervals once a replica failed two polls in a row, and above %d whatever the failures (dashed).' % [cfg.staleAfterPollIntervals, cfg.hungAfterPollIntervals],
          pos(16, 41, 8, 8),
          [
            target('A', 'time() - (max by (%s) (okta_last_successful_poll_timestamp_seconds{%s}) > 0)' % [by(['org']), sel()], legend('{{org}}')),
            target('B', '%d * max by (%s) (okta_poll_interval_seconds{%s})' % [cfg.staleAfterPollIntervals, by(['org']), sel()], legend('{{org}} page threshold (%d poll intervals)' % cfg.staleAfterPollIntervals)),
            target('C', '%d * max by (%s) (okta_poll_interval_seconds{%s})' % [cfg.hungAfterPollIntervals, by(['org']), sel()], legend('{{org}} pages whatever the failures (%d poll intervals)' % cfg.hungAfterPollIntervals)),
          ],
          's',
        ) + {
          fieldConfig+: {
            overrides: [
              {
                matcher: { id: 'byFrameRefID', options: line[0] },
                properties: [
                  { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
                  { id: 'color', value: { mode: 'fixed', fixedColor: line[1] } },
                ],
              }
              for line in [['B', 'red'], ['C', 'dark-red']]
            ],
          },
        },
        timeseries(
          12,
          'Okta API requests by status code',
          'Requests per second the exporter sends to Okta, by HTTP status code (all replicas together).',
          pos(0, 49, 8, 8),
          [target('A', 'sum by (%s) (rate(okta_api_requests_total{%s}[$__rate_interval]))' % [by(['org', 'code']), sel()], legend('{{org}} {{code}}'))],
          'reqps',
        ),
        timeseries(
          13,
          'Rate limit remaining',
          'Requests left in the current rate-limit window, per endpoint, as last reported by Okta (X-Rate-Limit-Remaining); the warning alert fires below 10% of the limit.',
          pos(8, 49, 8, 8),
          [
            target('A', 'min by (%s) (okta_rate_limit_remaining{%s})' % [by(['org', 'endpoint']), sel()], legend('{{org}} {{endpoint}} remaining')),
            target('B', 'max by (%s) (okta_rate_limit_limit{%s})' % [by(['org', 'endpoint']), sel()], legend('{{org}} {{endpoint}} limit')),
          ],
          'short',
        ) + { fieldConfig+: { defaults+: { min: 0 } } },
        panel(
          20,
          'timeseries',
          'Rate limit left (share)',
          "Share of each endpoint's rate limit left in the window of Okta's last answer, the lowest any replica saw. The dashed line is 10%: OktaExporterRateLimitLow warns below it while that window is still open.",
          pos(16, 49, 8, 8),
          [target('A', 'min by (%s) (okta_rate_limit_remaining{%s} / (okta_rate_limit_limit{%s} > 0))' % [by(['org', 'endpoint']), sel(), sel()], legend('{{org}} {{endpoint}}'))],
        ) + {
          fieldConfig: {
            defaults: {
              unit: 'percentunit',
              min: 0,
              max: 1,
              noValue: 'No data',
              thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'transparent', value: 0.1 }] },
              custom: { thresholdsStyle: { mode: 'dashed' } },
            },
            overrides: [],
          },
          options: {
            legend: { showLegend: true, displayMode: 'list', placement: 'bottom' },
            tooltip: { mode: 'multi', sort: 'asc' },
          },
        },

        row(18, 'Details', 57, collapsed=true, panels=[
          timeseries(
            14,
            'Poll errors by reason (1h)',
            'Failed polls per reason in the last hour, all replicas together.',
            pos(0, 58, 12, 8),
            [target('A', 'sum by (%s) (increase(okta_poll_errors_total{%s}[1h]))' % [by(['org', 'reason']), sel()], legend('{{org}} {{reason}}'))],
            'short',
          ) + bars,
          timeseries(
            15,
            'Tokens removed by reason (1h)',
            'Tokens that vanished from an org in the last hour: expired (lapsed after going unused) or revoked (before expiry).',
            pos(12, 58, 12, 8),
            [target('A', 'max by (%s) (increase(okta_api_tokens_removed_total{%s}[1h]))' % [by(['org', 'reason']), sel()], legend('{{org}} {{reason}}'))],
            'short',
          ) + bars,
          table(
            16,
            'Token details',
            "Client name, network condition and owner of every token (okta_api_token_info), one row per token even when two replicas disagree on the owner's labels.",
            pos(0, 66, 16, 8),
            [tableTarget('A', 'topk by (%s) (1, max by (%s) (okta_api_token_info{%s}))' % [token, by(['org', 'token_id', 'token_name', 'user_id', 'client_name', 'network_connection', 'owner_login', 'owner_status']), sel()])],
          ) + {
            transformations: [
              organize([
                ['org', 'Org'],
                ['token_name', 'Name'],
                ['token_id', 'Token ID'],
                ['user_id', 'Owner (user ID)'],
                ['client_name', 'Client'],
                ['network_connection', 'Network'],
                ['owner_login', 'Owner login'],
                ['owner_status', 'Owner status'],
              ], ['Value']),
            ],
          },
          // The build info has no org: every replica of the selected jobs and instances.
          table(
            17,
            'Exporter versions',
            'Version and revision of every exporter replica (okta_exporter_build_info).',
            pos(16, 66, 8, 8),
            [tableTarget('A', 'max by (%s) (okta_exporter_build_info{%s})' % [by(['instance', 'version', 'revision']), std.join(', ', [cfg.exporterSelector] + variables)])],
          ) + {
            transformations: [
              organize([
                ['instance', 'Instance'],
                ['version', 'Version'],
                ['revision', 'Revision'],
              ], ['Value']),
            ],
          },
        ]),

        // What each token can do (docs/posture.md): the owner's highest admin role against the
        // network restriction, the findings, and their count by severity over time.
        row(19, 'Posture', 58),
        panel(
          20,
          'bargauge',
          'Tokens by owner role and network',
          "The tokens of the selected orgs by their owner's highest admin role (UNKNOWN when the roles could not be read: okta_owner_roles_forbidden and okta_owner_roles_lookups_enabled say why; NONE when the owner holds none) and network restriction (ANYWHERE, or no network object: usable from any IP; ZONE: restricted to network zones). A SUPER_ADMIN or ORG_ADMIN token usable from any IP is the finding admin_token_any_network. Each token counted once, however many replicas report it.",
          pos(0, 59, 8, 9),
          [target(
            'A',
            |||
              count by (%(role)s) (
                topk by (%(tokenId)s) (1, max by (%(tokenRole)s) (okta_api_token_owner_highest_admin_role{%(sel)s}))
                * on (%(tokenId)s) group_left (network_connection)
                topk by (%(tokenId)s) (1, max by (%(tokenNetwork)s) (okta_api_token_info{%(sel)s}))
              )
            ||| % {
              role: by(['org', 'role', 'network_connection']),
              tokenId: tokenId,
              tokenRole: by(['org', 'token_id', 'role']),
              tokenNetwork: by(['org', 'token_id', 'network_connection']),
              sel: sel(),
            },
            legend('{{org}} {{role}} · {{network_connection}}'),
            instant=true,
          )],
        ) + {
          fieldConfig: {
            defaults: {
              unit: 'short',
              decimals: 0,
              min: 0,
              color: { mode: 'fixed', fixedColor: 'blue' },
              noValue: 'No data',
            },
            overrides: [],
          },
          options: {
            orientation: 'horizontal',
            displayMode: 'basic',
            showUnfilled: true,
            valueMode: 'color',
            namePlacement: 'auto',
            sizing: 'auto',
            minVizHeight: 16,
            minVizWidth: 8,
            maxVizHeight: 300,
            reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
          },
        },
        table(
          21,
          'Posture findings',
          'Every posture finding about the tokens of the selected orgs (okta_api_token_finding), the most severe first: admin_token_any_network (high), idle_admin_token, person_owned_token, token_too_old (medium), ssws_for_new_integration (low). docs/posture.md says what each means and how to fix it in Okta; the token page (/) and /api/v1/tokens give the reason. One row per finding, however many replicas report it.',
          pos(8, 59, 16, 9),
          [
            tableTarget('A', 'max by (%s) (okta_api_token_finding{%s})' % [by(['org', 'token_id', 'finding', 'severity']), sel()]),
            tableTarget('B', 'topk by (%s) (1, max by (%s) (okta_api_token_info{%s}))' % [token, by(['org', 'token_id', 'token_name', 'user_id', 'owner_login']), sel()]),
          ],
        ) + {
          transformations: [
            { id: 'merge', options: {} },
            { id: 'filterByValue', options: { filters: [{ fieldName: 'Value #A', config: { id: 'greater', options: { value: 0 } } }], match: 'any', type: 'include' } },
            { id: 'sortBy', options: { fields: {}, sort: [{ field: 'severity', desc: false }] } },
            organize([
              ['org', 'Org'],
              ['severity', 'Severity'],
              ['finding', 'Finding'],
              ['token_name', 'Name'],
              ['token_id', 'Token ID'],
              ['owner_login', 'Owner login'],
              ['user_id', 'Owner (user ID)'],
            ], ['Value #A', 'Value #B']),
          ],
          fieldConfig+: {
            overrides: [
              override('Severity', [
                colorText,
                {
                  id: 'mappings',
                  value: [{
                    type: 'value',
                    options: {
                      high: { text: 'high', color: 'red', index: 0 },
                      medium: { text: 'medium', color: 'orange', index: 1 },
                      low: { text: 'low', color: 'text', index: 2 },
                    },
                  }],
                },
              ]),
            ],
          },
        },
        timeseries(
          22,
          'Posture findings by severity',
          'Posture findings about the tokens of the selected orgs by severity over time (okta_api_token_findings, the highest of the replicas). A step up after a token was made, or an owner given an admin role, is worth a look.',
          pos(0, 68, 24, 7),
          [target('A', 'max by (%s) (okta_api_token_findings{%s})' % [by(['org', 'severity']), sel()], legend('{{org}} {{severity}}'))],
          'short',
        ),
      ],
    },
  },
}
