//! No Docker engine runs on our machines, so these checks stand in for `docker compose up`: the
//! compose file parses and wires the three services with healthchecks, every MAWID_*/DATABASE_URL
//! it sets is a name the server reads, and the image runs as a non-root user with a healthcheck.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    serde_yaml::from_str(&read("docker-compose.yml")).expect("docker-compose.yml parses")
}

/// Every environment name the server reads: the string literals naming MAWID_* variables and
/// DATABASE_URL in the server's sources (configuration goes through `var("NAME")` there).
fn names_the_server_reads() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let src = root().join("crates/server/src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for literal in text.split('"').skip(1).step_by(2) {
            let is_name = literal.starts_with("MAWID_") || literal == "DATABASE_URL";
            if is_name
                && literal
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
            {
                names.insert(literal.to_owned());
            }
        }
    }
    names
}

fn environment(service: &Value) -> Vec<(String, String)> {
    match &service["environment"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// No secret has a default (`${VAR:?}` refuses to start without it) and no port is published
/// beyond the host itself.
#[test]
fn compose_has_no_default_secret_and_publishes_on_localhost_only() {
    let raw = read("docker-compose.yml");
    for secret in ["MAWID_JWT_SECRET", "MAWID_BOOTSTRAP_ADMIN_PASSWORD"] {
        assert!(
            raw.contains(&format!("${{{secret}:?")),
            "{secret} must be required, not defaulted"
        );
    }
    let compose = compose();
    for (name, service) in compose["services"].as_object().unwrap() {
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name} publishes {port} beyond localhost"
            );
        }
    }
}

#[test]
fn compose_runs_postgres_15_mailpit_and_the_service_each_with_a_healthcheck() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    let keys: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["db", "mailpit", "mawid"]));

    assert!(
        services["db"]["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres:15")),
        "{}",
        services["db"]["image"]
    );
    assert!(services["mailpit"]["image"]
        .as_str()
        .is_some_and(|i| i.starts_with("axllent/mailpit")));
    let mailpit_ports = services["mailpit"]["ports"].to_string();
    assert!(mailpit_ports.contains("8025"), "the web UI is published");

    for (name, service) in services {
        let test = &service["healthcheck"]["test"];
        assert!(
            test.as_array().is_some_and(|t| t.len() >= 2),
            "{name} has no healthcheck"
        );
    }
    assert_eq!(
        services["mawid"]["healthcheck"]["test"],
        serde_json::json!(["CMD", "mawid", "healthcheck"])
    );
    assert_eq!(services["mawid"]["build"], ".", "built from the Dockerfile");
    for dependency in ["db", "mailpit"] {
        assert_eq!(
            services["mawid"]["depends_on"][dependency]["condition"], "service_healthy",
            "mawid waits for {dependency}"
        );
    }
}

#[test]
fn compose_sets_only_names_the_server_reads_and_wires_mail_to_mailpit() {
    let reads = names_the_server_reads();
    assert!(
        reads.contains("DATABASE_URL") && reads.contains("MAWID_JWT_SECRET"),
        "{reads:?}"
    );
    let compose = compose();
    let env = environment(&compose["services"]["mawid"]);
    let unknown: Vec<_> = env
        .iter()
        .map(|(k, _)| k)
        .filter(|k| (k.starts_with("MAWID_") || *k == "DATABASE_URL") && !reads.contains(*k))
        .collect();
    assert!(unknown.is_empty(), "the server never reads {unknown:?}");

    let get = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} not set"))
    };
    assert_eq!(get("MAWID_SMTP_URL"), "smtp://mailpit:1025");
    assert!(get("DATABASE_URL").contains("@db:5432/"));
    assert!(
        get("MAWID_BIND").starts_with("0.0.0.0:"),
        "reachable from outside the container"
    );
    assert!(
        !get("MAWID_JWT_SECRET").contains("${MAWID_JWT_SECRET:-"),
        "no default secret: it must be supplied"
    );
}

#[test]
fn dockerfile_builds_in_stages_and_runs_slim_as_a_non_root_user_with_a_healthcheck() {
    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = instructions
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(froms[0].starts_with("FROM rust:"), "{}", froms[0]);
    assert!(
        froms
            .last()
            .unwrap()
            .starts_with("FROM debian:bookworm-slim"),
        "{froms:?}"
    );

    let runtime = &dockerfile[dockerfile.rfind("\nFROM ").unwrap()..];
    let user = runtime
        .lines()
        .find_map(|l| l.trim().strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    let user = user.split(':').next().unwrap().trim();
    assert!(user != "root" && user != "0", "runs as {user}");
    assert!(
        runtime.contains("HEALTHCHECK") && runtime.contains("\"mawid\", \"healthcheck\""),
        "the image checks /readyz through `mawid healthcheck`"
    );
    assert!(runtime.contains("COPY --from=builder"));
}

#[test]
fn dockerignore_keeps_build_output_and_local_data_out_of_the_context() {
    let ignore = read(".dockerignore");
    let lines: BTreeSet<&str> = ignore.lines().map(str::trim).collect();
    for entry in ["target", ".data", ".git", "var"] {
        assert!(lines.contains(entry), "{entry} is not ignored");
    }
}
