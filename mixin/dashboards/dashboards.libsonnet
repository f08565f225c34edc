// Every dashboard of the mixin, by file name.
(import 'okta-api-tokens.libsonnet')
