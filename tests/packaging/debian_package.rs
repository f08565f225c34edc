//! The Debian package, built by `cargo deb` from `[package.metadata.deb]` in Cargo.toml with the
//! current code: it installs the static binary (`deploy/static-binary.sh`, the one the container
//! image ships; here its unoptimised `package-test` build) as /usr/bin/okta-token-exporter, the systemd unit
//! `deploy/systemd/okta-token-exporter.service` (installed, not enabled or started: the org and
//! its token come first), `deploy/systemd/config.yml` as the conffile
//! /etc/okta-token-exporter/config.yml, and under /usr/share/okta-token-exporter/ the rules and
//! the Alertmanager example of `alerts/` (not its tests) and the dashboards, each file as it is
//! in the repository.
//! `dpkg -i` installs it and the binary runs; `dpkg -r` removes everything but the conffile, and
//! `dpkg -P` that too.
//!
//! Needs `cargo-deb` (`cargo install cargo-deb --locked`); installing also needs root. Without
//! them the tests print a loud SKIPPED line and pass, except on CI (`CI=true`), where they fail.
//! A failing install test still purges the package; a machine where the package was installed
//! before the test is refused, not overwritten.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PACKAGE: &str = "okta-token-exporter";
/// The target directory of the one static build (`deploy/static-binary.sh`), which the container
/// image packages too: the package is made from that binary, not from a second build.
const TARGET_DIR: &str = "target/static";
/// The profile the packaging tests build with (Cargo.toml): a release's packaging, unoptimised.
const PROFILE: &str = "package-test";
const TARGET: &str = "x86_64-unknown-linux-gnu";
const DEB: &str = "target/static/okta-token-exporter.deb";
const BIN: &str = "/usr/bin/okta-token-exporter";
const UNIT: &str = "/usr/lib/systemd/system/okta-token-exporter.service";
const CONFFILE: &str = "/etc/okta-token-exporter/config.yml";
const SHARE: &str = "/usr/share/okta-token-exporter";

/// Every file the package installs besides the binary, and where it comes from in the
/// repository: the unit, the example config, and under /usr/share/okta-token-exporter/ each file
/// of `alerts/*.yml` (not `alerts/tests/`) and `dashboards/*.json`.
fn shipped() -> Vec<(String, String)> {
    let mut files = vec![
        (
            UNIT.to_owned(),
            "deploy/systemd/okta-token-exporter.service".to_owned(),
        ),
        (CONFFILE.to_owned(), "deploy/systemd/config.yml".to_owned()),
    ];
    for (dir, extension) in [("alerts", "yml"), ("dashboards", "json")] {
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(&format!(".{extension}")) {
                files.push((format!("{SHARE}/{dir}/{name}"), format!("{dir}/{name}")));
            }
        }
    }
    files
}

