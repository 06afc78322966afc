//! Every refusal the HTTP layer gives: a status and the JSON body `{"type": reason, "detail": ...}`
//! (the shape of Trustee's KBS errors), built before any state changes so a refused request leaves
//! nothing behind.
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::protocol::ErrorInfo;

/// A refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable kebab-case reason (`type`).
    pub kind: String,
    /// What exactly was wrong.
    pub detail: String,
}

impl ApiError {
    /// An error of any status.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self { status, kind: kind.into(), detail: detail.into() }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, detail)
    }

    /// 401: no valid session, challenge, evidence or token.
    pub fn unauthorized(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, kind, detail)
    }

    /// 500: the store or the service failed; the client did nothing wrong.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal-error", detail.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorInfo { kind: self.kind, detail: self.detail })).into_response()
    }
}
