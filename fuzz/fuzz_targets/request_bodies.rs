//! Arbitrary bytes as a request body: whatever JSON they make, every string and number in it
//! goes through the domain parsers the handlers use, which must answer Ok or Invalid and never
//! panic (a panic drops the connection instead of a problem answer).
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use mawid_domain::account::{Email, FullName, Language, Password, Phone};
use mawid_domain::document::{Applicant, TrackQuery};
use mawid_domain::limit::Rate;
use mawid_domain::page::Page;
use serde_json::Value;

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out)
        }),
        _ => {}
    }
}

fn numbers(v: &Value, out: &mut Vec<i64>) {
    match v {
        Value::Number(n) => out.extend(n.as_i64()),
        Value::Array(a) => a.iter().for_each(|v| numbers(v, out)),
        Value::Object(m) => m.values().for_each(|v| numbers(v, out)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut texts = Vec::new();
    strings(&body, &mut texts);
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
    for s in &texts {
        let _ = Email::parse(s);
        let _ = FullName::parse("full_name", s);
        let _ = Phone::parse(s);
        let _ = Password::parse(s);
        let _ = Language::parse(s);
        let _ = Rate::parse(s);
        let _ = TrackQuery::parse(s, Some(s));
        let _ = Applicant::parse(s, s, Some(s), now.date_naive());
    }
    let mut ints = Vec::new();
    numbers(&body, &mut ints);
    for pair in ints.windows(2) {
        if let Ok(p) = Page::parse(Some(pair[0]), Some(pair[1])) {
            let _ = (p.offset(), p.limit());
        }
    }
});
