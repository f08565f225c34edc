//! The container image: `bash deploy/container/build.sh` builds it from the current code with
//! Debian's `buildah` (the `Dockerfile` at the root, `FROM scratch`) and tags it
//! `okta-token-exporter:dev`. It holds a statically linked binary, Mozilla's CA roots and the
//! user 65532 in /etc/passwd and /etc/group, nothing else (no shell, no layer of extra weight);
//! its config says who runs it, which port it serves and where it came from (OCI labels). Run
//! from the image's own root file system as uid 65532 (`chroot --userspec`, no container runtime
//! needed), the binary serves the demo's tokens and resolves a name from the image's /etc/hosts
//! without any of glibc's NSS modules: since glibc 2.34 its "files" and "dns" sources are part of
//! libc itself, static or not, and the image's /etc/nsswitch.conf says `hosts: files dns`.
//!
//! The tests build the image from the unoptimised `package-test` binary (Cargo.toml): what they
//! check is the packaging, which is the release's; the release image is about 15 MB.
//!
//! Needs root, `buildah` (Debian's `buildah`) and `chroot` (`coreutils`). Without them the tests
//! print a loud SKIPPED line and pass, except on CI (`CI=true`), where they fail. Each test works
//! on its own buildah container of the image, unmounted and removed even when the test fails.

use crate::common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BUILD: &str = "deploy/container/build.sh";
const IMAGE: &str = "okta-token-exporter:dev";
/// The binary, in the image and as the entrypoint.
const ENTRYPOINT: &str = "/okta-token-exporter";
const USER: &str = "65532:65532";
/// What the image may weigh beyond its files: the layer's tar headers and the config.
const MAX_IMAGE_OVERHEAD_BYTES: u64 = 64 * 1024;
/// Every file of the image.
const FILES: &[&str] = &[
    "etc/group",
    "etc/nsswitch.conf",
    "etc/passwd",
    "etc/ssl/certs/ca-certificates.crt",
    "okta-token-exporter",
];

// ---------------------------------------------------------------------------------------------
// Tools, the image and its containers
// ---------------------------------------------------------------------------------------------

/// Root, buildah and chroot, or a loud skip (a failure under `CI=true`).
fn can_build_and_enter_images() -> bool {
    let buildah = common::require_tool("buildah", "buildah").is_some();
    let chroot = common::require_tool("chroot", "coreutils").is_some();
    if !(buildah && chroot) {
        return false;
    }
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        let message = "SKIPPED: the container tests need root (buildah's vfs storage, chroot)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}: it is required under CI=true");
        }
        eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
        return false;
    }
    true
}

/// Runs `buildah --storage-driver vfs ARGS` and returns its standard output; panics on failure.
fn buildah(args: &[&str]) -> String {
    let out = Command::new("buildah")
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .expect("run buildah");
    assert!(
        out.status.success(),
        "buildah {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 from buildah")
}

/// The image, built once per test run by the build script from the current code (cargo's
/// incremental build and a `buildah bud` of a few files make a rebuild of unchanged code quick).
/// `None` when this machine cannot build it.
fn image() -> Option<&'static str> {
    if !can_build_and_enter_images() {
        return None;
    }
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let out = Command::new("bash")
            .arg(BUILD)
            .args(["--profile", "package-test"])
            .current_dir(ROOT)
            .output()
            .expect("run the build script");
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}\nstdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(failure) = built {
        panic!("bash {BUILD} failed: {failure}");
    }
    Some(IMAGE)
}

/// `buildah inspect --type image`: the image's OCI config and manifest.
fn inspect(image: &str) -> Value {
    serde_json::from_str(&buildah(&["inspect", "--type", "image", image])).expect("JSON")
}

/// A buildah working container of the image with its root file system mounted; unmounted and
/// removed on drop, so a failing test leaves nothing behind.
struct Mounted {
    name: String,
    root: PathBuf,
}

impl Mounted {
    fn new(image: &str, purpose: &str) -> Mounted {
        let name = format!("okta-token-exporter-test-{purpose}-{}", std::process::id());
        buildah(&["from", "--name", &name, image]);
        let mut container = Mounted {
            name,
            root: PathBuf::new(),
        };
        container.root = PathBuf::from(buildah(&["mount", &container.name]).trim());
        assert!(container.root.is_dir(), "mounted at {:?}", container.root);
        container
    }

    /// Runs `/okta-token-exporter ARGS` from the container's root as uid and gid 65532.
    fn exporter(&self, args: &[&str]) -> Command {
        let mut command = Command::new("chroot");
        command
            .arg(format!("--userspec={USER}"))
            .arg(&self.root)
            .arg(ENTRYPOINT)
            .args(args)
            .env_remove("OKTA_API_TOKEN");
        command
    }

