//! The simulated org's OAuth 2.0 authorization server: the client-credentials grant with
//! `private_key_jwt`, DPoP, and scopes per endpoint, checked as strictly as Okta documents.
//!
//! The token endpoint verifies the client assertion's signature against the app's public key,
//! its `kid`, `iss`, `sub`, `aud`, `exp` (at most an hour ahead) and that its `jti` was never
//! used before. With DPoP required, it verifies the proof (signature by the embedded key, `typ`,
//! `htm`, `htu`, `iat` within five minutes, a fresh `jti`, the current nonce: the first request
//! gets `use_dpop_nonce`) and binds the access token to the key's thumbprint. API calls then need
//! the token, unexpired, a proof by the same key with the right `ath`, and the endpoint's scope.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use hyper::header::HeaderMap;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};

use crate::jose::{self, VerifyingKey};
use crate::Clock;

/// Whether the app requires DPoP-bound tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimDpop {
    /// Every token request and API call needs a proof; tokens are `DPoP`.
    Required,
    /// Proofs are ignored; tokens are `Bearer`.
    Off,
}

/// An API Services app registered in the simulated org.
pub struct SimOAuthApp {
    pub client_id: String,
    /// The public key registered on the app, as a JWK.
    pub public_jwk: Value,
    /// The `kid` registered with it; assertions must name it when set.
    pub key_id: Option<String>,
    pub granted_scopes: Vec<String>,
    pub dpop: SimDpop,
    pub token_lifetime: Duration,
    /// The simulated org's clock, shared with the client under test.
    pub clock: Clock,
}

/// An answer of the authorization server: status, JSON body, extra headers.
pub struct OAuthAnswer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

struct Issued {
    scopes: Vec<String>,
    /// The DPoP key's thumbprint the token is bound to.
    jkt: Option<String>,
    expires_at: SystemTime,
}

/// What the server remembers: used `jti`s, issued tokens, the current nonce.
pub struct OAuthServer {
    app: SimOAuthApp,
    assertion_key: VerifyingKey,
    assertion_thumbprint: String,
    assertion_jtis: HashSet<String>,
    proof_jtis: HashSet<String>,
    issued: HashMap<String, Issued>,
    nonce: String,
    /// Token requests answered, by `error` (or `success`), for tests.
    pub outcomes: Vec<String>,
}

const PROOF_MAX_AGE: i64 = 300;

impl OAuthServer {
    /// Registers the app; its key must be a public RSA or P-256 JWK.
    pub fn new(app: SimOAuthApp) -> Result<OAuthServer, String> {
        let assertion_key =
            VerifyingKey::from_public_jwk(&app.public_jwk).map_err(|e| e.to_string())?;
        let assertion_thumbprint =
            jose::jwk_thumbprint(&app.public_jwk).map_err(|e| e.to_string())?;
        Ok(OAuthServer {
            app,
            assertion_key,
            assertion_thumbprint,
            assertion_jtis: HashSet::new(),
            proof_jtis: HashSet::new(),
            issued: HashMap::new(),
            nonce: random(22),
            outcomes: Vec::new(),
        })
    }

    /// Forgets every access token issued, as when an admin revokes them.
    pub fn revoke_access_tokens(&mut self) {
        self.issued.clear();
    }

    /// Changes the nonce the server expects, as Okta does from time to time.
    pub fn rotate_nonce(&mut self) {
        self.nonce = random(22);
    }

    fn now(&self) -> SystemTime {
        (self.app.clock)()
    }

    /// `POST /oauth2/v1/token` with this form body.
    pub fn token_request(
        &mut self,
        headers: &HeaderMap,
        form: &[u8],
        token_url: &str,
    ) -> OAuthAnswer {
        let answer = self.grant(headers, form, token_url);
        let outcome = answer.body["error"]
            .as_str()
            .unwrap_or("success")
            .to_owned();
        self.outcomes.push(outcome);
        answer
    }

