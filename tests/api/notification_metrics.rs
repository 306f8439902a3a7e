//! Delivery counters. The global metrics recorder counts every test's mail, so this test reads a
//! recorder of its own, set for its thread while its delivery runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sqlx::PgPool;

use crate::helpers::{smtp_mailer, SmtpSink, TestApp};

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

/// `inner` with `recorder` as the thread's recorder during each poll: the metrics it emits while
/// it runs go there, those of other tests on other threads do not.
struct Recorded<'r, F> {
    recorder: &'r DebuggingRecorder,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Recorded<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        metrics::with_local_recorder(this.recorder, || this.inner.as_mut().poll(cx))
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn sent_mail_and_failed_attempts_are_counted_by_kind(pool: PgPool) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();

    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    sink.answer_data_with(&[451]);
    let mailer = smtp_mailer(&sink.url());
    app.register("a@example.test", "en").await;
    app.register("b@example.test", "ar").await;
    Recorded {
        recorder: &recorder,
        inner: Box::pin(app.deliver_with(&mailer)),
    }
    .await;

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
