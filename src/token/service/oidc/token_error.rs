//! What the token endpoint's error answer means: our client credentials
//! refused (`invalid_client`, `unauthorized_client`: client_id or
//! client_secret_file do not match the client registered at the IdP, a
//! set-up error), or the code refused (used, expired, another verifier).

use openidconnect::core::CoreErrorResponseType;
use openidconnect::StandardErrorResponse;

/// Who the token endpoint refused, with its error text (escaped to one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The bridge's client credentials.
    Client(String),
    /// The code.
    Code(String),
}

/// The token endpoint's error answer `r`, classified.
pub fn refused(r: &StandardErrorResponse<CoreErrorResponseType>) -> Refused {
    let description = r
        .error_description()
        .map(|d| format!(": {}", crate::error::escape_controls(d)))
        .unwrap_or_default();
    let text = format!("{}{description}", r.error());
    match r.error() {
        CoreErrorResponseType::InvalidClient | CoreErrorResponseType::UnauthorizedClient => {
            Refused::Client(text)
        }
        _ => Refused::Code(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_client_is_a_set_up_error_and_a_refused_code_is_not() {
        let answer = |code: &str| -> StandardErrorResponse<CoreErrorResponseType> {
            serde_json::from_value(
                serde_json::json!({"error": code, "error_description": "no\nway"}),
            )
            .unwrap()
        };
        for code in ["invalid_client", "unauthorized_client"] {
            assert!(
                matches!(refused(&answer(code)), Refused::Client(t) if t.starts_with(code) && !t.contains('\n'))
            );
        }
        assert_eq!(
            refused(&answer("invalid_grant")),
            Refused::Code("invalid_grant: no\\nway".into())
        );
    }
}
