//! Delivery counters. A binary of its own: the metrics recorder is process-global, and here no
//! other test sends mail while the counts are read.

use mawid_notify::WorkerSettings;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sqlx::PgPool;
use support::{SmtpSink, TestApp};

/// A counter's name, labels and value.
type Counted = (String, Vec<(String, String)>, u64);

fn counter(snapshot: &[Counted], name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn sent_mail_and_failed_attempts_are_counted_by_kind(pool: PgPool) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this binary");

    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    sink.answer_data_with(&[451]);
    let mailer = TestApp::smtp_mailer(&sink.url());
    app.register("a@example.test", "en").await;
    app.register("b@example.test", "ar").await;
    app.deliver_with(&mailer, &WorkerSettings::default()).await;

    let snapshot: Vec<Counted> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(v) => Some((
                key.key().name().to_owned(),
                key.key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect(),
                v,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        counter(
            &snapshot,
            "mawid_emails_sent_total",
            &[("kind", "verify_email")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "mawid_email_failures_total",
            &[("kind", "verify_email"), ("outcome", "retry")]
        ),
        1
    );
}
