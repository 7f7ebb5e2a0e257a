//! Prints the HTTP API's OpenAPI document. `web/openapi.json` is this output; the web client's
//! types are generated from it (`npm run gen:api` in `web/`). `scripts/test` fails when either is
//! stale.
fn main() {
    print!("{}", lait_local::openapi_json());
}
