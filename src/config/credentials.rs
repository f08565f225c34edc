//! Credentials in the configuration: API tokens from files or environment variables, the OAuth
//! 2.0 app's private key, the secrets of kept-alive tokens. Each is read once, at load, with a
//! warning when a file is readable by others; none is ever printed.

use std::path::{Path, PathBuf};

use super::*;

pub(super) fn resolve_ssws(
    ssws: &RawSsws,
    at: &Locator,
    auth: &Spanned<RawAuth>,
    key: &str,
) -> Result<Auth, ConfigError> {
    let token = read_token_source(&ssws.token_file, &ssws.token_env, at, auth, key)?;
    Ok(Auth::Ssws { token })
}

/// The API token named by exactly one of `token_file` and `token_env` of the setting at `key`.
fn read_token_source<T>(
    file: &Option<Spanned<PathBuf>>,
    env: &Option<Spanned<String>>,
    at: &Locator,
    setting: &Spanned<T>,
    key: &str,
) -> Result<Secret, ConfigError> {
    match (file, env) {
        (Some(file), None) => {
            read_token_file(&file.value).map_err(|e| at.at(file, format!("{key}.token_file"), e.to_string()))
        }
        (None, Some(env)) => read_token_env(&env.value).map_err(|e| at.at(env, format!("{key}.token_env"), e.to_string())),
        (Some(file), Some(_)) => Err(at.at(file, key, "set either token_file or token_env, not both")),
        (None, None) => Err(at.at(setting, key, "set token_file (a file holding the API token) or token_env (an environment variable holding it)")),
    }
}

/// The `keepalive:` list of an org: each token id once, each with its own token, none of them
/// the exporter's own. Ids are not checked against Okta here: an unknown id is reported once the
/// org is polled.
pub(super) fn resolve_keepalive(
    list: &[Spanned<RawKeepAlive>],
    at: &Locator,
    key: &str,
    auth: &Auth,
) -> Result<Vec<KeepAliveToken>, ConfigError> {
    let mut resolved: Vec<KeepAliveToken> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let raw = &entry.value;
        let token_id = raw.token_id.value.trim();
        if token_id.is_empty() || !token_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(at.at(
                &raw.token_id,
                format!("{key}.token_id"),
                format!("{token_id:?} is not an Okta token id; copy the id from the token's row in the admin console or from /api/v1/tokens (e.g. 00T1a2b3c4d5e6f7g8h9)"),
            ));
        }
        if let Some(first) = resolved.iter().position(|k| k.token_id == token_id) {
            return Err(at.at(
                &raw.token_id,
                format!("{key}.token_id"),
                format!("token {token_id} is listed twice, already as keepalive[{first}]"),
            ));
        }
        let secret = read_token_source(&raw.token_file, &raw.token_env, at, entry, &key)?;
        let at_source = |message: String| match (&raw.token_file, &raw.token_env) {
            (Some(file), _) => at.at(file, format!("{key}.token_file"), message),
            (None, Some(env)) => at.at(env, format!("{key}.token_env"), message),
            (None, None) => at.at(entry, key.clone(), message),
        };
        if let Some(first) = resolved.iter().position(|k| k.secret == secret) {
            return Err(at_source(format!("holds the same token as keepalive[{first}]; each entry needs the secret of its own token")));
        }
        if matches!(auth, Auth::Ssws { token } if *token == secret) {
            return Err(at_source("holds the exporter's own API token for this org, which every poll uses already; list only other tokens".into()));
        }
        let when_expires_within = match &raw.when_expires_within {
            Some(v) => parse_interval(&v.value)
                .map_err(|m| at.at(v, format!("{key}.when_expires_within"), m))?,
            None => DEFAULT_KEEPALIVE_WITHIN,
        };
        let source = match (&raw.token_file, &raw.token_env) {
            (Some(file), _) => file.value.display().to_string(),
            (None, Some(env)) => format!("${}", env.value),
            (None, None) => String::new(),
        };
        resolved.push(KeepAliveToken {
            token_id: token_id.to_owned(),
            secret,
            when_expires_within,
            source,
        });
    }
    Ok(resolved)
}