    fn grant(&mut self, headers: &HeaderMap, form: &[u8], token_url: &str) -> OAuthAnswer {
        let fields: HashMap<String, String> =
            url::form_urlencoded::parse(form).into_owned().collect();
        let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
        if field("grant_type") != "client_credentials" {
            return oauth_error(
                400,
                "unsupported_grant_type",
                "The grant type is not supported.",
            );
        }
        if field("client_assertion_type") != jose::CLIENT_ASSERTION_TYPE {
            return oauth_error(
                401,
                "invalid_client",
                "client_assertion_type is missing or wrong.",
            );
        }
        if let Err(description) = self.check_assertion(field("client_assertion"), token_url) {
            return oauth_error(401, "invalid_client", &description);
        }
        let requested: Vec<String> = field("scope")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let refused: Vec<&str> = requested
            .iter()
            .filter(|s| !self.app.granted_scopes.contains(s))
            .map(String::as_str)
            .collect();
        if requested.is_empty() || !refused.is_empty() {
            return oauth_error(
                400,
                "invalid_scope",
                &format!(
                    "The following scopes are not allowed: {}",
                    refused.join(" ")
                ),
            );
        }
        let (jkt, token_type) = match self.app.dpop {
            SimDpop::Off => (None, "Bearer"),
            SimDpop::Required => {
                let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
                match self.check_proof(proof, "POST", token_url, None) {
                    Ok(jkt) => (Some(jkt), "DPoP"),
                    Err(answer) => return answer,
                }
            }
        };
        let access_token = random(40);
        let expires_at = self.now() + self.app.token_lifetime;
        self.issued.insert(
            access_token.clone(),
            Issued {
                scopes: requested.clone(),
                jkt,
                expires_at,
            },
        );
        OAuthAnswer {
            status: 200,
            body: json!({
                "token_type": token_type,
                "expires_in": self.app.token_lifetime.as_secs(),
                "access_token": access_token,
                "scope": requested.join(" "),
            }),
            headers: Vec::new(),
        }
    }

    fn check_assertion(&mut self, assertion: &str, token_url: &str) -> Result<(), String> {
        let (header, claims) = jose::verify_jwt(assertion, &self.assertion_key)
            .map_err(|e| format!("The client_assertion signature is invalid: {e}"))?;
        if let Some(kid) = &self.app.key_id {
            if header.get("kid").and_then(Value::as_str) != Some(kid) {
                return Err(
                    "The client_assertion kid does not match a key registered on the app.".into(),
                );
            }
        }
        let claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
        if claim("iss") != self.app.client_id || claim("sub") != self.app.client_id {
            return Err("The client_assertion iss and sub must be the client_id.".into());
        }
        if claim("aud") != token_url {
            return Err(format!(
                "The audience of the client_assertion must be {token_url}."
            ));
        }
        let now = jose::unix_seconds(self.now());
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= now {
            return Err("The client_assertion token is expired.".into());
        }
        if exp > now + 3600 {
            return Err(
                "The client_assertion token has an expiration too far into the future.".into(),
            );
        }
        let jti = claim("jti");
        if jti.is_empty() || !self.assertion_jtis.insert(jti.to_owned()) {
            return Err("The client_assertion token has already been used (jti).".into());
        }
        Ok(())
    }

