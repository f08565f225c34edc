//! Records the git revision for `okta_exporter_build_info{revision}`, and which of the tools the
//! integration tests drive this machine has: `tool_<name>` is set for each one on `PATH` (and
//! `root` when building as root), so that a test without its tool is marked ignored, with the tool
//! and the package that brings it, in cargo's own summary instead of passing unseen. Under
//! `CI=true` the test `every_tool_the_tests_need_is_here` fails for each one missing.
use std::path::PathBuf;
use std::process::Command;

/// The program on `PATH`, and the `cfg` set when it is there.
const TOOLS: [(&str, &str); 12] = [
    ("promtool", "tool_promtool"),
    ("amtool", "tool_amtool"),
    ("prometheus", "tool_prometheus"),
    ("prometheus-alertmanager", "tool_alertmanager"),
    ("chromium", "tool_chromium"),
    ("script", "tool_script"),
    ("systemd-analyze", "tool_systemd_analyze"),
    ("buildah", "tool_buildah"),
    ("kubectl", "tool_kubectl"),
    ("cargo-deb", "tool_cargo_deb"),
    ("jsonnet", "tool_jsonnet"),
    ("jsonnetfmt", "tool_jsonnetfmt"),
];

fn tools() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for (program, cfg) in TOOLS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if let Some(found) = dirs.iter().map(|d| d.join(program)).find(|p| p.is_file()) {
            println!("cargo::rustc-cfg={cfg}");
            // Removed or replaced, it is looked for again.
            println!("cargo::rerun-if-changed={}", found.display());
        }
    }
    println!("cargo::rustc-check-cfg=cfg(root)");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if uid == Some("0") {
        println!("cargo::rustc-cfg=root");
    }
    // Not the PATH directories themselves: a test that installs a package (the Debian one)
    // changes /usr/bin, which would rebuild the crate at every run. A tool installed after the
    // build is found at the next change of PATH or of the code (or `touch build.rs`).
    println!("cargo::rerun-if-env-changed=PATH");
}

fn main() {
    tools();
    let revision = std::env::var("OKTA_EXPORTER_REVISION").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    // Under another name than the variable read above: cargo also sets a `rustc-env` for the
    // processes of `cargo test` and `cargo run`, so a build started from a test (the packaging
    // tests run deploy/static-binary.sh) would see OKTA_EXPORTER_REVISION appear, take it for a
    // change and rebuild the release binary, about 200 s of CPU, at every switch.
    println!(
        "cargo:rustc-env=OKTA_EXPORTER_BUILD_REVISION={}",
        revision.unwrap_or_else(|| "unknown".into())
    );
    println!("cargo:rerun-if-env-changed=OKTA_EXPORTER_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
