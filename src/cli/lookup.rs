//! Reading one object by kind and name through the API, for any kind (so `get`, `describe`
//! and `delete` need no per-kind code), with a missing object reported in kubectl's words
//! (`pods "x" not found`) whatever wording the server used.

use flotilla_kernel::api::{
    ApiClient, ApiError, ClientError, ErrorCode, RawObject, Request, Response,
};
use flotilla_kernel::object::{Kind, Object, ObjectError};

use super::resource_arg;

/// An object the API server returned cannot be read as an object of a known kind.
#[derive(Debug, thiserror::Error)]
#[error("reading the object the API server returned")]
pub struct DecodeError(#[source] ObjectError);

/// The object as JSON, as the API server has it.
pub async fn get_raw(
    api: &ApiClient,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Result<RawObject, ClientError> {
    let request = Request::Get {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    match api.call(request).await {
        Ok(Response::Object(raw)) => Ok(raw),
        Ok(other) => Err(ClientError::Unexpected {
            call: "get",
            got: other.kind_name(),
        }),
        Err(error) => Err(worded(error, kind, name)),
    }
}

/// The object, typed by its kind.
pub fn decode(raw: &RawObject) -> Result<Object, DecodeError> {
    Object::from_json(&raw.0).map_err(DecodeError)
}

/// A NotFound answer about `kind`/`name`, worded as kubectl words it; other errors unchanged.
pub fn worded(error: ClientError, kind: Kind, name: &str) -> ClientError {
    match error.api_code() {
        Some(ErrorCode::NotFound) => ClientError::Api(ApiError::new(
            ErrorCode::NotFound,
            format!("{} \"{name}\" not found", resource_arg::resource_name(kind)),
        )),
        _ => error,
    }
}

/// Whether the error says the object does not exist.
pub fn is_not_found(error: &ClientError) -> bool {
    error.api_code() == Some(ErrorCode::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_worded_like_kubectl() {
        let error = ClientError::Api(ApiError::not_found("object default/x"));
        let worded = worded(error, Kind::Deployment, "x");
        assert!(is_not_found(&worded));
        assert_eq!(worded.to_string(), "deployments.apps \"x\" not found");
    }

    #[test]
    fn other_errors_are_left_alone() {
        let error = ClientError::Api(ApiError::new(ErrorCode::Forbidden, "no"));
        let worded = worded(error, Kind::Pod, "x");
        assert_eq!(worded.api_code(), Some(ErrorCode::Forbidden));
        assert_eq!(worded.to_string(), "no");
        assert!(!is_not_found(&worded));
    }
}
