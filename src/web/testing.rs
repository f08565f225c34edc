//! What the unit tests of the web plumbing share: files written to a directory, basic auth
//! headers, certificates.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hyper::header::HeaderValue;

use super::WebConfigFile;

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub(super) fn basic(user: &str, password: &str) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
}

pub(super) fn auth_with(users: &[(&str, &str)]) -> (tempfile::TempDir, WebConfigFile) {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("basic_auth_users:\n");
    for (user, password) in users {
        yaml.push_str(&format!(
            "  {user}: {}\n",
            bcrypt::hash(password, 4).unwrap()
        ));
    }
    let path = write(dir.path(), "web.yml", &yaml);
    let file = WebConfigFile::load(&path).unwrap();
    (dir, file)
}

/// Writes a self-signed certificate and its key as `{name}.crt` and `{name}.key`.
pub(super) fn write_certificate(dir: &Path, name: &str) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    write(dir, &format!("{name}.crt"), &certified.cert.pem());
    write(
        dir,
        &format!("{name}.key"),
        &certified.signing_key.serialize_pem(),
    );
}

/// A self-signed certificate and its key, as PEM indented to sit in a YAML block scalar.
pub(super) fn inline_certificate() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let indent = |pem: String| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    (
        indent(certified.cert.pem()),
        indent(certified.signing_key.serialize_pem()),
    )
}
