//! OpenAPI: every function describes its routes from code (utoipa); lait-local merges them into
//! one document served at `/api/openapi.json`.

use std::collections::BTreeMap;

use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        OpenApi as Spec, RefOr, Response,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{
    chat::protocol::{ClientFrame, ServerFrame},
    error::FieldError,
};

/// RFC 9457 problem details, as every error is answered (documentation only; `ApiError`
/// renders it).
#[derive(ToSchema, serde::Serialize)]
pub struct Problem {
    /// `urn:lait:problem:<slug>`
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: Option<String>,
    pub errors: Option<Vec<FieldError>>,
}

/// Problem responses for `#[utoipa::path(responses(...))]`, one type per status, so a route lists
/// `problem::NotFound` instead of repeating the body and content type. Use a tuple with a
/// `description` where the route has something specific to say.
pub mod problem {
    use std::collections::BTreeMap;

    use utoipa::{
        IntoResponses,
        openapi::{Content, Ref, RefOr, Response, ResponseBuilder},
    };

    macro_rules! problems {
        ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    let body = Content::new(Some(Ref::from_schema_name("Problem")));
                    let response = ResponseBuilder::new()
                        .description($description)
                        .content("application/problem+json", body)
                        .build();
                    BTreeMap::from([($status.to_owned(), RefOr::T(response))])
                }
            }
        )*};
    }

    // A route says what is particular to it (which field, what is taken) in its doc comment.
    problems! {
        /// 400: a field failed validation or the request is malformed.
        BadRequest = "400", "invalid request: the problem's `errors` name each field";
        /// 401: no valid credentials.
        Unauthorized = "401", "not authenticated";
        /// 403: signed in, but not allowed.
        Forbidden = "403", "not allowed";
        /// 404: no such resource (a malformed id included).
        NotFound = "404", "not found";
        /// 409: the resource is taken or changed meanwhile.
        Conflict = "409", "conflict: taken, or changed meanwhile";
        /// 413: the body is over the size limit.
        PayloadTooLarge = "413", "the request body is too large";
        /// 415: the body is not JSON.
        UnsupportedMediaType = "415", "the request body must be `application/json`";
        /// 429: rate limited (`Retry-After` says when to retry).
        TooManyRequests = "429", "too many requests (see Retry-After)";
        /// 502: an upstream (the OAuth provider) failed.
        BadGateway = "502", "an upstream service failed";
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Spec) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Lait API", description = "Live streaming and chat. Errors are RFC 9457 problem+json."),
    // The chat WebSocket frames are no HTTP operation's body; they are listed so the web
    // client's types for them are generated with the rest (docs/chat-protocol.md).
    components(schemas(Problem, FieldError, ClientFrame, ServerFrame)),
    modifiers(&BearerAuth)
)]
struct Base;

/// One document from the functions' specs, with the problems every route can answer.
pub fn document(parts: impl IntoIterator<Item = Spec>) -> Spec {
    let mut doc = Base::openapi();
    for part in parts {
        doc.merge(part);
    }
    shared_problems(&mut doc);
    doc
}

/// Adds to each operation the problems the shared extractors answer before its handler runs, so
/// no route repeats them and none can forget one: 401 where a bearer token is taken (a bad one
/// is refused even where it is optional); 400, 413 and 415 where a JSON body is read; 400 where
/// query parameters are parsed; 404 where the path names something (a malformed id is an
/// unknown one). A route's own description of a status stays.
fn shared_problems(doc: &mut Spec) {
    use utoipa::{
        IntoResponses,
        openapi::path::{Operation, ParameterIn},
    };

    for item in doc.paths.paths.values_mut() {
        let item_params = item.parameters.clone().unwrap_or_default();
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let Operation {
                parameters,
                request_body,
                security,
                responses,
                ..
            } = op;
            let located = |place: ParameterIn| {
                item_params
                    .iter()
                    .chain(parameters.iter().flatten())
                    .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
            };
            let bearer = security.iter().flatten().any(|req| {
                serde_json::to_value(req)
                    .is_ok_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
            });
            let mut add = |problems: BTreeMap<String, RefOr<Response>>| {
                for (status, response) in problems {
                    responses.responses.entry(status).or_insert(response);
                }
            };
            if bearer {
                add(problem::Unauthorized::responses());
            }
            if request_body.is_some() {
                add(problem::BadRequest::responses());
                add(problem::PayloadTooLarge::responses());
                add(problem::UnsupportedMediaType::responses());
            }
            if located(ParameterIn::Query) {
                add(problem::BadRequest::responses());
            }
            if located(ParameterIn::Path) {
                add(problem::NotFound::responses());
            }
        }
    }
}
