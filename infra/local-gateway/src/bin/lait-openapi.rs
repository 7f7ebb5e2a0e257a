//! Prints the HTTP API's OpenAPI document. `web/openapi.json` is this output; the web client's
//! types are generated from it (`npm run gen:api` in `web/`). `scripts/test` fails when either is
//! stale. With `--routes`: every route of every function, `<binary> <METHOD /path | route key>`
//! a line, for the check of template.yaml (tests/deploy/template.py).
fn main() {
    if std::env::args().nth(1).as_deref() == Some("--routes") {
        for (binary, route) in lait_local::routes() {
            println!("{binary} {route}");
        }
    } else {
        print!("{}", lait_local::openapi_json());
    }
}