pub(super) fn resolve_oauth2(
    raw: &RawOAuth2,
    at: &Locator,
    key: &str,
) -> Result<Auth, ConfigError> {
    let client_id = raw.client_id.value.trim();
    if client_id.is_empty() {
        return Err(at.at(
            &raw.client_id,
            format!("{key}.client_id"),
            "must not be empty; copy the app's Client ID from the Okta admin console",
        ));
    }
    let private_key = read_private_key_file(&raw.private_key_file.value).map_err(|e| {
        at.at(
            &raw.private_key_file,
            format!("{key}.private_key_file"),
            e.to_string(),
        )
    })?;
    let key_id = match &raw.key_id {
        Some(kid) if kid.value.trim().is_empty() => {
            return Err(at.at(
                kid,
                format!("{key}.key_id"),
                "must not be empty; leave it out when the app has one key",
            ))
        }
        Some(kid) => Some(kid.value.trim().to_owned()),
        None => None,
    };
    let scopes = match &raw.scopes {
        Some(scopes) => {
            if scopes.value.is_empty() {
                return Err(at.at(
                    scopes,
                    format!("{key}.scopes"),
                    "the list is empty; the exporter needs at least okta.apiTokens.read",
                ));
            }
            if let Some(bad) = scopes
                .value
                .iter()
                .find(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                return Err(at.at(
                    scopes,
                    format!("{key}.scopes"),
                    format!("{bad:?} is not a scope; write one scope per list item"),
                ));
            }
            scopes.value.clone()
        }
        None => DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    };
    Ok(Auth::OAuth2(OAuth2Settings {
        client_id: client_id.to_owned(),
        private_key: std::sync::Arc::new(private_key),
        key_id,
        scopes,
    }))
}

/// Why a credential (an API token, a service app's private key) cannot be read. The messages
/// name the file or variable, never what it holds.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read the {what} {}: {source}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {} is empty", path.display())]
    EmptyFile { path: PathBuf },
    #[error("the token file {} holds whitespace inside the token; it must hold the token alone", path.display())]
    WhitespaceInside { path: PathBuf },
    #[error("{}: {source}", path.display())]
    NotAKey {
        path: PathBuf,
        source: crate::jose::KeyError,
    },
    #[error("the environment variable {name} is empty")]
    EmptyVariable { name: String },
    #[error("the environment variable {name} is not set")]
    UnsetVariable { name: String },
    #[error("{} starts with ${{{CREDENTIALS_DIRECTORY}}}, which systemd sets only inside a service with LoadCredential=; to check the file outside the service, set it to the directory that holds the credential files, e.g. CREDENTIALS_DIRECTORY=/etc/okta-token-exporter", path.display())]
    NoCredentialsDirectory { path: PathBuf },
}

/// The variable systemd sets to the directory of a service's credentials (`LoadCredential=`).
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// A credential path with a leading `${CREDENTIALS_DIRECTORY}` (or `$CREDENTIALS_DIRECTORY`)
/// replaced by systemd's directory of the service's credentials, so that one config file works
/// inside the service and, for `--config.check`, outside it. No other variable is expanded.
pub fn credential_path(path: &Path) -> Result<PathBuf, CredentialError> {
    expand_credentials_directory(path, std::env::var_os(CREDENTIALS_DIRECTORY))
}

/// [`credential_path`] with the variable's value given.
fn expand_credentials_directory(
    path: &Path,
    directory: Option<std::ffi::OsString>,
) -> Result<PathBuf, CredentialError> {
    let text = path.to_string_lossy();
    let rest = ["${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .filter(|rest| rest.is_empty() || rest.starts_with('/'));
    let Some(rest) = rest else {
        return Ok(path.to_owned());
    };
    match directory {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(rest.trim_start_matches('/'))),
        _ => Err(CredentialError::NoCredentialsDirectory {
            path: path.to_owned(),
        }),
    }
}

