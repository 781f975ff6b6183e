//! The public transparency report on dataset access: reading it (and
//! checking its shape), its months and pairs, and moving this month's
//! activity into last month so a test can read it.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::app::TestApp;

pub const REPORT: &str = "/api/v1/transparency/access-report";

pub fn report_path(from: &str, to: &str) -> String {
    format!("{REPORT}?from={from}&to={to}")
}

/// `YYYY-MM` of the month `delta` months from the current one (UTC).
pub fn month(delta: i32) -> String {
    let first = Utc::now().date_naive().with_day(1).unwrap();
    let m = if delta >= 0 {
        first + Months::new(delta.unsigned_abs())
    } else {
        first - Months::new(delta.unsigned_abs())
    };
    m.format("%Y-%m").to_string()
}

fn first_day(month: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .unwrap_or_else(|_| panic!("a month as YYYY-MM: {month}"))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// `GET {REPORT}{query}` anonymously (200), checking its shape: every month
/// from `from` to `to` once, oldest first, and no totals. The report and its
/// text.
pub async fn report_at(app: &TestApp, query: &str) -> (Value, String) {
    let res = app.get(&format!("{REPORT}{query}")).await;
    assert_eq!(res.status(), 200, "{query}");
    assert_eq!(
        res.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        keys(&body),
        vec!["from", "months", "suppressed_below", "to"],
        "no totals: {body}"
    );
    assert_eq!(body["suppressed_below"], 5);
    let months = body["months"].as_array().unwrap();
    let (from, to) = (
        first_day(body["from"].as_str().unwrap()),
        first_day(body["to"].as_str().unwrap()),
    );
    let mut expected = from;
    for m in months {
        assert_eq!(
            keys(m),
            vec!["median_hours_to_decision", "month", "pairs"],
            "{m}"
        );
        assert_eq!(
            m["month"],
            expected.format("%Y-%m").to_string(),
            "one entry per month, oldest first: {body}"
        );
        expected = expected + Months::new(1);
    }
    assert_eq!(expected, to + Months::new(1), "up to `to`: {body}");
    (body, text)
}

/// The report over `from`..=`to`.
pub async fn report(app: &TestApp, from: &str, to: &str) -> (Value, String) {
    let (body, text) = report_at(app, &format!("?from={from}&to={to}")).await;
    assert_eq!(body["from"], from);
    assert_eq!(body["to"], to);
    (body, text)
}

/// Last month's figures, and the report's text: the newest month a report
/// covers (only months that have ended).
pub async fn last_month(app: &TestApp) -> (Value, String) {
    let last = month(-1);
    let (body, text) = report(app, &last, &last).await;
    (body["months"][0].clone(), text)
}

/// Noon on the 15th of `month` (`YYYY-MM`).
pub fn mid_month(month: &str) -> NaiveDateTime {
    first_day(month)
        .with_day(15)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
}

/// `at`, one calendar month earlier (on the last day of the month when it
/// has no such day).
pub fn a_month_before(at: NaiveDateTime) -> NaiveDateTime {
    at.checked_sub_months(Months::new(1)).unwrap()
}

/// Moves what happened in dataset access this month (UTC) one calendar
/// month back, into last month: requests made and decided, file links
/// issued. What already lies in an earlier month stays where it is, so the
/// times between a request and its decision do not change. The report
/// covers only months that have ended; this lets a test read what it just
/// did there.
pub async fn into_last_month(app: &TestApp) {
    use diesel::prelude::*;
    use kujenga::db::schema::{access_requests as ar, file_links as fl};
    let start = first_day(&month(0)).and_hms_opt(0, 0, 0).unwrap();
    let back = move |at: NaiveDateTime| {
        if at >= start { a_month_before(at) } else { at }
    };
    app.db
        .run(move |conn| {
            kujenga::db::write_transaction(conn, |conn| {
                let requests: Vec<(String, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>)> =
                    ar::table
                        .select((ar::id, ar::created_at, ar::updated_at, ar::decided_at))
                        .load(conn)?;
                for (id, created, updated, decided) in requests {
                    diesel::update(ar::table.find(id))
                        .set((
                            ar::created_at.eq(back(created)),
                            ar::updated_at.eq(back(updated)),
                            ar::decided_at.eq(decided.map(back)),
                        ))
                        .execute(conn)?;
                }
                let links: Vec<(String, NaiveDateTime)> =
                    fl::table.select((fl::id, fl::issued_at)).load(conn)?;
                for (id, issued) in links {
                    diesel::update(fl::table.find(id))
                        .set(fl::issued_at.eq(back(issued)))
                        .execute(conn)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
        })
        .await
        .unwrap();
}

/// Month `m` of a report.
pub fn month_in(report: &Value, m: &str) -> Value {
    report["months"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["month"] == m)
        .unwrap_or_else(|| panic!("{m} in {report}"))
        .clone()
}

/// The figures of one (origin, requester country) pair in a month.
pub fn pair(month: &Value, origin: Option<&str>, to: Option<&str>) -> Value {
    let found: Vec<&Value> = month["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["origin_country"] == json!(origin) && p["requester_country"] == json!(to))
        .collect();
    assert_eq!(found.len(), 1, "{origin:?} → {to:?} once: {month}");
    let mut p = found[0].clone();
    let o = p.as_object_mut().unwrap();
    o.remove("origin_country");
    o.remove("requester_country");
    p
}

pub fn figures(requests: Value, approvals: Value, rejections: Value, links_issued: Value) -> Value {
    json!({"requests": requests, "approvals": approvals, "rejections": rejections,
           "links_issued": links_issued})
}
