//! What can go wrong in a handshake, each said so the person at the terminal knows whose doing it was:
//! the verifier's refusal (its JSON reason shown as it sent it), a transport failure, a verifier answer
//! that breaks the protocol, missing evidence, or a secret that does not decrypt.
use warden_verifier::jwe::JweError;

use crate::evidence::EvidenceError;

/// The step of the handshake an error happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `POST /kbs/v0/auth`: the challenge.
    Auth,
    /// The evidence from Warden, bound to the runtime data.
    Evidence,
    /// `POST /kbs/v0/attest`: the evidence for a token.
    Attest,
    /// `GET /kbs/v0/resource/...`: the sealed secret.
    Resource,
}

impl Step {
    /// The step's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Evidence => "evidence",
            Self::Attest => "attest",
            Self::Resource => "resource",
        }
    }
}

/// Why the agent got no secret.
#[derive(Debug)]
pub enum AgentError {
    /// The verifier answered with an error status and (usually) a JSON reason.
    Refused {
        /// Where.
        step: Step,
        /// The HTTP status.
        status: u16,
        /// The reason's `type`, verbatim ("" when the body was not the error JSON).
        reason: String,
        /// The reason's `detail`, verbatim (or the raw body).
        detail: String,
    },
    /// No HTTP exchange happened (connection refused, timeout, ...).
    Transport(Step, String),
    /// The verifier's answer is not what the protocol says.
    Protocol(Step, String),
    /// Warden's evidence could not be had.
    Evidence(EvidenceError),
    /// The released secret does not decrypt with the handshake's key.
    Jwe(JweError),
    /// An argument was not usable.
    Usage(String),
}

impl core::fmt::Display for AgentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Refused { step, status, reason, detail } if reason.is_empty() => {
                write!(f, "{}: refused (HTTP {status}): {detail}", step.name())
            }
            Self::Refused { step, status, reason, detail } => {
                write!(f, "{}: refused (HTTP {status}): {reason}: {detail}", step.name())
            }
            Self::Transport(step, what) => write!(f, "{}: no answer from the verifier: {what}", step.name()),
            Self::Protocol(step, what) => {
                write!(f, "{}: the verifier broke the protocol: {what}", step.name())
            }
            Self::Evidence(e) => write!(f, "evidence: {e}"),
            Self::Jwe(e) => write!(f, "resource: {e}"),
            Self::Usage(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<EvidenceError> for AgentError {
    fn from(e: EvidenceError) -> Self {
        Self::Evidence(e)
    }
}

impl From<JweError> for AgentError {
    fn from(e: JweError) -> Self {
        Self::Jwe(e)
    }
}