fn skip_or_fail(message: &str) {
    let message = format!("SKIPPED: {message}");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}: it is required under CI=true");
    }
    eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn succeed(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {}: {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The package, built once per test run by `cargo deb --no-build` from the static binary of
/// `deploy/static-binary.sh` (an incremental build, shared with the container image); `None` when
/// cargo-deb is missing.
fn package() -> Option<PathBuf> {
    if !run("cargo", &["deb", "--version"]).status.success() {
        skip_or_fail("`cargo deb` not found; install it with `cargo install cargo-deb --locked`");
        return None;
    }
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let binary = Command::new("bash")
            .arg(Path::new(ROOT).join("deploy/static-binary.sh"))
            .args(["--profile", PROFILE])
            .current_dir(ROOT)
            .output()
            .expect("run deploy/static-binary.sh");
        if !binary.status.success() {
            return Err(format!(
                "deploy/static-binary.sh: {}\n{}",
                binary.status,
                String::from_utf8_lossy(&binary.stderr)
            ));
        }
        let mut cargo_deb = Command::new("cargo");
        // What cargo set for this test process (OUT_DIR, CARGO_PKG_NAME and the like): some build
        // scripts (ring's) watch them, and would rebuild for the test what a shell just built.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_CRATE_")
                || name.starts_with("CARGO_BIN_")
                || [
                    "OUT_DIR",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                ]
                .contains(&name.as_ref())
            {
                cargo_deb.env_remove(name.as_ref());
            }
        }
        let out = cargo_deb
            .args([
                "deb",
                "--locked",
                "--no-build",
                // gzip instead of xz: 3 s instead of 18 s for an unoptimised binary, and what is
                // tested (the files, the scripts, dpkg) is the same.
                "--fast",
                "--profile",
                PROFILE,
                "--target",
                TARGET,
                "--output",
                DEB,
            ])
            .env("CARGO_TARGET_DIR", Path::new(ROOT).join(TARGET_DIR))
            .current_dir(ROOT)
            .output()
            .expect("run cargo deb");
        if out.status.success() {
            Ok(Path::new(ROOT).join(DEB))
        } else {
            Err(format!(
                "{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    match built {
        Ok(deb) => Some(deb.clone()),
        Err(failure) => panic!("cargo deb failed: {failure}"),
    }
}

/// The package's files and directories (`dpkg-deb -c`), absolute, with their permissions.
fn contents(deb: &Path) -> BTreeMap<String, String> {
    succeed("dpkg-deb", &["-c", deb.to_str().unwrap()])
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let path = fields.last().unwrap().trim_start_matches('.');
            (path.trim_end_matches('/').to_owned(), fields[0].to_owned())
        })
        .collect()
}

fn installed_status() -> Option<String> {
    let out = run("dpkg-query", &["-W", "-f=${Status}", PACKAGE]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        .filter(|status| !status.ends_with("not-installed"))
}

/// Purges the package on drop, so that a failing test leaves nothing installed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed_status().is_some() {
            let _ = run("dpkg", &["--purge", PACKAGE]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the package holds
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(tool_cargo_deb),
    ignore = "needs `cargo-deb`: cargo install cargo-deb --locked"
)]
fn the_package_holds_the_binary_unit_conffile_rules_and_dashboards_as_in_the_repository() {
    let Some(deb) = package() else { return };
    let contents = contents(&deb);
    assert_eq!(
        contents.get(BIN).map(String::as_str),
        Some("-rwxr-xr-x"),
        "{contents:#?}"
    );
    let shipped = shipped();
    for (installed, _) in &shipped {
        assert_eq!(
            contents.get(installed).map(String::as_str),
            Some("-rw-r--r--"),
            "{installed} in the package: {contents:#?}"
        );
    }
    let in_share = |path: &&String| path.starts_with(&format!("{SHARE}/"));
    let files: BTreeSet<&String> = contents
        .iter()
        .filter(|(_, mode)| !mode.starts_with('d'))
        .map(|(path, _)| path)
        .filter(in_share)
        .collect();
    let expected: BTreeSet<&String> = shipped
        .iter()
        .map(|(path, _)| path)
        .filter(in_share)
        .collect();
    assert_eq!(
        files, expected,
        "{SHARE} holds the rules and dashboards, not the rule tests"
    );
    let deb = deb.to_str().unwrap();
    assert_eq!(
        succeed("dpkg-deb", &["--info", deb, "conffiles"]).trim(),
        CONFFILE
    );
    assert_eq!(
        succeed("dpkg-deb", &["--field", deb, "Package"]).trim(),
        PACKAGE
    );
    assert_eq!(
        succeed("dpkg-deb", &["--field", deb, "Version"]).trim(),
        format!("{}-1", env!("CARGO_PKG_VERSION"))
    );

    // Each file as it is in the repository, the binary the current code's.
    let unpacked = tempfile::tempdir().unwrap();
    let into = unpacked.path().to_str().unwrap();
    succeed("dpkg-deb", &["-x", deb, into]);
    for (installed, source) in &shipped {
        assert!(
            std::fs::read(unpacked.path().join(&installed[1..])).unwrap()
                == std::fs::read(Path::new(ROOT).join(source)).unwrap(),
            "{installed} is {source} as it is now"
        );
    }
    let version = succeed(&format!("{into}{BIN}"), &["--version"]);
    assert_eq!(
        version.trim(),
        format!("okta-token-exporter {}", env!("CARGO_PKG_VERSION"))
    );
}

// ---------------------------------------------------------------------------------------------
// Installing and removing it
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(tool_cargo_deb),
    ignore = "needs `cargo-deb`: cargo install cargo-deb --locked"
)]
fn dpkg_installs_it_and_removes_it_cleanly() {
    let Some(deb) = package() else { return };
    if common::require_tool("dpkg", "dpkg").is_none() {
        return;
    }
    if String::from_utf8_lossy(&run("id", &["-u"]).stdout).trim() != "0" {
        skip_or_fail("installing the Debian package needs root");
        return;
    }
    if let Some(status) = installed_status() {
        panic!(
            "{PACKAGE} is already installed here ({status}); this test would replace and purge \
             it: remove it first (dpkg --purge {PACKAGE})"
        );
    }

    let _purge_on_failure = Installed;
    succeed("dpkg", &["--install", deb.to_str().unwrap()]);
    assert_eq!(installed_status().as_deref(), Some("install ok installed"));
    assert_eq!(
        succeed(BIN, &["--version"]).trim(),
        format!("okta-token-exporter {}", env!("CARGO_PKG_VERSION"))
    );
    for (installed, source) in &shipped() {
        assert!(
            std::fs::read(installed).unwrap()
                == std::fs::read(Path::new(ROOT).join(source)).unwrap(),
            "{installed} installed from {source}"
        );
    }
    let conffiles = succeed("dpkg-query", &["-W", "-f=${Conffiles}", PACKAGE]);
    assert!(
        conffiles
            .lines()
            .any(|l| l.split_whitespace().next() == Some(CONFFILE)),
        "dpkg keeps {CONFFILE} as a conffile: {conffiles}"
    );
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/okta-token-exporter.service")
            .exists(),
        "the unit is installed, not enabled: it needs the org and a token first"
    );

    succeed("dpkg", &["--remove", PACKAGE]);
    assert!(!Path::new(BIN).exists(), "dpkg -r removes the binary");
    assert!(!Path::new(UNIT).exists(), "dpkg -r removes the unit");
    assert!(!Path::new(SHARE).exists(), "dpkg -r removes {SHARE}");
    assert!(
        Path::new(CONFFILE).exists(),
        "dpkg -r keeps the conffile, for a later install"
    );
    assert_eq!(
        installed_status().as_deref(),
        Some("deinstall ok config-files")
    );

    succeed("dpkg", &["--purge", PACKAGE]);
    assert!(
        !Path::new("/etc/okta-token-exporter").exists(),
        "dpkg -P removes the conffile and its directory"
    );
    assert_eq!(installed_status(), None, "dpkg forgets the package");
}

