//! `hitcount stats`: the most viewed objects, in total, within a window or
//! over days, with their views and bot hits, as a table or JSON.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::process::ExitCode;

use hitcount::{HitCounter, ObjectRef, Window};

use crate::days::Days;
use crate::Failure;

/// Options of `hitcount stats`.
#[derive(clap::Args)]
pub struct Args {
    /// Rank by hits within this window up to now ("days=7", "24 hours")
    /// instead of by total hits.
    #[arg(long, value_parser = window, conflicts_with_all = ["since", "until"])]
    within: Option<Window>,
    // Rank by hits on these days (UTC), from the daily buckets.
    #[command(flatten)]
    days: Days,
    /// Only objects of this kind (e.g. blog.post).
    #[arg(long)]
    kind: Option<String>,
    /// How many objects (1 to 1000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// Print JSON: [{"rank", "kind", "id", "pk", "hits", "views", "bot_hits"}].
    #[arg(long)]
    json: bool,
}

/// A window to rank by: one of no time would rank nothing.
fn window(text: &str) -> Result<Window, String> {
    let window = Window::parse_duration(text).map_err(|e| e.to_string())?;
    if window.as_secs() == 0 {
        return Err("a window of no time holds no hits: give a length, such as \"7 days\"".into());
    }
    Ok(window)
}

/// An object's hits, views and bot hits over the days asked for.
#[derive(Clone, Copy, Default)]
struct Sums {
    hits: i64,
    views: i64,
    bot_hits: i64,
}

/// One line of the ranking.
struct Row {
    object: ObjectRef,
    pk: i64,
    hits: i64,
    views: i64,
    bot_hits: i64,
}

pub async fn run(counter: &HitCounter, args: &Args) -> Result<ExitCode, Failure> {
    let days = args.days.checked()?;
    let kind = args.kind.as_deref();
    // The objects, by hits, with their hits.
    // Over days, the days' views and bot hits; otherwise the totals'.
    let ranked: Vec<(ObjectRef, Sums)> = if days.is_set() {
        by_days(counter, kind, days, args.limit).await?
    } else {
        counter
            .most_viewed(kind, args.within, args.limit)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| {
                (
                    r.object,
                    Sums {
                        hits: r.hits,
                        ..Sums::default()
                    },
                )
            })
            .collect()
    };
    let objects: Vec<ObjectRef> = ranked.iter().map(|(object, _)| object.clone()).collect();
    let mut totals = counter.counts_many(&objects).await.map_err(|e| e.to_string())?;
    let rows: Vec<Row> = ranked
        .into_iter()
        .map(|(object, sums)| {
            let counts = totals.remove(&object).unwrap_or_default();
            let (views, bot_hits) = match days.is_set() {
                true => (sums.views, sums.bot_hits),
                false => (counts.views, counts.bot_hits),
            };
            Row {
                pk: counts.pk.unwrap_or_default(),
                hits: sums.hits,
                views,
                bot_hits,
                object,
            }
        })
        .collect();

    if args.json {
        let rows: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({
                    "rank": i + 1, "kind": r.object.kind(), "id": r.object.id(), "pk": r.pk,
                    "hits": r.hits, "views": r.views, "bot_hits": r.bot_hits,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    let heading = match args.within {
        Some(window) => format!("hits within {window}"),
        None if days.is_set() => format!("hits {}", days.describe()),
        None => "total hits".to_owned(),
    };
    let header = [
        "rank".to_owned(),
        "object".to_owned(),
        heading,
        match days.is_set() {
            true => format!("views {}", days.describe()),
            false => "total views".to_owned(),
        },
        match days.is_set() {
            true => format!("bot hits {}", days.describe()),
            false => "total bot hits".to_owned(),
        },
    ];
    let lines: Vec<[String; 5]> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            [
                (i + 1).to_string(),
                r.object.to_string(),
                r.hits.to_string(),
                r.views.to_string(),
                r.bot_hits.to_string(),
            ]
        })
        .collect();
    print_table(&header, &lines);
    if lines.is_empty() {
        println!("(no hits)");
    }
    Ok(ExitCode::SUCCESS)
}

/// The `limit` objects with the most hits on `days`, from the daily
/// buckets; ties go to the older object, as in `most_viewed`.
async fn by_days(
    counter: &HitCounter,
    kind: Option<&str>,
    days: Days,
    limit: u32,
) -> Result<Vec<(ObjectRef, Sums)>, Failure> {
    // The buckets come by object (oldest first) and day.
    let mut summed: Vec<(ObjectRef, Sums)> = Vec::new();
    let mut index: HashMap<ObjectRef, usize> = HashMap::new();
    counter
        .each_day(kind, days.since, |object, day| {
            if days.contains(day.day) {
                let at = *index.entry(object.clone()).or_insert_with(|| {
                    summed.push((object.clone(), Sums::default()));
                    summed.len() - 1
                });
                let sums = &mut summed[at].1;
                sums.hits += day.hits;
                sums.views += day.views;
                sums.bot_hits += day.bot_hits;
            }
            ControlFlow::Continue(())
        })
        .await
        .map_err(|e| e.to_string())?;
    // Ranked by hits: an object with none on these days is not listed.
    summed.retain(|(_, sums)| sums.hits > 0);
    // Stable: equal hits keep the older object first.
    summed.sort_by_key(|(_, sums)| std::cmp::Reverse(sums.hits));
    summed.truncate(limit as usize);
    Ok(summed)
}

/// The rows under their header: the object left-aligned, numbers right.
fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|c| {
            rows.iter()
                .chain([header])
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [header].into_iter().chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| match c {
                1 => format!("{cell:<w$}", w = widths[c]),
                _ => format!("{cell:>w$}", w = widths[c]),
            })
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