    /// Writes a file into the container's root, owned by 65532 when `private` (mode 0600).
    fn write(&self, path: &str, content: &str, private: bool) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        if private {
            std::os::unix::fs::chown(&path, Some(65532), Some(65532)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for step in ["umount", "rm"] {
            let _ = Command::new("buildah")
                .args(["--storage-driver", "vfs", step, &self.name])
                .output();
        }
    }
}

/// A process started from the image; killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The relative paths of every file and symlink under `root`, sorted.
fn files_under(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(root).unwrap().to_owned();
                found.insert(relative.display().to_string());
            }
        }
    }
    found
}

/// Whether an ELF executable asks for a dynamic loader (a `PT_INTERP` program header).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF file");
    assert_eq!(elf[4], 2, "a 64-bit ELF file");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let header = phoff + i * phentsize;
        u32::from_le_bytes(elf[header..header + 4].try_into().unwrap()) == 3
    })
}

// ---------------------------------------------------------------------------------------------
// What the image is
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(all(tool_buildah, root)),
    ignore = "needs `buildah` and root: apt-get install buildah"
)]
fn the_image_runs_the_exporter_as_user_65532_on_port_9871_and_says_what_it_is() {
    let Some(image) = image() else { return };
    let inspected = inspect(image);
    let config = &inspected["OCIv1"]["config"];
    assert_eq!(config["User"], USER, "{config}");
    assert_eq!(config["Entrypoint"], serde_json::json!([ENTRYPOINT]));
    let ports: Vec<&String> = config["ExposedPorts"]
        .as_object()
        .expect("exposed ports")
        .keys()
        .collect();
    assert_eq!(ports, ["9871/tcp"]);

    let labels = &config["Labels"];
    let label = |name: &str| {
        labels[format!("org.opencontainers.image.{name}")]
            .as_str()
            .unwrap_or_else(|| panic!("no label org.opencontainers.image.{name}: {labels}"))
            .to_owned()
    };
    assert_eq!(label("title"), "okta-token-exporter");
    assert_eq!(label("description"), env!("CARGO_PKG_DESCRIPTION"));
    assert_eq!(label("licenses"), env!("CARGO_PKG_LICENSE"));
    assert_eq!(label("version"), env!("CARGO_PKG_VERSION"));
    assert!(!label("source").is_empty(), "{labels}");
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(ROOT)
        .output()
        .ok()
        .filter(|out| out.status.success());
    match head {
        Some(head) => assert_eq!(
            label("revision"),
            String::from_utf8_lossy(&head.stdout).trim()
        ),
        None => assert!(!label("revision").is_empty(), "{labels}"),
    }
}

#[test]
#[cfg_attr(
    not(all(tool_buildah, root)),
    ignore = "needs `buildah` and root: apt-get install buildah"
)]
fn the_image_is_a_static_binary_ca_roots_and_its_user_and_nothing_more() {
    let Some(image) = image() else { return };
    let manifest: Value =
        serde_json::from_str(inspect(image)["Manifest"].as_str().expect("manifest")).unwrap();
    let layers: u64 = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|layer| layer["size"].as_u64().expect("layer size"))
        .sum();
    let size = layers + manifest["config"]["size"].as_u64().expect("config size");

    let container = Mounted::new(image, "files");
    let root = &container.root;
    assert_eq!(
        files_under(root),
        FILES.iter().map(|f| f.to_string()).collect(),
        "the image holds the exporter, CA roots, users and name service config, and no shell"
    );
    let files: u64 = FILES
        .iter()
        .map(|file| std::fs::metadata(root.join(file)).unwrap().len())
        .sum();
    assert!(
        size <= files + MAX_IMAGE_OVERHEAD_BYTES,
        "the image is {size} bytes, more than its files ({files} bytes) and \
         {MAX_IMAGE_OVERHEAD_BYTES} bytes of headers: a layer carries weight beyond them"
    );
    for file in FILES {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(root.join(file)).unwrap();
        assert_eq!(meta.uid(), 0, "{file} belongs to root");
        assert_eq!(meta.mode() & 0o022, 0, "{file} is read-only to user 65532");
    }

    let binary = std::fs::read(root.join(ENTRYPOINT.trim_start_matches('/'))).unwrap();
    assert!(
        !has_interpreter(&binary),
        "the binary is statically linked: it needs no dynamic loader or libc in the image"
    );
    let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    assert!(
        read("etc/passwd")
            .lines()
            .any(|l| l.split(':').nth(2) == Some("65532") && l.split(':').nth(3) == Some("65532")),
        "user 65532 in /etc/passwd"
    );
    assert!(
        read("etc/group")
            .lines()
            .any(|l| l.split(':').nth(2) == Some("65532")),
        "group 65532 in /etc/group"
    );
    let roots = read("etc/ssl/certs/ca-certificates.crt")
        .matches("-----BEGIN CERTIFICATE-----")
        .count();
    assert!(
        roots > 100,
        "Mozilla's CA roots: found {roots} certificates"
    );
    assert!(
        read("etc/nsswitch.conf")
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["hosts:", "files", "dns"]),
        "/etc/hosts before DNS"
    );
}

