//! `hitcount export`: totals or daily buckets as CSV or JSON, written row
//! by row as they stream from the database, to stdout or a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use hitcount::HitCounter;

use crate::Failure;

/// What to export.
#[derive(Clone, Copy, clap::ValueEnum)]
enum What {
    /// Each object's totals: hits, views, bot hits.
    Totals,
    /// Each object's hits per day (UTC), from the daily buckets.
    Daily,
}

/// The output format.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    Csv,
    Json,
}

/// Options of `hitcount export`.
#[derive(clap::Args)]
pub struct Args {
    /// totals or daily.
    #[arg(value_enum, default_value = "totals")]
    what: What,
    /// csv or json (an array of objects).
    #[arg(long, value_enum, default_value = "csv")]
    format: Output,
    /// Daily buckets from this day on (YYYY-MM-DD).
    #[arg(long, value_parser = day)]
    since: Option<NaiveDate>,
    /// Only objects of this kind (e.g. blog.post).
    #[arg(long)]
    kind: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("expected a day like 2026-11-22, got {text:?}"))
}

/// One row's fields, in the order of the CSV header.
type Fields = Vec<(&'static str, serde_json::Value)>;

/// Writes rows as CSV or as a JSON array, remembering the first write
/// error (the export stops there).
struct Writer<W: Write> {
    out: W,
    format: Output,
    rows: u64,
    error: Option<io::Error>,
}

impl<W: Write> Writer<W> {
    fn row(&mut self, fields: Fields) -> ControlFlow<()> {
        let written = self.write(&fields);
        self.rows += 1;
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }

    fn write(&mut self, fields: &Fields) -> io::Result<()> {
        match self.format {
            Output::Csv => {
                if self.rows == 0 {
                    let names: Vec<_> = fields.iter().map(|(name, _)| *name).collect();
                    writeln!(self.out, "{}", names.join(","))?;
                }
                let values: Vec<_> = fields.iter().map(|(_, value)| csv_field(value)).collect();
                writeln!(self.out, "{}", values.join(","))
            }
            Output::Json => {
                let object: serde_json::Map<_, _> =
                    fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
                let separator = if self.rows == 0 { "[\n" } else { ",\n" };
                write!(self.out, "{separator}{}", serde_json::Value::Object(object))
            }
        }
    }

    fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Output::Json = self.format {
            let close = if self.rows == 0 { "[]\n" } else { "\n]\n" };
            self.out.write_all(close.as_bytes())?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub async fn run(counter: &HitCounter, args: &Args) -> Result<ExitCode, Failure> {
    if let (What::Totals, Some(_)) = (args.what, args.since) {
        return Err("--since applies to daily buckets: hitcount export daily --since ...".into());
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let mut writer = Writer {
        out: BufWriter::new(out),
        format: args.format,
        rows: 0,
        error: None,
    };
    let kind = args.kind.as_deref();
    let read = match args.what {
        What::Totals => {
            counter
                .each_total(kind, |object, counts| {
                    writer.row(vec![
                        ("kind", object.kind().into()),
                        ("id", object.id().into()),
                        ("hits", counts.hits.into()),
                        ("views", counts.views.into()),
                        ("bot_hits", counts.bot_hits.into()),
                    ])
                })
                .await
        }
        What::Daily => {
            counter
                .each_day(kind, args.since, |object, day, hits| {
                    writer.row(vec![
                        ("kind", object.kind().into()),
                        ("id", object.id().into()),
                        ("day", day.to_string().into()),
                        ("hits", hits.into()),
                    ])
                })
                .await
        }
    };
    read.map_err(|e| e.to_string())?;
    let target = args
        .output
        .as_ref()
        .map_or("standard output".to_owned(), |p| p.display().to_string());
    let rows = writer
        .finish()
        .map_err(|e| format!("cannot write {target}: {e}"))?;
    if args.output.is_some() {
        eprintln!("exported {rows} rows to {target}");
    }
    Ok(ExitCode::SUCCESS)
}
