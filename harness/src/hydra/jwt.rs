//! Validating the JWTs Hydra issues as a relying party must: the signature
//! against the published keys, then issuer, audience, expiry, and for an
//! ID token its `nonce` and `at_hash`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::error::{Error, Result};

/// A token's claims.
pub type Claims = Map<String, Value>;

/// What an ID token must say.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenExpect<'a> {
    pub issuer: &'a str,
    /// The client id.
    pub audience: &'a str,
    /// The `nonce` sent in the authorization request.
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// Seconds of clock skew allowed on `exp` and `iat` (60 is usual).
    pub leeway: u64,
}

fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Token {
        what,
        reason: reason.into(),
    }
}

/// Verifies the signature with the key the header's `kid` names (with the
/// key's own algorithm when it states one), the issuer, `exp` (with the
/// leeway), that `iat` and `sub` are there, and the audience if given.
fn verify(
    what: &'static str,
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    audience: Option<&str>,
    leeway: u64,
) -> Result<Claims> {
    let header = decode_header(token).map_err(|e| invalid(what, format!("not a JWT: {e}")))?;
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| invalid(what, "the header names no key (kid)"))?;
    let jwk = keys
        .find(kid)
        .ok_or_else(|| invalid(what, format!("key {kid} is not in the published keys")))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(what, format!("key {kid}: {e}")))?;
    if let Some(stated) = jwk.common.key_algorithm
        && format!("{stated:?}") != format!("{:?}", header.alg)
    {
        return Err(invalid(
            what,
            format!("signed with {:?}, key {kid} is for {stated:?}", header.alg),
        ));
    }
    let mut validation = Validation::new(header.alg);
    validation.leeway = leeway;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
    match audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| invalid(what, e.to_string()))
}

/// Validates an ID token (OpenID Connect Core 3.1.3.7 and 3.1.3.8).
pub fn validate_id_token(token: &str, keys: &JwkSet, expect: IdTokenExpect<'_>) -> Result<Claims> {
    const WHAT: &str = "id_token";
    let claims = verify(
        WHAT,
        token,
        keys,
        expect.issuer,
        Some(expect.audience),
        expect.leeway,
    )?;
    if let Some(nonce) = expect.nonce {
        match claims.get("nonce").and_then(Value::as_str) {
            Some(got) if got == nonce => {}
            got => {
                return Err(invalid(
                    WHAT,
                    format!("nonce {got:?}, the request sent {nonce:?}"),
                ));
            }
        }
    }
    if let Some(access_token) = expect.access_token {
        let alg = decode_header(token).map(|h| h.alg).ok();
        let want = at_hash_for(access_token, alg);
        match claims.get("at_hash").and_then(Value::as_str) {
            Some(got) if got == want => {}
            got => {
                return Err(invalid(
                    WHAT,
                    format!("at_hash {got:?} does not match the access token ({want})"),
                ));
            }
        }
    }
    Ok(claims)
}

/// Validates a JWT access token (Hydra's `jwt` strategy): signature,
/// issuer and lifetime.
pub fn validate_access_token(token: &str, keys: &JwkSet, issuer: &str) -> Result<Claims> {
    verify("access token", token, keys, issuer, None, 60)
}

/// `at_hash` of an RS256 (or other *256) token: the left half of the
/// access token's SHA-256, base64url.
pub fn at_hash(access_token: &str) -> String {
    at_hash_for(access_token, None)
}

/// `at_hash` with the hash of the token's algorithm (SHA-384 for *384,
/// SHA-512 for *512, else SHA-256).
fn at_hash_for(access_token: &str, alg: Option<jsonwebtoken::Algorithm>) -> String {
    use jsonwebtoken::Algorithm::{ES384, PS384, PS512, RS384, RS512};
    let digest: Vec<u8> = match alg {
        Some(RS384 | PS384 | ES384) => Sha384::digest(access_token.as_bytes()).to_vec(),
        Some(RS512 | PS512) => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}
