//! The three endpoints of the KBS attestation protocol. Each handler validates everything it was sent
//! before it touches the store: the only writes are the one-use challenge mark (after the evidence
//! passed) and the re-sealed cookie, so a refused request changes nothing.
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;

use super::Config;
use super::error::ApiError;
use crate::attest;
use crate::jwe;
use crate::protocol::{
    Attestation, AttestationToken, Challenge, PROTOCOL_VERSION, Request, SESSION_COOKIE, TEE_SVSM,
    TokenClaims,
};
use crate::session::{Session, SessionError};
use crate::store::ResourcePath;
use crate::token::{self, ISSUER, TokenError};

/// `POST /kbs/v0/auth`: a fresh challenge in a fresh signed session.
pub async fn auth(
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: Request = json_body(&headers, body)?;
    if request.version != PROTOCOL_VERSION {
        let detail =
            format!("protocol version {:?}; this service speaks {PROTOCOL_VERSION}", request.version);
        return Err(ApiError::bad_request("protocol-version", detail));
    }
    if request.tee != TEE_SVSM {
        return Err(ApiError::bad_request(
            "unsupported-tee",
            format!("tee {:?}; only \"svsm\"", request.tee),
        ));
    }
    let nonce = STANDARD.encode(random::<32>());
    let session = Session {
        id: hex::encode(random::<16>()),
        nonce: nonce.clone(),
        tee: request.tee,
        expires: crate::now() + config.session_seconds,
        token: None,
    };
    let cookie = set_cookie(&config, &session)?;
    Ok((cookie, Json(Challenge { nonce, extra_params: String::new() })).into_response())
}

/// `POST /kbs/v0/attest`: evidence bound to the challenge → an attestation token.
pub async fn attest(
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let session = session(&config, &headers, "challenge-expired")?.ok_or_else(|| {
        ApiError::unauthorized("session-missing", "no kbs-session-id cookie: POST /kbs/v0/auth first")
    })?;
    if session.token.is_some() {
        return Err(ApiError::unauthorized(
            "challenge-replayed",
            "this session's challenge was already used",
        ));
    }
    let attestation: Attestation = json_body(&headers, body)?;
    let runtime_data = &attestation.runtime_data;
    if runtime_data.nonce != session.nonce {
        return Err(ApiError::bad_request(
            "nonce-mismatch",
            "runtime-data.nonce is not this session's challenge",
        ));
    }
    jwe::validate_recipient(&runtime_data.tee_pubkey)
        .map_err(|e| ApiError::bad_request("invalid-tee-pubkey", e.to_string()))?;
    let svsm_nonce = runtime_data.svsm_nonce().map_err(ApiError::internal)?;
    let evidence = attestation
        .tee_evidence
        .decode(&svsm_nonce)
        .map_err(|e| ApiError::bad_request("invalid-evidence-encoding", e.to_string()))?;
    let references = config.store.reference_values().await.map_err(ApiError::internal)?;
    let roots = config.roots.clone();
    // RSA-4096 and P-384 signature checks: milliseconds of CPU, kept off the async workers.
    let verdict = tokio::task::spawn_blocking(move || attest::evaluate(&evidence, &roots, &references))
        .await
        .map_err(ApiError::internal)?;
    let attested =
        verdict.map_err(|rejected| ApiError::unauthorized(rejected.check.name(), rejected.detail))?;
    // The evidence passed: only now is the challenge spent, once across every replica.
    if !config.store.consume_challenge(&session.id, session.expires).await.map_err(ApiError::internal)? {
        return Err(ApiError::unauthorized(
            "challenge-replayed",
            "this session's challenge was already used",
        ));
    }
    let now = crate::now();
    let claims = TokenClaims {
        iss: ISSUER.into(),
        iat: now,
        exp: now + config.session_seconds,
        jti: hex::encode(random::<16>()),
        session: session.id.clone(),
        tee_pubkey: runtime_data.tee_pubkey.clone(),
        verdict: "pass".into(),
        measurement: hex::encode(attested.measurement),
        policy: format!("{:#x}", attested.policy),
        reported_tcb: attested.reported_tcb,
        vmpl: attested.vmpl,
        debug: attested.debug,
        ek: hex::encode(&attested.ek),
        reference_values: attested.reference_values,
    };
    let token = config.token_key.sign(&claims);
    let session = Session { expires: claims.exp, token: Some(token.clone()), ..session };
    Ok((set_cookie(&config, &session)?, Json(AttestationToken { token })).into_response())
}

