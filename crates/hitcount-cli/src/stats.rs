//! `hitcount stats`: the most viewed objects, as a table or JSON.

use std::process::ExitCode;

use hitcount::{HitCounter, Window};

use crate::Failure;

/// Options of `hitcount stats`.
#[derive(clap::Args)]
pub struct Args {
    /// Rank by hits within this window ("days=7", "24 hours") instead of
    /// by total hits.
    #[arg(long, value_parser = Window::parse_duration)]
    within: Option<Window>,
    /// Only objects of this kind (e.g. blog.post).
    #[arg(long)]
    kind: Option<String>,
    /// How many objects (1 to 1000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// Print JSON: [{"rank", "kind", "id", "pk", "hits"}].
    #[arg(long)]
    json: bool,
}

pub async fn run(counter: &HitCounter, args: &Args) -> Result<ExitCode, Failure> {
    let ranked = counter
        .most_viewed(args.kind.as_deref(), args.within, args.limit)
        .await
        .map_err(|e| e.to_string())?;
    if args.json {
        let rows: Vec<_> = ranked
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({
                    "rank": i + 1, "kind": r.object.kind(), "id": r.object.id(), "pk": r.pk, "hits": r.hits,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    let heading = match args.within {
        Some(window) => format!("hits within {window}"),
        None => "total hits".to_owned(),
    };
    let rows: Vec<[String; 3]> = ranked
        .iter()
        .enumerate()
        .map(|(i, r)| [(i + 1).to_string(), r.object.to_string(), r.hits.to_string()])
        .collect();
    let header = ["rank".to_owned(), "object".to_owned(), heading];
    let widths: Vec<usize> = (0..3)
        .map(|c| {
            rows.iter()
                .chain([&header])
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        println!(
            "{:>w0$}  {:<w1$}  {:>w2$}",
            row[0],
            row[1],
            row[2],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    if rows.is_empty() {
        println!("(no hits)");
    }
    Ok(ExitCode::SUCCESS)
}
