// A value as a YAML document, the way std.manifestYamlDoc(value, indent_array_in_object=true,
// quote_keys=false) writes it, five times faster: the std.manifestYamlDoc of Debian's jsonnet
// (0.18) builds its strings a character at a time, and took half a minute for the rules.
// Multi-line strings that end with a newline (the rules' expressions) become literal blocks;
// every other string is a JSON string, which YAML reads as is.
{
  manifest(value)::
    local block(s) =
      std.endsWith(s, '\n') && !std.endsWith(s, '\n\n') && !std.startsWith(s, ' ');
    local string(s, indent) =
      if block(s) then
        '|\n' + std.join('\n', [
          if line == '' then '' else indent + line
          for line in std.split(std.substr(s, 0, std.length(s) - 1), '\n')
        ])
      else std.escapeStringJson(s);
    // `first` goes before the first line instead of `indent`: the "- " of a list item.
    local render(v, indent, first) =
      if std.isObject(v) && std.length(v) > 0 then
        local keys = std.objectFields(v);
        std.join('\n', [
          (if i == 0 then first else indent) + keys[i] + ':' + (
            local x = v[keys[i]];
            if (std.isObject(x) || std.isArray(x)) && std.length(x) > 0
            then '\n' + render(x, indent + '  ', indent + '  ')
            else ' ' + render(x, indent + '  ', '')
          )
          for i in std.range(0, std.length(keys) - 1)
        ])
      else if std.isArray(v) && std.length(v) > 0 then
        std.join('\n', [
          (if i == 0 then first else indent) + '- ' + render(v[i], indent + '  ', '')
          for i in std.range(0, std.length(v) - 1)
        ])
      else if std.isObject(v) then '{}'
      else if std.isArray(v) then '[]'
      else if std.isString(v) then string(v, indent)
      else std.toString(v);
    render(value, '', ''),
}