    /// Checks a DPoP proof; returns the thumbprint of its key.
    fn check_proof(
        &mut self,
        proof: Option<&str>,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, OAuthAnswer> {
        let invalid = |description: &str| oauth_error(400, "invalid_dpop_proof", description);
        let proof = proof.ok_or_else(|| invalid("The DPoP proof JWT header is missing."))?;
        let header = jose::decode_unverified_header(proof)
            .map_err(|e| invalid(&format!("The DPoP proof is not a JWT: {e}")))?;
        if header.get("typ").and_then(Value::as_str) != Some(jose::DPOP_JWT_TYPE) {
            return Err(invalid("The DPoP proof typ must be dpop+jwt."));
        }
        let jwk = header
            .get("jwk")
            .cloned()
            .ok_or_else(|| invalid("The DPoP proof has no jwk."))?;
        let key = VerifyingKey::from_public_jwk(&jwk)
            .map_err(|e| invalid(&format!("The DPoP proof jwk is unusable: {e}")))?;
        let thumbprint = jose::jwk_thumbprint(&jwk).map_err(|e| invalid(&e.to_string()))?;
        if thumbprint == self.assertion_thumbprint {
            return Err(invalid(
                "The DPoP proof must not be signed with the client assertion key.",
            ));
        }
        let (_, claims) = jose::verify_jwt(proof, &key)
            .map_err(|e| invalid(&format!("The DPoP proof signature is invalid: {e}")))?;
        let claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
        if claim("htm") != method {
            return Err(invalid(
                "The DPoP proof htm does not match the request method.",
            ));
        }
        if claim("htu") != url {
            return Err(invalid(&format!(
                "The DPoP proof htu {:?} does not match {url}.",
                claim("htu")
            )));
        }
        let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
        if (jose::unix_seconds(self.now()) - iat).abs() > PROOF_MAX_AGE {
            return Err(invalid("The DPoP proof iat is outside the allowed window."));
        }
        if let Some(token) = access_token {
            if claim("ath") != jose::ath(token) {
                return Err(invalid(
                    "The DPoP proof ath does not match the access token.",
                ));
            }
        }
        // Okta's authorization server wants its nonce; its APIs do not ask for one.
        if access_token.is_none() && claim("nonce") != self.nonce {
            let mut answer = oauth_error(
                400,
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof.",
            );
            answer.headers.push(("DPoP-Nonce", self.nonce.clone()));
            return Err(answer);
        }
        let jti = claim("jti");
        if jti.is_empty() || !self.proof_jtis.insert(jti.to_owned()) {
            return Err(invalid("The DPoP proof jti has already been used."));
        }
        Ok(thumbprint)
    }

    /// Checks an API call's `Authorization` (and `DPoP`) headers for `method url` (no query);
    /// `scope` is the endpoint's. `Err` is the 401 or 403 to answer.
    pub fn check_api_call(
        &mut self,
        headers: &HeaderMap,
        method: &str,
        url: &str,
        scope: &str,
    ) -> Result<(), OAuthAnswer> {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (scheme, token) = authorization.split_once(' ').unwrap_or(("", ""));
        let unauthorized = |error: &str, description: &str| {
            let mut answer = oauth_error(401, error, description);
            answer.headers.push((
                "WWW-Authenticate",
                format!("{scheme} error=\"{error}\", error_description=\"{description}\""),
            ));
            answer
        };
        let Some(issued) = self.issued.get(token) else {
            return Err(unauthorized(
                "invalid_token",
                "The access token is invalid.",
            ));
        };
        if self.now() >= issued.expires_at {
            return Err(unauthorized(
                "invalid_token",
                "The access token is expired.",
            ));
        }
        let (jkt, scopes) = (issued.jkt.clone(), issued.scopes.clone());
        match (&jkt, scheme) {
            (Some(_), "DPoP") | (None, "Bearer") => {}
            _ => {
                return Err(unauthorized(
                    "invalid_token",
                    "The token type does not match the Authorization scheme.",
                ))
            }
        }
        if let Some(jkt) = jkt {
            let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
            match self.check_proof(proof, method, url, Some(token)) {
                Ok(thumbprint) if thumbprint == jkt => {}
                Ok(_) => {
                    return Err(unauthorized(
                        "invalid_dpop_proof",
                        "The DPoP proof key is not the one the token is bound to.",
                    ))
                }
                Err(mut answer) => {
                    answer.status = 401;
                    return Err(answer);
                }
            }
        }
        if !scopes.iter().any(|s| s == scope) {
            let mut answer = oauth_error(
                403,
                "insufficient_scope",
                "The access token provided does not contain the required scopes.",
            );
            answer.headers.push((
                "WWW-Authenticate",
                format!("{scheme} error=\"insufficient_scope\", scope=\"{scope}\""),
            ));
            return Err(answer);
        }
        Ok(())
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> OAuthAnswer {
    OAuthAnswer {
        status,
        body: json!({"error": error, "error_description": description}),
        headers: Vec::new(),
    }
}

fn random(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), n)
}
