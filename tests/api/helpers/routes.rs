//! The route table as the router holds it, and the contract as the server serves it.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use serde_json::Value;

use super::TestApp;

/// Methods a route can be registered for; probing each tells which ones a resource answers.
pub const ROUTE_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every (method, path template) the app's router serves, e.g. ("GET", "/api/v1/me").
///
/// actix has no public way to list routes, so the full path templates come from the router's
/// own `ResourceMap` (its `Debug` form is the one complete view of the tree), and the methods
/// from asking each resource: a method it was not registered for is the resource's own 405.
/// Reading the live router means a route registered by any means, in any module, is seen.
pub async fn registered_routes(app: &TestApp) -> std::collections::BTreeSet<(String, String)> {
    use actix_web::dev::ResourceDef;
    use actix_web::http::Method;

    let svc = app.service().await;
    let res = test::call_service(&svc, TestRequest::get().uri("/healthz").to_request()).await;
    let templates = route_templates(&format!("{:?}", res.request().resource_map()));
    assert!(
        templates.iter().any(|t| t == "/healthz")
            && templates.iter().any(|t| t.starts_with("/api/v1/")),
        "could not read the route tree (did actix change ResourceMap's Debug form?): {templates:?}"
    );

    let mut routes = std::collections::BTreeSet::new();
    for template in templates {
        let def = ResourceDef::new(template.as_str());
        let path = PATH_PARAM_SAMPLES
            .iter()
            .map(|sample| fill_template(&template, sample))
            .find(|p| def.is_match(p))
            .unwrap_or_else(|| panic!("no sample value fits the parameters of {template}"));
        for method in ROUTE_METHODS {
            let req = TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&path)
                .to_request();
            let res = test::call_service(&svc, req).await;
            assert_eq!(
                res.request().match_pattern().as_deref(),
                Some(template.as_str()),
                "{method} {path} did not reach {template}: another route shadows it"
            );
            if res.status() != StatusCode::METHOD_NOT_ALLOWED {
                routes.insert((method.to_owned(), normalise_template(&template)));
            }
        }
    }
    routes
}

/// Values tried for path parameters, until one fits the parameter's pattern.
const PATH_PARAM_SAMPLES: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "2026-12-01",
    "1",
    "SY-MOW-2026-000123",
    "x",
];

/// `{name}` or `{name:regex}` segments replaced by `value`.
fn fill_template(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = matching_brace(&rest[open..]) + open;
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `{name:regex}` → `{name}`, the OpenAPI spelling of a template.
pub fn normalise_template(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = matching_brace(&rest[open..]) + open;
        let inner = &rest[open + 1..close];
        out.push('{');
        out.push_str(inner.split(':').next().unwrap_or(inner));
        out.push('}');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces in route template {s}")
}

/// Full path templates of the leaves of a `ResourceMap` printed with `{:?}`: each node has
/// `patterns: Single("..")` and either `nodes: None` (a resource) or `nodes: Some([..])` (a
/// scope whose pattern prefixes its children).
fn route_templates(debug: &str) -> Vec<String> {
    let bytes = debug.as_bytes();
    let mut depth = 0usize;
    let mut scopes: Vec<(usize, String)> = Vec::new();
    let mut pattern: Option<String> = None;
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &debug[i..];
        if rest.starts_with("patterns: ") {
            assert!(
                rest.starts_with("patterns: Single(\""),
                "a resource with several patterns; this check reads single-pattern resources only"
            );
            let (text, _) = debug_string(&rest["patterns: Single(".len()..]);
            pattern = Some(text);
            // Past the name only: the bracket and the string are walked like any other.
            i += "patterns: Single".len();
            continue;
        }
        if rest.starts_with("nodes: None") {
            let prefix: String = scopes.iter().map(|(_, p)| p.as_str()).collect();
            out.push(format!("{prefix}{}", pattern.take().unwrap_or_default()));
            i += "nodes: None".len();
            continue;
        }
        if rest.starts_with("nodes: Some(") {
            scopes.push((depth, pattern.take().unwrap_or_default()));
            i += "nodes: ".len();
            continue;
        }
        match bytes[i] {
            b'"' => {
                i += debug_string(rest).1;
                continue;
            }
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' | b'}' => {
                depth -= 1;
                if scopes.last().is_some_and(|(d, _)| *d == depth) {
                    scopes.pop();
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The text of the Debug-quoted string at the start of `s`, and its length in `s` with quotes.
fn debug_string(s: &str) -> (String, usize) {
    assert!(s.starts_with('"'));
    let mut text = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    text.push(escaped);
                }
            }
            '"' => return (text, i + 1),
            c => text.push(c),
        }
    }
    panic!("unterminated string in {s}")
}

/// Every (method, path) documented in an OpenAPI document.
pub fn documented_routes(spec: &Value) -> std::collections::BTreeSet<(String, String)> {
    let mut routes = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                routes.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The contract as the server serves it, as JSON.
pub fn openapi() -> Value {
    serde_yaml::from_str(mawid_http::OPENAPI_YAML).expect("openapi.yaml is valid YAML")
}
