//! The local token issuer: an RS256 key pair under `.local/issuer/` that stands in for
//! a Cognito user pool on a developer's machine.
//!
//! `apikeys-admin provision` creates it (once; an existing one is left alone),
//! `apikeys-admin token USER` prints a token for it, and the local API
//! (`infra/tools/local-api`) verifies its tokens against the JWKS derived here, the way API
//! Gateway's JWT authorizer verifies a real pool's tokens.
//!
//! The directory holds `private-key.pem` (PKCS#8, readable by its owner only) and
//! `issuer.json` (`iss`, `aud` and key id of the tokens). The public key set is
//! derived from the private key on load, so the two can never disagree.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Outcome;

/// Where `provision` puts the local issuer unless told otherwise.
pub const DEFAULT_ISSUER_DIR: &str = ".local/issuer";
/// The `iss` of local tokens. `.localhost` names are reserved for loopback (RFC 6761);
/// nothing is fetched from it: the local API reads the key set from the directory.
pub const LOCAL_ISSUER: &str = "https://apikeys.localhost/local-issuer";
/// The `aud` of local tokens (the stand-in for a Cognito app client id).
pub const LOCAL_AUDIENCE: &str = "apikeys-local";
/// The longest token `token` mints.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

const KEY_FILE: &str = "private-key.pem";
const META_FILE: &str = "issuer.json";
const MAX_USER_LEN: usize = 256;

/// Why the local issuer could not be created, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// Reading or writing a file of the issuer failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file of the issuer is not what `provision` writes.
    #[error("{path} is not a local issuer file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// There is no issuer in the directory yet.
    #[error("no local issuer in {0}; create it with `apikeys-admin provision`")]
    Missing(PathBuf),
    /// The key pair could not be generated or a token not signed.
    #[error("{0}")]
    Crypto(String),
    /// The user id or lifetime of a token is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
}

/// The non-secret description of the issuer, as `issuer.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerInfo {
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// The `aud` claim of its tokens.
    pub audience: String,
    /// The key id (`kid`) of its signing key: the RFC 7638 thumbprint of the public key.
    pub kid: String,
}

/// A loaded local issuer: can mint tokens and publish its key set.
pub struct LocalIssuer {
    info: IssuerInfo,
    jwks: Value,
    signing_key: EncodingKey,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("LocalIssuer")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl LocalIssuer {
    /// Loads the issuer in `dir`, or creates one there (a fresh 2048-bit RSA key) when
    /// there is none. An existing issuer is never replaced: tokens minted for it stay
    /// valid.
    pub fn provision(dir: &Path) -> Result<(Self, Outcome), IssuerError> {
        if dir.join(KEY_FILE).exists() {
            return Ok((Self::load(dir)?, Outcome::AlreadyPresent));
        }
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| IssuerError::Crypto("RSA key generation failed".into()))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| IssuerError::Crypto("RSA key encoding failed".into()))?;
        let pem = Zeroizing::new(pem_encode("PRIVATE KEY", pkcs8.as_ref()));
        let (jwk, kid) = public_jwk(&pair);
        let info = IssuerInfo {
            issuer: LOCAL_ISSUER.to_owned(),
            audience: LOCAL_AUDIENCE.to_owned(),
            kid,
        };
        std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        write_private(&dir.join(KEY_FILE), pem.as_bytes())?;
        let meta = serde_json::to_string_pretty(&info).unwrap_or_default();
        let meta_path = dir.join(META_FILE);
        std::fs::write(&meta_path, meta + "\n").map_err(|source| io(&meta_path, source))?;
        let signing_key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| IssuerError::Crypto(format!("the new key does not load: {e}")))?;
        let issuer = Self {
            jwks: json!({ "keys": [jwk] }),
            info,
            signing_key,
        };
        Ok((issuer, Outcome::Created))
    }

    /// Loads the issuer `provision` created in `dir`.
    pub fn load(dir: &Path) -> Result<Self, IssuerError> {
        let key_path = dir.join(KEY_FILE);
        if !key_path.exists() {
            return Err(IssuerError::Missing(dir.to_path_buf()));
        }
        let pem = Zeroizing::new(
            std::fs::read_to_string(&key_path).map_err(|source| io(&key_path, source))?,
        );
        let der = Zeroizing::new(pem_decode(&pem).ok_or_else(|| IssuerError::Corrupt {
            path: key_path.clone(),
            reason: "not a PEM private key".into(),
        })?);
        let pair = KeyPair::from_pkcs8(&der).map_err(|e| IssuerError::Corrupt {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
        let meta_path = dir.join(META_FILE);
        let meta = std::fs::read_to_string(&meta_path).map_err(|source| io(&meta_path, source))?;
        let info: IssuerInfo = serde_json::from_str(&meta).map_err(|e| IssuerError::Corrupt {
            path: meta_path.clone(),
            reason: e.to_string(),
        })?;
        let (jwk, kid) = public_jwk(&pair);
        if kid != info.kid {
            return Err(IssuerError::Corrupt {
                path: meta_path,
                reason: format!("kid {} does not belong to {KEY_FILE}", info.kid),
            });
        }
        let signing_key =
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| IssuerError::Corrupt {
                path: key_path,
                reason: e.to_string(),
            })?;
        Ok(Self {
            jwks: json!({ "keys": [jwk] }),
            info,
            signing_key,
        })
    }

    /// The issuer's `iss`, `aud` and key id.
    pub fn info(&self) -> &IssuerInfo {
        &self.info
    }

    /// The public key set (RFC 7517 JWK Set), as a JWKS endpoint serves it.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// A signed RS256 ID-style token for `user` (its `sub`), valid from now for `ttl`.
    pub fn token(&self, user: &str, ttl: Duration) -> Result<String, IssuerError> {
        self.token_with(&self.claims(user, ttl)?)
    }

    /// The claims `token` signs, to be changed by a caller that needs an odd token
    /// (tests of the verifier).
    pub fn claims(&self, user: &str, ttl: Duration) -> Result<Value, IssuerError> {
        let user = user.trim();
        if user.is_empty() || user.len() > MAX_USER_LEN || user.chars().any(char::is_control) {
            return Err(IssuerError::InvalidInput(format!(
                "the user must be 1 to {MAX_USER_LEN} characters without control characters"
            )));
        }
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(IssuerError::InvalidInput(
                "the lifetime must be more than 0 s and at most 7 days".into(),
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| IssuerError::Crypto(e.to_string()))?;
        Ok(json!({
            "sub": user,
            "iss": self.info.issuer,
            "aud": self.info.audience,
            "token_use": "id",
            "iat": now,
            "nbf": now,
            "exp": now + ttl.as_secs(),
            "jti": URL_SAFE_NO_PAD.encode(jti),
        }))
    }

    /// Signs any claims with the issuer's key (RS256, its `kid` in the header).
    pub fn token_with(&self, claims: &Value) -> Result<String, IssuerError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.info.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signing_key)
            .map_err(|e| IssuerError::Crypto(format!("signing failed: {e}")))
    }
}