/// Reads the PEM private key of an OAuth 2.0 service app (RSA, or EC P-256 in PKCS#8), at a
/// [`credential_path`].
pub fn read_private_key_file(path: &Path) -> Result<crate::jose::SigningKey, CredentialError> {
    let (path, pem) = read_secret_file(path, "private key file")?;
    crate::jose::SigningKey::from_pem(pem.expose())
        .map_err(|source| CredentialError::NotAKey { path, source })
}

/// The file at a [`credential_path`] and what it holds, said when any user may read it.
fn read_secret_file(path: &Path, what: &'static str) -> Result<(PathBuf, Secret), CredentialError> {
    let path = credential_path(path)?;
    let text = std::fs::read_to_string(&path).map_err(|source| CredentialError::Unreadable {
        what,
        path: path.clone(),
        source,
    })?;
    warn_if_readable_by_others(&path);
    Ok((path, Secret::new(text)))
}

/// Reads an API token from a file (a [`credential_path`]): the trailing newline is trimmed, an
/// empty file is an error, and a file that any user may read gets a warning.
pub fn read_token_file(path: &Path) -> Result<Secret, CredentialError> {
    let (path, text) = read_secret_file(path, "token file")?;
    let token = text.expose().trim_end_matches(['\n', '\r']);
    if token.trim().is_empty() {
        return Err(CredentialError::EmptyFile { path });
    }
    if token.chars().any(char::is_whitespace) {
        return Err(CredentialError::WhitespaceInside { path });
    }
    Ok(Secret::new(token))
}

/// Reads an API token from an environment variable.
pub fn read_token_env(name: &str) -> Result<Secret, CredentialError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim())),
        Ok(_) => Err(CredentialError::EmptyVariable { name: name.into() }),
        Err(_) => Err(CredentialError::UnsetVariable { name: name.into() }),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        // Group-readable is how Kubernetes hands a Secret to a non-root user (fsGroup, mode
        // 0440), and a group of the exporter's user alone is no leak: only others are said.
        if mode & 0o007 != 0 {
            tracing::warn!(file = %path.display(), mode = format!("{:o}", mode & 0o777), "the file holds a secret and is readable by others, any user of this machine; chmod 600 it (or 640 with a group of the exporter's user alone)");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leading_credentials_directory_is_expanded() {
        let dir = Some(std::ffi::OsString::from("/run/credentials/x.service"));
        let cases: [(&str, Option<&str>); 7] = [
            (
                "${CREDENTIALS_DIRECTORY}/okta.token",
                Some("/run/credentials/x.service/okta.token"),
            ),
            (
                "$CREDENTIALS_DIRECTORY/okta.token",
                Some("/run/credentials/x.service/okta.token"),
            ),
            (
                "/etc/okta-token-exporter/okta.token",
                Some("/etc/okta-token-exporter/okta.token"),
            ),
            (
                "${CREDENTIALS_DIRECTORY}x/okta.token",
                Some("${CREDENTIALS_DIRECTORY}x/okta.token"),
            ),
            (
                "/etc/${CREDENTIALS_DIRECTORY}/t",
                Some("/etc/${CREDENTIALS_DIRECTORY}/t"),
            ),
            ("${HOME}/okta.token", Some("${HOME}/okta.token")),
            (
                "${CREDENTIALS_DIRECTORY}",
                Some("/run/credentials/x.service"),
            ),
        ];
        for (given, want) in cases {
            let got = expand_credentials_directory(Path::new(given), dir.clone()).ok();
            assert_eq!(got.as_deref(), want.map(Path::new), "{given}");
        }
    }

    #[test]
    fn outside_systemd_the_error_says_how_to_check_the_file() {
        for unset in [None, Some(std::ffi::OsString::new())] {
            let error = expand_credentials_directory(
                Path::new("${CREDENTIALS_DIRECTORY}/okta.token"),
                unset,
            )
            .unwrap_err()
            .to_string();
            assert!(
                error.starts_with("${CREDENTIALS_DIRECTORY}/okta.token starts with ${CREDENTIALS_DIRECTORY}, which systemd sets only inside a service"),
                "{error}"
            );
            assert!(
                error.contains("CREDENTIALS_DIRECTORY=/etc/okta-token-exporter"),
                "{error}"
            );
        }
    }
}
