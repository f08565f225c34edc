//! Every shell command the README and the documents of `docs/` show runs as written, here: the exporter's own commands against a sandbox standing in for `/etc/okta-token-exporter` and `/var/lib/…` (a command that
//! would serve is run with `--config.check`, which validates everything a start would), the demo
//! against its simulated org, Prometheus' tools against the shipped files. A command the README
//! gains without a way to run it here fails this test until one is added below.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_okta-token-exporter");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The README and every document of `docs/` it sends readers to, in that order.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 5, "the docs are read: {docs:?}");
    std::iter::once(Path::new(ROOT).join("README.md"))
        .chain(docs)
        .collect()
}

/// The README and the documents, one after the other.
fn all_documents() -> String {
    documents()
        .iter()
        .map(|d| std::fs::read_to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The commands of every fenced `sh` block of the documents, continuation lines joined,
/// trailing comments cut.
fn readme_commands() -> Vec<String> {
    documents()
        .iter()
        .flat_map(|document| commands_of(&std::fs::read_to_string(document).unwrap()))
        .collect()
}

fn commands_of(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim_start();
        if let Some(fence) = trimmed.strip_prefix("```") {
            in_sh = !in_sh && (fence == "sh" || fence == "bash");
            continue;
        }
        if !in_sh || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let code = trimmed.split("   #").next().unwrap().trim_end();
        match code.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(code);
                commands.push(std::mem::take(&mut pending).trim().to_owned());
            }
        }
    }
    commands
}

/// Stands in for the machine the README talks about.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(sandbox.etc()).unwrap();
        std::fs::create_dir_all(sandbox.path().join("var-lib")).unwrap();
        // The example's kept-alive token is another token than the org's own.
        for (token, secret) in [
            ("acme.token", "00readme-canary-token"),
            ("acme-prod.token", "00readme-canary-token"),
            ("breakglass.token", "00readme-canary-breakglass"),
        ] {
            let path = sandbox.etc().join(token);
            std::fs::write(&path, format!("{secret}\n")).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        // The README's example config file, as shown.
        let readme = all_documents();
        let example = readme
            .split("```yaml\n")
            .map(|block| block.split("```").next().unwrap())
            .find(|block| block.starts_with("poll_interval:"))
            .expect("the README's example config");
        std::fs::write(sandbox.etc().join("config.yml"), sandbox.map(example)).unwrap();
        sandbox
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn etc(&self) -> PathBuf {
        self.path().join("etc")
    }

    /// The README's paths, moved into the sandbox.
    fn map(&self, text: &str) -> String {
        text.replace(
            "/etc/okta-token-exporter/",
            &format!("{}/", self.etc().display()),
        )
        .replace(
            "/var/lib/okta-token-exporter",
            &self.path().join("var-lib").display().to_string(),
        )
    }

    /// Runs the exporter with the command's arguments; `--config.check` is added to a command
    /// that would start serving.
    fn exporter(&self, command: &str) -> std::process::Output {
        let mut args: Vec<String> = self
            .map(command)
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect();
        let subcommand = args.first().is_some_and(|a| !a.starts_with('-'));
        if !subcommand && !args.iter().any(|a| a == "--config.check") {
            args.push("--config.check".into());
        }
        Command::new(BIN)
            .args(&args)
            .env("OKTA_PREVIEW_TOKEN", "00readme-canary-preview")
            .env_remove("OKTA_API_TOKEN")
            .output()
            .unwrap()
    }
}

fn run_tool(command: &str) -> Option<std::process::Output> {
    let mut words = command.split_whitespace();
    let tool = words.next().unwrap();
    let package = match tool {
        "promtool" => "prometheus",
        _ => "prometheus-alertmanager",
    };
    let program = common::require_tool(tool, package)?;
    // The shell would expand the glob.
    let mut args = Vec::new();
    for word in words {
        if word.contains('*') {
            let (dir, pattern) = word.rsplit_once('/').unwrap();
            let suffix = pattern.trim_start_matches('*');
            let mut matched: Vec<String> = std::fs::read_dir(Path::new(ROOT).join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(suffix))
                .map(|name| format!("{dir}/{name}"))
                .collect();
            matched.sort();
            args.extend(matched);
        } else {
            args.push(word.to_owned());
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if args.starts_with(&["test", "rules"]) {
        // `alerting_rules` runs the same rule tests: once for both.
        return Some(common::output_once(&program, &args, Path::new(ROOT)));
    }
    Some(
        Command::new(program)
            .args(&args)
            .current_dir(ROOT)
            .output()
            .unwrap(),
    )
}

#[test]
fn every_command_in_the_readme_runs() {
    let sandbox = Sandbox::new();
    let commands = readme_commands();
    assert!(commands.len() >= 12, "found only {commands:?}");
    let mut ran = 0;
    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let output = match words.as_slice() {
            // The first screen: the demo (run below, as the built binary) and this very suite.
            ["cargo", "run", "--release", "--", "demo"] => {
                the_demo_serves_tokens();
                ran += 1;
                continue;
            }
            ["cargo", "test", "--workspace"] => continue,
            // A key made by another tool: the exporter's own keygen makes one the same way here.
            ["openssl", ..] => continue,
            // The demo org has red tokens: exit 1 unless told never to fail.
            ["okta-token-exporter", "report", "--demo", ..] => {
                let output = sandbox.exporter(command);
                // ... and every posture finding, a high one among them: exit 4 when asked.
                let expected = if command.contains("--fail-on=none")
                    && command.contains("--fail-on-finding=high")
                {
                    4
                } else if command.contains("--fail-on=none") {
                    0
                } else {
                    1
                };
                assert_eq!(
                    output.status.code(),
                    Some(expected),
                    "{command}\nstderr: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                assert!(output.stdout.len() > 500, "{command} printed the tokens");
                ran += 1;
                continue;
            }
            ["okta-token-exporter", ..] => sandbox.exporter(command),
            ["kubectl", "kustomize", "deploy/kubernetes"] => {
                match common::require_tool("kubectl", "kubernetes-client") {
                    Some(kubectl) => Command::new(kubectl)
                        .args(&words[1..])
                        .current_dir(ROOT)
                        .output()
                        .unwrap(),
                    None => continue,
                }
            }
            ["promtool" | "amtool", ..] => match run_tool(command) {
                Some(output) => output,
                None => continue,
            },
            // The runbook's check of a token against a real Okta org: nothing here to ask.
            ["curl", .., url] if url.starts_with("https://acme.okta.com/") => continue,
            // A daemon: started with this configuration by tests/it/end_to_end.rs, and checked by
            // the `amtool check-config` line before it.
            ["prometheus-alertmanager", "--config.file=alerts/alertmanager.yml"] => continue,
            _ => panic!("the README shows a command this test does not know how to run: {command}"),
        };
        assert!(
            output.status.success(),
            "{command}\nexit {:?}\nstdout: {}\nstderr: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 9, "ran {ran} of {commands:?}");
}

/// `cargo run --release -- demo`, as the binary: tokens of every colour on /metrics.
fn the_demo_serves_tokens() {
    let exporter = common::Exporter::spawn(
        vec!["demo".into(), "--web.listen-address=127.0.0.1:0".into()],
        tempfile::tempdir().unwrap(),
    );
    let samples = exporter.wait_for("the demo's tokens", Duration::from_secs(30), |s| {
        common::value(s, "okta_up", &[("org", "demo")]) == 1.0
    });
    for status in ["green", "gray", "red", "yellow"] {
        assert!(
            common::value(&samples, "okta_api_tokens", &[("status", status)]) >= 1.0,
            "the demo shows a {status} token"
        );
    }
}