/// Cargo hands each `cargo:rustc-env` of build.rs to the processes of `cargo test` too, and so to
/// the static build this file and the container's start (deploy/static-binary.sh). A variable
/// build.rs both sets that way and watches (`rerun-if-env-changed`) would look changed to that
/// build and rebuild the static binary at every switch between a shell and a test: one more
/// build of it in CI (it happened, with OKTA_EXPORTER_REVISION).
#[test]
fn the_static_build_a_test_starts_watches_no_variable_cargo_set_for_the_test() {
    let build_rs =
        std::fs::read_to_string(Path::new(ROOT).join("build.rs")).expect("read build.rs");
    let after = |marker: &str| -> BTreeSet<String> {
        build_rs
            .match_indices(marker)
            .map(|(at, _)| {
                build_rs[at + marker.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            })
            .collect()
    };
    let set = after("rustc-env=");
    let watched = after("rerun-if-env-changed=");
    assert!(
        set.contains("OKTA_EXPORTER_BUILD_REVISION") && watched.contains("OKTA_EXPORTER_REVISION"),
        "build.rs no longer reads as this test expects: sets {set:?}, watches {watched:?}"
    );
    // The mechanism is real: what build.rs set reaches this process.
    assert!(std::env::var_os("OKTA_EXPORTER_BUILD_REVISION").is_some());
    let both: Vec<_> = set.intersection(&watched).collect();
    assert!(both.is_empty(), "build.rs sets and watches {both:?}");
}