// ---------------------------------------------------------------------------------------------
// The binary, run from the image's root as its user
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(all(tool_buildah, root)),
    ignore = "needs `buildah` and root: apt-get install buildah"
)]
fn from_the_images_root_as_user_65532_the_demo_serves_its_tokens() {
    let Some(image) = image() else { return };
    let container = Mounted::new(image, "demo");
    let mut child = container
        .exporter(&["demo", "--web.listen-address=127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chroot into the image");
    let stderr = child.stderr.take().unwrap();
    let exporter = Running(child);
    let (lines, listening) = (mpsc::channel(), mpsc::channel());
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("message=listening") {
                let _ = listening.0.send(common::logfmt_field(&line, "address"));
            }
            let _ = lines.0.send(line);
        }
    });
    let logs = || lines.1.try_iter().collect::<Vec<_>>().join("\n");
    let address = match listening.1.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(address)) => address,
        _ => panic!("the exporter did not start listening:\n{}", logs()),
    };

    let status = std::fs::read_to_string(format!("/proc/{}/status", exporter.0.id())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65532"; 4],
        "runs as user 65532: {uid}"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let (code, _, body) = common::http_get(&format!("http://{address}/metrics"));
        assert_eq!(code, 200);
        let samples = common::parse_metrics(&body);
        let up = common::find(&samples, "okta_up", &[("org", "demo")]);
        if up.first().is_some_and(|sample| sample.value == 1.0) {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "no tokens on /metrics:\n{body}\nlogs:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for status in ["green", "gray", "red", "yellow"] {
        assert!(
            common::value(&samples, "okta_api_tokens", &[("status", status)]) >= 1.0,
            "a {status} token on /metrics"
        );
    }
}

/// Accepts one connection on `listener` within `within` and returns the first bytes the client
/// sent (a TLS ClientHello, which names the server it wants in plain text), then hangs up.
fn first_bytes_of_one_connection(
    listener: TcpListener,
    within: Duration,
) -> std::thread::JoinHandle<Option<Vec<u8>>> {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + within;
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut hello = vec![0; 4096];
        let n = stream.read(&mut hello).unwrap_or(0);
        hello.truncate(n);
        Some(hello)
    })
}

#[test]
#[cfg_attr(
    not(all(tool_buildah, root)),
    ignore = "needs `buildah` and root: apt-get install buildah"
)]
fn a_name_in_the_images_etc_hosts_resolves_without_glibcs_nss_modules() {
    let Some(image) = image() else { return };
    let container = Mounted::new(image, "dns");
    // What a container runtime writes into /etc/hosts (docker --add-host, Kubernetes hostAliases).
    container.write(
        "/etc/hosts",
        "127.0.0.1 localhost\n127.0.0.1 okta.internal.test\n",
        false,
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    container.write(
        "/etc/okta-token-exporter/okta.token",
        "00container-dns-test\n",
        true,
    );
    let org = |name: &str, host: &str| {
        format!(
            "  - name: {name}\n    url: https://{host}:{port}\n    auth:\n      ssws:\n        token_file: /etc/okta-token-exporter/okta.token\n"
        )
    };
    container.write(
        "/etc/okta-token-exporter/config.yml",
        &format!(
            "http:\n  retries: 0\n  connect_timeout: 5s\n  request_timeout: 10s\norgs:\n{}{}",
            org("in-hosts", "okta.internal.test"),
            org("not-in-hosts", "absent.internal.test"),
        ),
        false,
    );
    let hello = first_bytes_of_one_connection(listener, Duration::from_secs(30));

    let out = container
        .exporter(&[
            "report",
            "--config.file=/etc/okta-token-exporter/config.yml",
        ])
        .output()
        .expect("chroot into the image");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "no org can be polled (nothing speaks TLS here):\n{stderr}"
    );
    let reason = |org: &str| {
        stderr
            .lines()
            .find(|l| l.contains(&format!("org {org} ")))
            .unwrap_or_else(|| panic!("no word on org {org}:\n{stderr}"))
            .to_owned()
    };
    assert!(
        reason("not-in-hosts").contains("dns error"),
        "a name that is nowhere fails to resolve:\n{stderr}"
    );
    let in_hosts = reason("in-hosts");
    assert!(
        !in_hosts.contains("dns error"),
        "okta.internal.test is in /etc/hosts: {in_hosts}"
    );
    let hello = hello
        .join()
        .unwrap()
        .unwrap_or_else(|| panic!("the exporter never connected to 127.0.0.1:{port}:\n{stderr}"));
    assert!(
        hello.windows(18).any(|w| w == b"okta.internal.test"),
        "the connection to 127.0.0.1 asked for okta.internal.test (TLS server name)"
    );
}
