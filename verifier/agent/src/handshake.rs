//! The KBS handshake from the guest's side (Trustee `kbs/docs/kbs_attestation_protocol.md`, the
//! "Request-Challenge-Attestation-Response" exchange): `auth` for a challenge, `attest` with the runtime
//! data and Warden's evidence for a token, `resource` for the secret sealed to the handshake's key.
//!
//! The session is the verifier's signed cookie (`kbs-session-id`), carried from answer to request as a
//! browser would. The handshake's P-384 key lives only inside [`fetch`]: the secret key type zeroizes
//! itself when dropped, right after the secret is decrypted.
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use warden_verifier::protocol::{
    Attestation, AttestationToken, Challenge, ErrorInfo, PROTOCOL_VERSION, Request, Response, RuntimeData,
    SESSION_COOKIE, SvsmEvidence, TEE_SVSM,
};
use warden_verifier::store::ResourcePath;

use crate::error::{AgentError, Step};
use crate::evidence::Attester;
use crate::tee_key;

/// How long each step took.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepTimes {
    /// `auth`.
    pub auth: Duration,
    /// Obtaining Warden's evidence (a boot of the emulated machine, or reading a directory).
    pub evidence: Duration,
    /// `attest`.
    pub attest: Duration,
    /// `resource` and the decryption.
    pub resource: Duration,
}

/// A released secret.
#[derive(Debug)]
pub struct Released {
    /// The plaintext (wiped when dropped).
    pub secret: Zeroizing<Vec<u8>>,
    /// The attestation token the verifier issued (a JWT).
    pub token: String,
    /// The step timings.
    pub times: StepTimes,
}

/// An HTTP session with one verifier.
#[derive(Debug)]
pub struct KbsClient {
    base: String,
    http: ureq::Agent,
    cookie: Option<String>,
}

impl KbsClient {
    /// A client of the verifier at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Self {
        let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
        Self { base: base_url.trim_end_matches('/').to_owned(), http, cookie: None }
    }

    /// `POST /kbs/v0/auth`: the challenge nonce, as the verifier spelled it.
    pub fn auth(&mut self) -> Result<String, AgentError> {
        let request = Request {
            version: PROTOCOL_VERSION.into(),
            tee: TEE_SVSM.into(),
            extra_params: serde_json::Value::String(String::new()),
        };
        let body = self.post(Step::Auth, "auth", &request)?;
        let challenge: Challenge = parse(Step::Auth, &body)?;
        Ok(challenge.nonce)
    }

    /// `POST /kbs/v0/attest`: the attestation token.
    pub fn attest(&mut self, runtime: &RuntimeData, evidence: &SvsmEvidence) -> Result<String, AgentError> {
        let request = Attestation { runtime_data: runtime.clone(), tee_evidence: evidence.clone() };
        let body = self.post(Step::Attest, "attest", &request)?;
        Ok(parse::<AttestationToken>(Step::Attest, &body)?.token)
    }

    /// `GET /kbs/v0/resource/REPO/TYPE/TAG`: the sealed secret.
    pub fn resource(&mut self, path: &ResourcePath) -> Result<Response, AgentError> {
        let mut request = self.http.get(&format!("{}/kbs/v0/resource/{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.set("Cookie", cookie);
        }
        let body = self.exchange(Step::Resource, request.call())?;
        parse(Step::Resource, &body)
    }

    fn post(
        &mut self,
        step: Step,
        endpoint: &str,
        json: &impl serde::Serialize,
    ) -> Result<String, AgentError> {
        let mut request = self
            .http
            .post(&format!("{}/kbs/v0/{endpoint}", self.base))
            .set("Content-Type", "application/json");
        if let Some(cookie) = &self.cookie {
            request = request.set("Cookie", cookie);
        }
        let body = serde_json::to_string(json).map_err(|e| AgentError::Protocol(step, e.to_string()))?;
        self.exchange(step, request.send_string(&body))
    }

    /// The body of a successful answer (keeping the session cookie it sets), else the refusal.
    fn exchange(
        &mut self,
        step: Step,
        answer: Result<ureq::Response, ureq::Error>,
    ) -> Result<String, AgentError> {
        match answer {
            Ok(response) => {
                let session = response
                    .all("set-cookie")
                    .into_iter()
                    .filter_map(|c| c.split(';').next())
                    .map(str::trim)
                    .rfind(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
                    .map(str::to_owned);
                if session.is_some() {
                    self.cookie = session;
                }
                response.into_string().map_err(|e| AgentError::Transport(step, e.to_string()))
            }
            Err(ureq::Error::Status(status, response)) => {
                let body = response.into_string().unwrap_or_default();
                let (reason, detail) = match serde_json::from_str::<ErrorInfo>(&body) {
                    Ok(reason) => (reason.kind, reason.detail),
                    Err(_) => (String::new(), body),
                };
                Err(AgentError::Refused { step, status, reason, detail })
            }
            Err(ureq::Error::Transport(e)) => Err(AgentError::Transport(step, e.to_string())),
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(step: Step, body: &str) -> Result<T, AgentError> {
    serde_json::from_str(body).map_err(|e| AgentError::Protocol(step, format!("{e} in {body:.200}")))
}

/// The whole handshake: challenge, a fresh key, evidence bound to both, token, secret.
pub fn fetch(base_url: &str, resource: &ResourcePath, attester: &Attester) -> Result<Released, AgentError> {
    let mut times = StepTimes::default();
    let mut client = KbsClient::new(base_url);
    let started = Instant::now();
    let challenge = client.auth()?;
    times.auth = started.elapsed();

    let tee_key = tee_key::fresh();
    let runtime = tee_key::runtime_data(&challenge, &tee_key);
    let nonce = runtime.svsm_nonce().map_err(|e| AgentError::Protocol(Step::Evidence, e.to_string()))?;
    let started = Instant::now();
    let evidence = attester.attest(&nonce)?;
    times.evidence = started.elapsed();

    let started = Instant::now();
    let token = client.attest(&runtime, &evidence)?;
    times.attest = started.elapsed();

    let started = Instant::now();
    let sealed = client.resource(resource)?;
    let secret = tee_key.decrypt(&sealed)?;
    drop(tee_key);
    times.resource = started.elapsed();
    Ok(Released { secret, token, times })
}
