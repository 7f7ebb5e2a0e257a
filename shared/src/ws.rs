//! The contract between API Gateway's WebSocket API and a function handling its events.
//!
//! On AWS, `chat-ws`'s Lambda receives these events from API Gateway; locally, `lait-local`
//! terminates the WebSocket and builds the very same events. Either way the handler sees
//! [`WsEvent`]s and answers [`WsResponse`]s, and talks back to clients through the
//! `@connections` management API.

use aws_lambda_events::{
    apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest},
    encodings::Body,
};
use futures::future::BoxFuture;

pub use aws_lambda_events::apigw::ApiGatewayProxyResponse as WsResponse;
pub use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest as WsEvent;

pub const CONNECT: &str = "$connect";
pub const DISCONNECT: &str = "$disconnect";
pub const DEFAULT: &str = "$default";

/// A WebSocket API integration: one function behind every route.
pub trait WsHandler: Send + Sync + 'static {
    /// Custom route keys (values of `$request.body.action`) the API declares besides `$connect`,
    /// `$disconnect` and `$default`. A message whose action is not listed goes to `$default`.
    fn routes(&self) -> &[&'static str];

    fn handle(
        &self,
        event: ApiGatewayWebsocketProxyRequest,
    ) -> BoxFuture<'_, ApiGatewayProxyResponse>;
}

/// A response with a status code and an optional text body.
pub fn response(status: u16, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = i64::from(status);
    r.body = body.map(Body::Text);
    r
}

/// The route key API Gateway's `$request.body.action` selection picks for a message body.
pub fn select_route(routes: &[&'static str], body: &str) -> &'static str {
    let action = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("action").and_then(|a| a.as_str().map(str::to_owned)));
    action
        .and_then(|a| routes.iter().copied().find(|r| *r == a))
        .unwrap_or(DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_selection_falls_back_to_default() {
        let routes = ["send", "ping"];
        assert_eq!(
            select_route(&routes, r#"{"action":"send","text":"hi"}"#),
            "send"
        );
        assert_eq!(select_route(&routes, r#"{"action":"nope"}"#), DEFAULT);
        assert_eq!(select_route(&routes, r#"{"action":5}"#), DEFAULT);
        assert_eq!(select_route(&routes, "not json"), DEFAULT);
        assert_eq!(select_route(&routes, r#"["send"]"#), DEFAULT);
        // `$connect` can never be selected by a client.
        assert_eq!(select_route(&routes, r#"{"action":"$connect"}"#), DEFAULT);
    }
}
