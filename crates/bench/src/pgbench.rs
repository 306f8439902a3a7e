//! pgbench running the booking transaction's statements directly, as the server sends them:
//! citizen lock, the offer with the account and its no-shows (office, service, schedule,
//! closures and user in one read), identity lock, fair-use counts, the desk claim (free desk and
//! insert in one statement), and the confirmation, reminder and webhook rows in one statement. Its throughput shows how
//! much of the gap to the ceiling (`ceiling.rs`) lies in the transaction rather than in HTTP.

use std::process::Command;

use anyhow::Context;

use crate::seed::{sql_id, SERVICE_ID};
use crate::{CAPACITY, OFFICES};

fn pgbench_binary() -> String {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|d| std::path::Path::new(d).join("pgbench").exists());
    match from_config {
        Some(dir) => format!("{dir}/pgbench"),
        None => "pgbench".into(),
    }
}

/// The transaction for citizens `fresh.0..=fresh.1` (those holding no future booking).
fn script(fresh: (i64, i64)) -> String {
    let citizen = sql_id("8000", ":c");
    let office = sql_id("9000", ":o");
    let svc = format!("'{SERVICE_ID}'::uuid");
    // The slot's local start, converted with the office's zone as the server does.
    let slot = format!(
        "(((current_date + :day::int)::timestamp + CASE WHEN :idx::int < 16 THEN time '09:00' + :idx::int * interval '15 minutes'
               ELSE time '14:00' + (:idx::int - 16) * interval '15 minutes' END) AT TIME ZONE (SELECT timezone FROM offices WHERE id = {office}))"
    );
    let appt = "md5('pgb' || :r::bigint::text)::uuid";
    format!(
        r#"\set o random(1, {OFFICES})
\set c random({first}, {citizens})
\set day random(2, 56)
\set idx random(0, 19)
\set r random(1, 9000000000000000)
BEGIN;
SELECT pg_advisory_xact_lock(1, hashtext({citizen}::text));
SELECT (SELECT to_jsonb(o) FROM (SELECT id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone, active FROM offices WHERE id = {office}) o) AS office, (SELECT to_jsonb(s) FROM (SELECT id, code, name_ar, name_ru, name_en, duration_minutes, required_documents, fee_amount::text AS fee_amount, fee_currency, min_notice_hours, max_advance_days, creates_document_request, active, release_cooldown_minutes, confirmation_required, confirm_from_hours, confirm_until_hours, max_reschedules FROM services WHERE id = {svc}) s) AS service, (SELECT to_jsonb(c) FROM (SELECT office_id, service_id, capacity, reserved_capacity, weekly, updated_at FROM schedules WHERE office_id = {office} AND service_id = {svc}) c) AS schedule, ARRAY(SELECT day FROM closures WHERE office_id = {office} AND day BETWEEN current_date + :day::int - 1 AND current_date + :day::int + 1) AS closed, (SELECT to_jsonb(c) FROM (SELECT id, email, password_hash, full_name, preferred_language, phone, role, email_verified_at, created_at, passport_number, national_number, deactivated_at, no_shows_since(u.id, now() - interval '90 days') AS no_shows FROM users u WHERE u.id = {citizen}) c) AS citizen;
SELECT pg_advisory_xact_lock(2, hashtext({svc}::text || (:c)::text));
SELECT count(*) FILTER (WHERE citizen_id = {citizen}), count(*) FILTER (WHERE citizen_id = {citizen} AND service_id = {svc}), count(*) FILTER (WHERE service_id = {svc} AND (passport_number = 'BN' || lpad((:c)::text, 8, '0') OR national_number = NULL)) FROM appointments WHERE status = 'booked' AND slot_start > now() AND (citizen_id = {citizen} OR (service_id = {svc} AND (passport_number = 'BN' || lpad((:c)::text, 8, '0') OR national_number = NULL)));
WITH free AS (SELECT free_desk({office}, {svc}, {slot}, {CAPACITY}, now(), false, true) AS d), inserted AS (INSERT INTO appointments (id, reference, citizen_id, office_id, service_id, slot_start, slot_end, desk_no, applicant_name, applicant_relation, passport_number, national_number, status, sequence, created_at, updated_at) SELECT {appt}, 'PGB-' || :r::bigint::text, {citizen}, {office}, {svc}, {slot}, {slot} + interval '15 minutes', free.d, 'Bench Citizen', 'self', 'BN' || lpad((:c)::text, 8, '0'), NULL, 'booked', 0, now(), now() FROM free WHERE free.d IS NOT NULL ON CONFLICT DO NOTHING RETURNING id) SELECT EXISTS (SELECT 1 FROM free WHERE d IS NOT NULL) AS free, EXISTS (SELECT 1 FROM inserted) AS inserted;
WITH mail AS (INSERT INTO notifications (id, user_id, recipient, language, kind, payload, next_attempt_at, dedupe_key) SELECT * FROM (VALUES (gen_random_uuid(), {citizen}, 'bench@bench.test', 'en', 'appointment_booked', jsonb_build_object('full_name', 'Bench Citizen', 'appointment_id', {appt}, 'reference', 'PGB-' || :r::bigint::text, 'sequence', 0, 'start', now(), 'end', now(), 'timezone', 'Europe/Moscow', 'office', jsonb_build_object('code', 'MOW', 'name', jsonb_build_object('ar', 'x', 'ru', 'x', 'en', 'x'), 'address', jsonb_build_object('ar', 'x', 'ru', 'x', 'en', 'x')), 'service', jsonb_build_object('code', 'bench-visit', 'name', jsonb_build_object('ar', 'x', 'ru', 'x', 'en', 'x'), 'required_documents', '[]'::jsonb, 'fee_amount', '0.00', 'fee_currency', 'USD'), 'applicant_name', 'Bench Citizen'), now(), NULL), (gen_random_uuid(), {citizen}, 'bench@bench.test', 'en', 'appointment_reminder', '{{}}'::jsonb, now() + interval '1 day', 'reminder:' || {appt})) n WHERE EXISTS (SELECT 1 FROM appointments WHERE id = {appt}) ON CONFLICT (dedupe_key) DO UPDATE SET status = 'pending' WHERE notifications.status = 'cancelled' RETURNING id), hooks AS (INSERT INTO webhook_deliveries (id, webhook_id, event, payload, next_attempt_at, created_at) SELECT gen_random_uuid(), w.id, 'appointment.booked', '{{}}'::jsonb, now(), now() FROM webhooks w WHERE 'appointment.booked' = ANY (w.events)) SELECT count(*) FROM mail;
COMMIT;
"#,
        first = fresh.0,
        citizens = fresh.1,
    )
}

/// Runs the script for `seconds` with `clients` connections, booking as the `fresh` citizens;
/// returns transactions per second.
pub fn run(db_url: &str, clients: usize, seconds: u64, fresh: (i64, i64)) -> anyhow::Result<f64> {
    run_script(db_url, &script(fresh), clients, seconds)
}

/// pgbench in prepared mode with `script` for `seconds` with `clients` connections; returns its tps.
pub fn run_script(db_url: &str, script: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let path = std::env::temp_dir().join(format!("mawid-bench-{}.sql", std::process::id()));
    std::fs::write(&path, script)?;
    let out = Command::new(pgbench_binary())
        // Prepared statements, as sqlx sends them: the simple protocol would re-plan every statement.
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&path)
        .arg(db_url)
        .output()
        .context("running pgbench (PostgreSQL's client tools)")?;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {stdout}"))
}
