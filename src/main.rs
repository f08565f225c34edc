//! `okta-token-exporter`: see `--help`, or the README.
use clap::Parser;

fn main() -> std::process::ExitCode {
    okta_token_exporter::app::run(okta_token_exporter::cli::Cli::parse())
}