/// Parses a token lifetime: a number of seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a lifetime such as 3600, 30m, 1h or 1d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(count.saturating_mul(unit)))
}

/// The options of `apikeys-admin provision` and `token` that name the issuer directory.
#[derive(Debug, Clone, clap::Args)]
pub struct IssuerDirArg {
    /// The directory of the local token issuer (RS256 key pair) for the local API.
    #[arg(
        long = "issuer-dir",
        env = "APIKEYS_LOCAL_ISSUER_DIR",
        default_value = DEFAULT_ISSUER_DIR
    )]
    pub dir: PathBuf,
}

/// `apikeys-admin token USER [--ttl 1h]`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user id: the token's `sub`.
    pub user: String,
    /// How long the token is valid: seconds, or with s, m, h or d (at most 7d).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    #[command(flatten)]
    pub issuer: IssuerDirArg,
}

/// Prints a token of the local issuer for `args.user` on stdout.
pub fn token_command(args: TokenArgs) -> Result<std::process::ExitCode, String> {
    let issuer = LocalIssuer::load(&args.issuer.dir).map_err(|e| e.to_string())?;
    let token = issuer
        .token(&args.user, args.ttl)
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// The provisioning step: creates the local issuer when missing and says so.
pub fn provision_command(arg: &IssuerDirArg) -> Result<(), String> {
    let (issuer, outcome) = LocalIssuer::provision(&arg.dir).map_err(|e| e.to_string())?;
    let info = issuer.info();
    println!(
        "issuer    {}: {outcome} ({})",
        info.issuer,
        arg.dir.display()
    );
    println!(
        "          RS256 key {}, audience {}; tokens: apikeys-admin token USER",
        info.kid, info.audience
    );
    Ok(())
}

/// The public JWK of a key pair and its RFC 7638 thumbprint (used as its `kid`).
fn public_jwk(pair: &KeyPair) -> (Value, String) {
    let public = pair.public_key();
    let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
    let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
    // RFC 7638: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let jwk = json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e });
    (jwk, kid)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn pem_decode(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).ok()
}

/// Writes a file only its owner can read (the private key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IssuerError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| io(path, source))?;
    file.write_all(bytes).map_err(|source| io(path, source))
}

fn io(path: &Path, source: std::io::Error) -> IssuerError {
    IssuerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_takes_seconds_and_units() {
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_ttl("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn provision_creates_once_and_reloads_the_same_key() {
        let dir = std::env::temp_dir().join(format!("apikeys-issuer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (first, outcome) = LocalIssuer::provision(&dir).unwrap();
        assert_eq!(outcome, Outcome::Created);
        let (again, outcome) = LocalIssuer::provision(&dir).unwrap();
        assert_eq!(outcome, Outcome::AlreadyPresent);
        assert_eq!(first.info(), again.info());
        assert_eq!(first.jwks(), again.jwks());
        assert_eq!(first.jwks()["keys"][0]["kid"], first.info().kid.as_str());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the private key is readable by others");
        }
        let token = again.token("alice", Duration::from_secs(60)).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert!(again.token(" ", Duration::from_secs(60)).is_err());
        assert!(again.token("alice", Duration::ZERO).is_err());
        assert!(!format!("{again:?}").contains("PRIVATE"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
