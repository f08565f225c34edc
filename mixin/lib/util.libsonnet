// Small helpers shared by the rules and the dashboard.
{
  // Label names joined for `by (...)`, `on (...)` and `ignoring (...)`.
  labels(names):: std.join(', ', names),

  // The text of a multi-line block folded into one line, as YAML's `>-` folds it: every line
  // break becomes one space, and the final one is dropped.
  fold(text):: std.join(' ', std.filter(function(line) line != '', std.split(text, '\n'))),

  // The equality matchers (name="value") of a selector as an object of labels; regex and
  // negative matchers are left out. Commas inside values are not supported.
  equalityLabels(selector):: {
    [std.stripChars(std.split(m, '=')[0], ' ')]: std.stripChars(std.split(m, '=')[1], ' "')
    for m in std.split(selector, ',')
    if std.length(std.findSubstr('=', m)) == 1
       && std.length(std.findSubstr('!', m)) == 0
       && std.length(std.findSubstr('~', m)) == 0
  },

  // A duration in seconds as people say it: "7 days", "24 hours", "48 hours", "90 minutes".
  humanize(seconds)::
    if seconds % 86400 == 0 && seconds >= 3 * 86400 then '%d days' % (seconds / 86400)
    else if seconds % 3600 == 0 && seconds > 3600 then '%d hours' % (seconds / 3600)
    else if seconds == 3600 then '1 hour'
    else if seconds % 60 == 0 then '%d minutes' % (seconds / 60)
    else '%d seconds' % seconds,

  // A threshold in seconds as a PromQL expression that reads as the duration:
  // "7 * 24 * 3600", "24 * 3600", "900".
  secondsExpr(seconds)::
    if seconds % 86400 == 0 && seconds >= 3 * 86400 then '%d * 24 * 3600' % (seconds / 86400)
    else if seconds % 3600 == 0 then '%d * 3600' % (seconds / 3600)
    else '%d' % seconds,
}