/// `GET /kbs/v0/resource/<repo>/<type>/<tag>`: the secret as a JWE to the token's tee-pubkey, if the
/// token's claims satisfy the resource's policy.
pub async fn resource(
    State(config): State<Arc<Config>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let session = session(&config, &headers, "session-expired")?;
    let token = match (bearer(&headers)?, &session) {
        (Some(token), _) => token.to_owned(),
        (None, Some(Session { token: Some(token), .. })) => token.clone(),
        _ => return Err(ApiError::unauthorized("token-missing", "no attestation token: attest first")),
    };
    let claims =
        token::verify(&token, &config.token_key.verifying_key(), crate::now()).map_err(|e| match e {
            TokenError::Invalid => ApiError::unauthorized("invalid-token", e.to_string()),
            TokenError::Expired => ApiError::unauthorized("token-expired", e.to_string()),
        })?;
    if let Some(session) = &session
        && session.id != claims.session
    {
        return Err(ApiError::unauthorized(
            "token-session-mismatch",
            "the token was issued to another session",
        ));
    }
    let Path((repo, kind, tag)) =
        path.map_err(|e| ApiError::bad_request("invalid-resource-path", e.body_text()))?;
    let path = ResourcePath::new(&repo, &kind, &tag)
        .map_err(|e| ApiError::bad_request("invalid-resource-path", e.to_string()))?;
    let not_found =
        || ApiError::new(StatusCode::NOT_FOUND, "resource-not-found", format!("no resource {path}"));
    let resource = config.store.resource(&path).await.map_err(ApiError::internal)?.ok_or_else(not_found)?;
    let refused = |detail: String| ApiError::new(StatusCode::FORBIDDEN, "policy-not-satisfied", detail);
    let policy = config
        .store
        .policy(&resource.policy_name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| refused(format!("policy {:?} of {path} is not stored", resource.policy_name)))?;
    policy.admits(&claims).map_err(|e| refused(format!("{path}: {e}")))?;
    let jwe = jwe::encrypt(&claims.tee_pubkey, &resource.secret).map_err(ApiError::internal)?;
    Ok(Json(jwe).into_response())
}

/// Fallback for any other path.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
}

/// Fallback for a known path with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this endpoint takes another method")
}

/// The body as JSON of type `T`: `application/json` required (415), the size limit (413), then the
/// parse (400).
fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        let detail = format!("content type {content_type:?}; application/json required");
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", detail));
    }
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(e.status(), "payload-too-large", e.body_text()),
        status => ApiError::new(status, "unreadable-body", e.body_text()),
    })?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("malformed-json", e.to_string()))
}

/// The session cookie, if one was sent; a forged or expired one (`expired` names the reason) is an
/// error, not "no session".
fn session(config: &Config, headers: &HeaderMap, expired: &str) -> Result<Option<Session>, ApiError> {
    let prefix = format!("{SESSION_COOKIE}=");
    let value = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(prefix.as_str()));
    let Some(value) = value else { return Ok(None) };
    config.session_key.open(value, crate::now()).map(Some).map_err(|e| match e {
        SessionError::Invalid => ApiError::unauthorized("invalid-session", e.to_string()),
        SessionError::Expired => ApiError::unauthorized(expired, e.to_string()),
    })
}

/// The `Authorization: Bearer` token, if any.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
    value
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("invalid-token", "Authorization is not \"Bearer <JWT>\""))
}

fn set_cookie(
    config: &Config,
    session: &Session,
) -> Result<AppendHeaders<[(axum::http::HeaderName, HeaderValue); 1]>, ApiError> {
    let max_age = session.expires.saturating_sub(crate::now());
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/kbs/v0; HttpOnly; SameSite=Strict; Max-Age={max_age}",
        config.session_key.seal(session)
    );
    let value = HeaderValue::from_str(&cookie).map_err(ApiError::internal)?;
    Ok(AppendHeaders([(SET_COOKIE, value)]))
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}
