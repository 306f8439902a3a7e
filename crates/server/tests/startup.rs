//! Outside dev mode the server refuses to start, with one clear line, on unsafe configuration.

use std::process::Command;

fn mawid(env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mawid"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// Nothing listens on port 1 of loopback.
const DEAD_DB: &str = "postgres://postgres@127.0.0.1:1/postgres";

#[test]
fn missing_jwt_secret_is_refused_in_one_line() {
    let (code, err) = mawid(&[("DATABASE_URL", DEAD_DB)]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("MAWID_JWT_SECRET is not set"), "{err}");
}

#[test]
fn short_jwt_secret_is_refused_in_one_line() {
    let (code, err) = mawid(&[
        ("DATABASE_URL", DEAD_DB),
        ("MAWID_JWT_SECRET", &SECRET[..31]),
    ]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("at least 32 bytes"), "{err}");
}

#[test]
fn unreachable_database_is_refused_in_one_line() {
    let (code, err) = mawid(&[("DATABASE_URL", DEAD_DB), ("MAWID_JWT_SECRET", SECRET)]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot reach the database at postgres://postgres:***@127.0.0.1:1/postgres"),
        "{err}"
    );
}

#[test]
fn missing_database_url_is_refused() {
    let (code, err) = mawid(&[("MAWID_JWT_SECRET", SECRET)]);
    assert_eq!(code, 1);
    assert!(err.contains("DATABASE_URL is not set"), "{err}");
}

#[test]
fn unknown_subcommand_prints_usage() {
    let (code, err) = mawid(&[]);
    assert_eq!(code, 1, "no configuration at all is an error too: {err}");
    let out = Command::new(env!("CARGO_BIN_EXE_mawid"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: mawid"));
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let (code, err) = mawid(&[("DATABASE_URL", DEAD_DB), ("MAWID_JWT_SECRET", " ")]);
    assert_eq!(code, 1);
    assert!(err.contains("MAWID_JWT_SECRET is not set"), "{err}");
}

#[test]
fn an_out_of_range_setting_is_refused_in_one_line() {
    let (code, err) = mawid(&[
        ("DATABASE_URL", DEAD_DB),
        ("MAWID_JWT_SECRET", SECRET),
        ("MAWID_MAIL_WORKERS", "65"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("MAWID_MAIL_WORKERS must be a whole number from 1 to 64, got 65"),
        "{err}"
    );
}

/// Runs `mawid migrate` and `mawid seed` on a fresh database of the server in DATABASE_URL
/// (set by scripts/test.sh), through the same connection code the server uses to serve.
#[test]
fn migrate_and_seed_succeed_on_a_live_database() {
    let Ok(base) = std::env::var("DATABASE_URL") else {
        panic!("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)");
    };
    let name = format!("mawid_startup_{}", std::process::id());
    let admin = |sql: String| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
            sqlx::query(&sql).execute(&mut conn).await.unwrap();
        });
    };
    admin(format!("DROP DATABASE IF EXISTS {name}"));
    admin(format!("CREATE DATABASE {name}"));
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => panic!("unexpected DATABASE_URL shape"),
    };
    for cmd in ["migrate", "seed"] {
        let out = Command::new(env!("CARGO_BIN_EXE_mawid"))
            .arg(cmd)
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("MAWID_JWT_SECRET", SECRET)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mawid {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    admin(format!("DROP DATABASE {name}"));
}
