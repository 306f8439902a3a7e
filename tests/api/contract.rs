//! openapi.yaml is true: it documents exactly the routes the router serves, it is a valid
//! OpenAPI 3.1 document, and every error it documents is problem+json.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{documented_routes, openapi, registered_routes, TestApp};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn every_route_is_documented_and_every_documented_route_is_served(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let served = registered_routes(&app).await;
    let documented = documented_routes(&openapi());

    let undocumented: BTreeSet<_> = served.difference(&documented).collect();
    let unserved: BTreeSet<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "openapi.yaml and the router disagree\n  served but not documented: {undocumented:?}\n  documented but not served: {unserved:?}"
    );
}

#[test]
fn openapi_yaml_is_an_openapi_3_1_document() {
    let spec = openapi();
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "openapi: {}",
        spec["openapi"]
    );
    let typed = oas3::from_json(spec.to_string()).expect("openapi.yaml has the OpenAPI 3.1 shape");
    typed
        .validate_version()
        .expect("a supported OpenAPI version");
    assert!(
        typed.operations().count() > 0,
        "the typed reading found no operation"
    );
}

#[test]
fn every_reference_resolves() {
    let spec = openapi();
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(!refs.is_empty());
    let dangling: Vec<_> = refs
        .iter()
        .filter(|r| resolve(&spec, r).is_none())
        .collect();
    assert!(dangling.is_empty(), "unresolved $ref: {dangling:?}");
}

/// The Problem schema itself, or a named extension of it (`allOf` starting from Problem).
fn is_problem_schema(spec: &Value, schema: &Value) -> bool {
    const PROBLEM: &str = "#/components/schemas/Problem";
    if schema["$ref"] == PROBLEM {
        return true;
    }
    let schema = deref(spec, schema);
    schema["allOf"]
        .as_array()
        .is_some_and(|parts| parts.iter().any(|p| p["$ref"] == PROBLEM))
}

#[test]
fn every_documented_error_is_problem_json() {
    let spec = openapi();
    let mut wrong = Vec::new();
    for (method, path, op) in operations(&spec) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let response = deref(&spec, response);
            let content = response["content"].as_object();
            let only_problem = content.is_some_and(|c| {
                c.len() == 1
                    && c.get("application/problem+json")
                        .is_some_and(|media| is_problem_schema(&spec, &media["schema"]))
            });
            if !only_problem {
                wrong.push(format!("{method} {path} {status}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "errors not documented as application/problem+json with the Problem schema: {wrong:?}"
    );
}

#[test]
fn every_operation_documents_a_success_and_bearer_operations_document_401() {
    let spec = openapi();
    let mut wrong = Vec::new();
    for (method, path, op) in operations(&spec) {
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        if !responses
            .keys()
            .any(|s| s.starts_with('2') || s.starts_with('3'))
        {
            wrong.push(format!("{method} {path}: no success response"));
        }
        let bearer = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|req| req.get("bearer").is_some()));
        if bearer && !responses.contains_key("401") {
            wrong.push(format!("{method} {path}: bearer auth without a 401"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn path_parameters_match_the_template() {
    let spec = openapi();
    let mut wrong = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let in_template: BTreeSet<String> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .map(str::to_owned)
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let declared: BTreeSet<String> = item["parameters"]
                .as_array()
                .into_iter()
                .chain(op["parameters"].as_array())
                .flatten()
                .map(|p| deref(&spec, p))
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            if declared != in_template {
                wrong.push(format!(
                    "{method} {path}: template has {in_template:?}, declared {declared:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Fuzzers and generated clients follow `links` from a creating operation to those that use its
/// id: each names a documented operation by `operationRef` and sets only parameters it declares.
#[test]
fn every_link_names_a_documented_operation_and_its_parameters() {
    let spec = openapi();
    let mut wrong = Vec::new();
    let mut count = 0;
    for (method, path, op) in operations(&spec) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            for (name, link) in deref(&spec, response)["links"]
                .as_object()
                .into_iter()
                .flatten()
            {
                count += 1;
                let at = format!("{method} {path} {status} link {name}");
                let Some(target_ref) = link["operationRef"].as_str() else {
                    wrong.push(format!("{at}: no operationRef"));
                    continue;
                };
                let Some(target) = resolve(&spec, target_ref) else {
                    wrong.push(format!("{at}: {target_ref} does not resolve"));
                    continue;
                };
                let item_pointer = target_ref.rsplit_once('/').map_or("", |(item, _)| item);
                let item = resolve(&spec, item_pointer).unwrap_or(&Value::Null);
                let declared: BTreeSet<&str> = item["parameters"]
                    .as_array()
                    .into_iter()
                    .chain(target["parameters"].as_array())
                    .flatten()
                    .filter_map(|p| deref(&spec, p)["name"].as_str())
                    .collect();
                for parameter in link["parameters"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    if !declared.contains(parameter.as_str()) {
                        wrong.push(format!("{at}: {target_ref} has no parameter {parameter}"));
                    }
                }
            }
        }
    }
    assert!(count > 0, "no links at all");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_ascii_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn resolve<'a>(spec: &'a Value, reference: &str) -> Option<&'a Value> {
    spec.pointer(reference.strip_prefix('#')?)
}

/// A response or parameter object, following one local `$ref` if it is one.
fn deref<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => resolve(spec, r).unwrap_or(&Value::Null),
        None => v,
    }
}

/// Integrators generate clients from the contract: every request and response body it
/// mentions has a schema.
#[test]
fn every_documented_body_has_a_schema() {
    let spec = openapi();
    let mut wrong = Vec::new();
    for (method, path, op) in operations(&spec) {
        let mut bodies: Vec<(String, &Value)> = Vec::new();
        if let Some(request) = op.get("requestBody") {
            bodies.push(("request".into(), deref(&spec, request)));
        }
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            bodies.push((status.clone(), deref(&spec, response)));
        }
        for (which, body) in bodies {
            for (media, content) in body["content"].as_object().into_iter().flatten() {
                if !content["schema"].is_object() {
                    wrong.push(format!("{method} {path} {which} {media}"));
                }
            }
        }
        if op.get("requestBody").is_some_and(|b| {
            deref(&spec, b)["content"]
                .as_object()
                .is_none_or(|c| c.is_empty())
        }) {
            wrong.push(format!("{method} {path}: request body without content"));
        }
    }
    assert!(wrong.is_empty(), "bodies without a schema: {wrong:#?}");
}
