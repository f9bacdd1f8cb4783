//! Why a pull failed, in words an operator reads in `ErrImagePull`: the registry's own where it
//! gave some (`manifest unknown`, `unauthorized: authentication required`), as Docker shows
//! them, else the connection's or TLS's error with its causes.

use oci_client::errors::{OciDistributionError, OciEnvelope};

use crate::credentials::Credential;

/// How much of a registry's non-JSON answer an error quotes.
pub const MAX_QUOTED: usize = 300;

/// What went wrong, in the registry's words where it gave some.
pub fn registry_reason(error: &OciDistributionError, credential: Option<&Credential>) -> String {
    match error {
        OciDistributionError::UnauthorizedError { .. } => {
            let whose = match credential {
                None => "no credentials match the registry".to_string(),
                Some(Credential::Basic { username, .. }) => {
                    format!("the registry refused user {username:?}")
                }
                Some(Credential::Bearer(_)) => "the registry refused the token".to_string(),
            };
            format!("unauthorized: authentication required ({whose})")
        }
        OciDistributionError::AuthenticationFailure(body) => {
            let reason = serde_json::from_str::<OciEnvelope>(body)
                .map(|envelope| envelope_reason(&envelope))
                .unwrap_or_else(|_| quote(body));
            format!("unauthorized: the token service refused: {reason}")
        }
        OciDistributionError::RegistryError { envelope, .. } => envelope_reason(envelope),
        OciDistributionError::ServerError { code, message, .. } => {
            let status = http_status(*code);
            match quote(message) {
                quoted if quoted.is_empty() => status,
                quoted => format!("{status}: {quoted}"),
            }
        }
        other => {
            let text = chain(other);
            // What rustls makes of an HTTP answer to its hello.
            if text.contains("InvalidContentType") {
                format!(
                    "{text} (the registry may speak plain HTTP: list it among the registries \
                     pulled from over plain HTTP to allow that)"
                )
            } else {
                text
            }
        }
    }
}

/// The registry's errors as Docker shows them: `CODE in words: message` (the message alone
/// when it says the same).
fn envelope_reason(envelope: &OciEnvelope) -> String {
    let reasons: Vec<String> = envelope
        .errors
        .iter()
        .map(|error| {
            let code = serde_json::to_value(&error.code)
                .ok()
                .and_then(|code| code.as_str().map(|code| code.replace('_', " ")))
                .unwrap_or_default()
                .to_lowercase();
            let message = error.message.trim();
            if message.is_empty() || message.eq_ignore_ascii_case(&code) {
                code
            } else if code.is_empty() {
                message.to_string()
            } else {
                format!("{code}: {message}")
            }
        })
        .collect();
    if reasons.is_empty() {
        "the registry answered with an empty list of errors".to_string()
    } else {
        reasons.join("; ")
    }
}

/// `404 Not Found`, say.
fn http_status(code: u16) -> String {
    let reason = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    };
    format!("HTTP {code} {reason}").trim_end().to_string()
}

/// A registry's text answer, on one line and not too long.
pub fn quote(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line,
    }
}

/// An error with its causes: `error sending request ...: tcp connect error: Connection refused`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Wrappers that print their source (`#[error(transparent)]`) would say it twice.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
