//! Authorization: what a caller, identified by its certificate, may do. Roles are coarse for
//! now — admin and control-plane components may do everything, viewers may only read, node
//! agents may read and write node and pod state.

use flotilla_kernel::api::{ApiError, ErrorCode, Request};
use flotilla_kernel::object::Kind;
use flotilla_transport::Identity;

pub fn authorize(caller: &Identity, request: &Request) -> Result<(), ApiError> {
    let read_only = matches!(
        request,
        Request::Get { .. } | Request::List { .. } | Request::Watch { .. } | Request::Logs { .. }
    );
    let allowed = match caller.role.as_str() {
        "admin" | "control-plane" => true,
        "viewer" => read_only,
        "node" => {
            read_only
                || matches!(request, Request::UpdateStatus { .. })
                || matches!(
                    request,
                    Request::Delete {
                        kind: Kind::Pod,
                        ..
                    }
                )
                || matches!(request, Request::Create { .. } | Request::Update { .. })
        }
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "{} (role {}) may not {} {}",
                caller.name,
                caller.role,
                request.verb(),
                target(request)
            ),
        ))
    }
}

fn target(request: &Request) -> String {
    match request {
        Request::Get { kind, name, .. } | Request::Delete { kind, name, .. } => {
            format!("{} {name:?}", kind.plural())
        }
        Request::List { kind, .. } | Request::Watch { kind, .. } => kind.plural().to_string(),
        Request::Bind { name, .. } | Request::Logs { pod: name, .. } => format!("pods {name:?}"),
        Request::Create { .. }
        | Request::Apply { .. }
        | Request::Update { .. }
        | Request::UpdateStatus { .. } => "objects".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: &str) -> Identity {
        Identity {
            name: format!("{role}-1"),
            role: role.to_string(),
        }
    }

    fn get() -> Request {
        Request::Get {
            kind: Kind::Pod,
            namespace: "default".into(),
            name: "web".into(),
        }
    }

    fn delete_deployment() -> Request {
        Request::Delete {
            kind: Kind::Deployment,
            namespace: "default".into(),
            name: "web".into(),
            grace_period_seconds: None,
        }
    }

    #[test]
    fn roles() {
        assert!(authorize(&who("admin"), &delete_deployment()).is_ok());
        assert!(authorize(&who("control-plane"), &delete_deployment()).is_ok());
        assert!(authorize(&who("viewer"), &get()).is_ok());
        assert!(authorize(&who("node"), &get()).is_ok());
        assert!(authorize(&who("node"), &delete_deployment()).is_err());
        assert!(authorize(&who("stranger"), &get()).is_err());
    }

    #[test]
    fn a_denial_names_the_identity_and_the_action() {
        let error = authorize(&who("viewer"), &delete_deployment()).unwrap_err();
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert_eq!(
            error.message,
            "viewer-1 (role viewer) may not delete deployments \"web\""
        );
    }
}
